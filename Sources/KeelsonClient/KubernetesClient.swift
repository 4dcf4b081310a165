import KeelsonAPI
import NIOHTTP1
import ServiceLifecycle

/// The REST verbs every component uses, as a protocol so controllers, informers and the scheduler can be tested
/// against an in-memory API with the same semantics (`KeelsonTestKit.FakeKubernetesAPI`) instead of a server.
///
/// Errors are `APIError`s carrying the server's `Status`, whichever implementation answers.
public protocol KubernetesClient: Sendable {
    func get(_ resource: ResourceReference, namespace: String?, name: String, subresource: String?) async throws -> JSONValue
    func list(_ resource: ResourceReference, namespace: String?, options: ListOptions) async throws -> ObjectList
    @discardableResult
    func create(_ resource: ResourceReference, namespace: String?, _ object: JSONValue, subresource: String?) async throws -> JSONValue
    @discardableResult
    func update(_ resource: ResourceReference, namespace: String?, _ object: JSONValue, subresource: String?) async throws -> JSONValue
    @discardableResult
    func patch(_ resource: ResourceReference, namespace: String?, name: String, _ patch: JSONValue, type: PatchType,
        subresource: String?) async throws -> JSONValue
    @discardableResult
    func delete(_ resource: ResourceReference, namespace: String?, name: String, options: JSONValue?) async throws -> JSONValue
    @discardableResult
    func deleteCollection(_ resource: ResourceReference, namespace: String?, options: ListOptions) async throws -> JSONValue
    /// Any path, for discovery documents the verbs do not cover.
    func raw(_ method: HTTPMethod, _ path: String, body: JSONValue?) async throws -> JSONValue
    /// The events after `options.resourceVersion`, until the server ends the stream or the task is cancelled. An
    /// ERROR event (such as 410 Expired) ends the stream with an `APIError`.
    func watch(_ resource: ResourceReference, namespace: String?, options: ListOptions) -> AsyncThrowingStream<WatchEvent, any Error>
}

/// The content types of PATCH.
public enum PatchType: String, Sendable {
    case json = "application/json-patch+json"
    case merge = "application/merge-patch+json"
    case strategic = "application/strategic-merge-patch+json"
}

// The defaults a protocol cannot declare, so call sites read as they would against client-go.
extension KubernetesClient {
    public func get(_ resource: ResourceReference, namespace: String? = nil, name: String) async throws -> JSONValue {
        try await get(resource, namespace: namespace, name: name, subresource: nil)
    }

    public func list(_ resource: ResourceReference, namespace: String? = nil) async throws -> ObjectList {
        try await list(resource, namespace: namespace, options: ListOptions())
    }

    /// Every object, following `continue` tokens page by page.
    public func listAll(_ resource: ResourceReference, namespace: String? = nil, options: ListOptions = ListOptions()) async throws -> ObjectList {
        var options = options
        if options.limit == nil { options.limit = 500 }
        var items: [JSONValue] = []
        while true {
            let page = try await list(resource, namespace: namespace, options: options)
            items += page.items
            guard let next = page.continueToken else { return ObjectList(items: items, resourceVersion: page.resourceVersion) }
            options.continueToken = next
        }
    }

    @discardableResult
    public func create(_ resource: ResourceReference, namespace: String? = nil, _ object: JSONValue) async throws -> JSONValue {
        try await create(resource, namespace: namespace, object, subresource: nil)
    }

    @discardableResult
    public func update(_ resource: ResourceReference, namespace: String? = nil, _ object: JSONValue) async throws -> JSONValue {
        try await update(resource, namespace: namespace, object, subresource: nil)
    }

    @discardableResult
    public func updateStatus(_ resource: ResourceReference, namespace: String? = nil, _ object: JSONValue) async throws -> JSONValue {
        try await update(resource, namespace: namespace, object, subresource: "status")
    }

    @discardableResult
    public func patch(_ resource: ResourceReference, namespace: String? = nil, name: String, _ patch: JSONValue,
        type: PatchType = .merge) async throws -> JSONValue
    {
        try await self.patch(resource, namespace: namespace, name: name, patch, type: type, subresource: nil)
    }

    @discardableResult
    public func delete(_ resource: ResourceReference, namespace: String? = nil, name: String) async throws -> JSONValue {
        try await delete(resource, namespace: namespace, name: name, options: nil)
    }

    /// Deletes with a precondition on the uid, so a recreated object of the same name is never hit by mistake.
    @discardableResult
    public func delete(_ resource: ResourceReference, namespace: String? = nil, name: String, uid: String,
        propagationPolicy: String? = nil) async throws -> JSONValue
    {
        var options: JSONValue = ["apiVersion": "v1", "kind": "DeleteOptions", "preconditions": ["uid": .string(uid)]]
        if let propagationPolicy { options["propagationPolicy"] = .string(propagationPolicy) }
        return try await delete(resource, namespace: namespace, name: name, options: options)
    }

    @discardableResult
    public func deleteCollection(_ resource: ResourceReference, namespace: String? = nil) async throws -> JSONValue {
        try await deleteCollection(resource, namespace: namespace, options: ListOptions())
    }

    public func raw(_ method: HTTPMethod, _ path: String) async throws -> JSONValue {
        try await raw(method, path, body: nil)
    }
}

extension KubernetesClient {
    /// Waits until the API server answers `/version`, retrying with back-off (20 ms doubling to 1 s): components
    /// started beside the server come up before it listens. Throws `CancellationError` if cancelled or shut down first.
    public func waitUntilReachable() async throws {
        var delay = Duration.milliseconds(20)
        while true {
            do {
                _ = try await raw(.GET, "/version")
                return
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { throw CancellationError() }
                let wait = delay
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                delay = min(delay * 2, .seconds(1))
            }
        }
    }
}
