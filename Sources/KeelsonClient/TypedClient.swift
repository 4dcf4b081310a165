import KeelsonAPI

/// The REST verbs for one built-in kind, taking and returning its typed value (`client.typed(CoreV1.Pod.self)`),
/// as client-go's typed clientsets do. Built on the dynamic `KubernetesClient`; objects stay lossless, so an update
/// of a typed object keeps every field the server sent.
public struct TypedClient<Object: KubernetesObject>: Sendable {
    public let client: any KubernetesClient

    public init(client: any KubernetesClient) {
        self.client = client
    }

    public var resource: ResourceReference {
        ResourceReference(group: Object.group, version: Object.version, resource: Object.plural, namespaced: Object.namespaced)
    }

    private func namespace(_ namespace: String?) -> String? { Object.namespaced ? namespace : nil }

    public func get(_ name: String, namespace: String? = nil) async throws -> Object {
        Object(object: try await client.get(resource, namespace: self.namespace(namespace), name: name, subresource: nil))
    }

    /// Every object (following `continue` pages).
    public func list(namespace: String? = nil, options: ListOptions = ListOptions()) async throws -> [Object] {
        try await client.listAll(resource, namespace: self.namespace(namespace), options: options).items.map(Object.init(object:))
    }

    @discardableResult
    public func create(_ object: Object) async throws -> Object {
        var body = object.object
        body["apiVersion"] = .string(Object.apiVersion)
        body["kind"] = .string(Object.kind)
        return Object(object: try await client.create(resource, namespace: namespace(object.namespace), body, subresource: nil))
    }

    @discardableResult
    public func update(_ object: Object) async throws -> Object {
        Object(object: try await client.update(resource, namespace: namespace(object.namespace), object.object, subresource: nil))
    }

    @discardableResult
    public func updateStatus(_ object: Object) async throws -> Object {
        Object(object: try await client.update(resource, namespace: namespace(object.namespace), object.object, subresource: "status"))
    }

    @discardableResult
    public func patch(_ name: String, namespace: String? = nil, _ patch: JSONValue, type: PatchType = .merge, subresource: String? = nil)
        async throws -> Object
    {
        Object(object: try await client.patch(resource, namespace: self.namespace(namespace), name: name, patch, type: type, subresource: subresource))
    }

    public func delete(_ name: String, namespace: String? = nil) async throws {
        try await client.delete(resource, namespace: self.namespace(namespace), name: name, options: nil)
    }

    /// Watch events with typed objects.
    public func watch(namespace: String? = nil, options: ListOptions) -> AsyncThrowingStream<(WatchEvent.EventType, Object), any Error> {
        let events = client.watch(resource, namespace: self.namespace(namespace), options: options)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await event in events { continuation.yield((event.type, Object(object: event.object))) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

extension KubernetesClient {
    /// The typed client of one built-in kind.
    public func typed<Object: KubernetesObject>(_ type: Object.Type) -> TypedClient<Object> {
        TypedClient(client: self)
    }
}
