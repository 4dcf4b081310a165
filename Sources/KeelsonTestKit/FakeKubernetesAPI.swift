import Foundation
import KeelsonAPI
import KeelsonClient
import NIOHTTP1
import Synchronization

/// An in-memory API behind `KubernetesClient`, for controller and scheduler unit tests: client-go's object tracker
/// with the parts of the API server's semantics controllers depend on — resourceVersion conflicts, generateName,
/// uids, `status` and `finalize` subresources, generation bumps on spec changes, finalizers holding deletes
/// (Foreground and Orphan add theirs), uid preconditions, label-selected lists, watches from a resourceVersion.
///
/// Every request is recorded in `actions`, and `failures` can make chosen requests fail, so tests assert what a
/// controller did rather than how long it took.
public final class FakeKubernetesAPI: KubernetesClient {
    public struct Action: Sendable, CustomStringConvertible, Equatable {
        public var verb: String
        public var resource: String
        public var namespace: String?
        public var name: String?
        public var subresource: String?

        public var description: String {
            [verb, resource + (subresource.map { "/\($0)" } ?? ""), namespace ?? "-", name ?? "-"].joined(separator: " ")
        }
    }

    private struct StoredEvent {
        var revision: Int
        var resource: ResourceReference
        var event: WatchEvent
    }

    private struct Watcher {
        var resource: ResourceReference
        var namespace: String?
        var selector: LabelSelector
        var continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation
    }

    private struct State {
        var objects: [ResourceReference: [String: JSONValue]] = [:]
        var revision = 1
        var log: [StoredEvent] = []
        var watchers: [Int: Watcher] = [:]
        var nextWatcher = 0
        var actions: [Action] = []
        var failure: (@Sendable (Action) -> Status?)?
        var nameCounter = 0
        var served: [DiscoveredResource] = []
    }

    /// Kinds whose main-resource writes leave `status` alone, as the API server's strategies do.
    public static let resourcesWithStatus: Set<String> = [
        "pods", "replicasets", "deployments", "statefulsets", "daemonsets", "jobs", "cronjobs", "nodes", "services",
        "namespaces", "persistentvolumeclaims", "persistentvolumes", "resourcequotas", "poddisruptionbudgets", "replicationcontrollers",
        "certificatesigningrequests",
    ]

    private let state = Mutex(State())

    public init() {}

    // MARK: Test controls

    /// Every request so far, in order.
    public var actions: [Action] { state.withLock { $0.actions } }

    public func clearActions() { state.withLock { $0.actions = [] } }

    /// The requests that changed something (everything but get, list and watch).
    public var writes: [Action] { actions.filter { !["get", "list", "watch"].contains($0.verb) } }

    /// The resources discovery lists (`/api/v1`, `/apis`, `/apis/GROUP/VERSION`), for controllers that discover.
    public func serve(_ resources: [DiscoveredResource]) { state.withLock { $0.served = resources } }

    /// Makes a request fail with the returned `Status`; nil lets it through.
    public func failWhen(_ decide: (@Sendable (Action) -> Status?)?) { state.withLock { $0.failure = decide } }

    /// Stores objects as they are (with a resourceVersion and uid if missing), notifying watchers: test setup.
    public func seed(_ resource: ResourceReference, _ objects: JSONValue...) {
        for object in objects {
            state.withLock { s in
                var object = object
                if object.uid == nil { object.uid = UUID().uuidString.lowercased() }
                if object.creationTimestamp == nil { object.setMetadataField("creationTimestamp", .string(Timestamp.format(Date()))) }
                let key = Self.key(object.namespace, object.name ?? "")
                let existed = s.objects[resource]?[key] != nil
                Self.store(&s, resource, key, object, type: existed ? .modified : .added)
            }
        }
    }

    /// The stored object, without recording an action.
    public func stored(_ resource: ResourceReference, namespace: String? = nil, name: String) -> JSONValue? {
        state.withLock { $0.objects[resource]?[Self.key(namespace, name)] }
    }

    /// Every stored object of a resource, without recording an action.
    public func stored(_ resource: ResourceReference, namespace: String? = nil) -> [JSONValue] {
        state.withLock { s in
            (s.objects[resource] ?? [:]).values.filter { namespace == nil || $0.namespace == namespace }.sorted { ($0.name ?? "") < ($1.name ?? "") }
        }
    }

    // MARK: KubernetesClient

    public func get(_ resource: ResourceReference, namespace: String?, name: String, subresource: String?) async throws -> JSONValue {
        try state.withLock { s in
            try Self.record(&s, "get", resource, namespace, name, subresource)
            guard let object = s.objects[resource]?[Self.key(namespace, name)] else { throw Self.notFound(resource, namespace, name) }
            return object
        }
    }

    public func list(_ resource: ResourceReference, namespace: String?, options: ListOptions) async throws -> ObjectList {
        try state.withLock { s in
            try Self.record(&s, "list", resource, namespace, nil, nil)
            let selector = try Self.selector(options, resource, namespace)
            let items = (s.objects[resource] ?? [:]).values
                .filter { (namespace == nil || $0.namespace == namespace) && selector.matches($0.labels) }
                .sorted { Self.key($0.namespace, $0.name ?? "") < Self.key($1.namespace, $1.name ?? "") }
            return ObjectList(items: items, resourceVersion: String(s.revision))
        }
    }

    public func create(_ resource: ResourceReference, namespace: String?, _ object: JSONValue, subresource: String?) async throws -> JSONValue {
        try state.withLock { s in
            var object = object
            if object.name == nil || object.name == "", let prefix = object.generateName {
                s.nameCounter += 1
                object.name = prefix + Self.suffix(s.nameCounter)
            }
            let name = object.name ?? ""
            try Self.record(&s, "create", resource, namespace, name, subresource)
            // A binding sets the pod's node, as the API server does; evictions are only recorded.
            if subresource == "binding", resource == .pods, var pod = s.objects[resource]?[Self.key(namespace, name)],
                let node = object["target"]?["name"]
            {
                pod.setValue(node, at: ["spec", "nodeName"])
                Self.store(&s, resource, Self.key(namespace, name), pod, type: .modified)
            }
            if subresource != nil { return object }
            guard !name.isEmpty else {
                throw APIError(status: .invalid(kind: resource.resource, group: resource.group, name: "",
                    [FieldError(.required, field: "metadata.name", detail: "name or generateName is required")]), method: "POST", path: resource.path(namespace: namespace))
            }
            let key = Self.key(namespace, name)
            if s.objects[resource]?[key] != nil {
                throw APIError(status: .alreadyExists(resource.resource, group: resource.group, name: name), method: "POST", path: resource.path(namespace: namespace))
            }
            if let namespace { object.namespace = namespace }
            object.uid = UUID().uuidString.lowercased()
            object.setMetadataField("creationTimestamp", .string(Timestamp.format(Date())))
            object.generation = 1
            return Self.store(&s, resource, key, object, type: .added)
        }
    }

    public func update(_ resource: ResourceReference, namespace: String?, _ object: JSONValue, subresource: String?) async throws -> JSONValue {
        try state.withLock { s in
            let name = object.name ?? ""
            try Self.record(&s, "update", resource, namespace, name, subresource)
            let key = Self.key(namespace, name)
            guard let current = s.objects[resource]?[key] else { throw Self.notFound(resource, namespace, name) }
            if let rv = object.resourceVersion, !rv.isEmpty, rv != current.resourceVersion {
                throw APIError(status: .conflict(resource.resource, group: resource.group, name: name,
                    "the object has been modified; please apply your changes to the latest version and try again"),
                    method: "PUT", path: resource.path(namespace: namespace, name: name))
            }
            return try Self.write(&s, resource, key, current: current, proposed: object, subresource: subresource)
        }
    }

    public func patch(_ resource: ResourceReference, namespace: String?, name: String, _ patch: JSONValue, type: PatchType,
        subresource: String?) async throws -> JSONValue
    {
        try state.withLock { s in
            try Self.record(&s, "patch", resource, namespace, name, subresource)
            let key = Self.key(namespace, name)
            guard let current = s.objects[resource]?[key] else { throw Self.notFound(resource, namespace, name) }
            guard type != .json else {
                throw APIError(status: .badRequest("the fake API applies merge patches only"), method: "PATCH", path: resource.path())
            }
            // Strategic merge is treated as a merge patch: controllers patch metadata maps, where the two agree.
            var proposed = MergePatch.apply(patch, to: current)
            if let rv = patch["metadata"]?["resourceVersion"]?.stringValue, rv != current.resourceVersion {
                throw APIError(status: .conflict(resource.resource, group: resource.group, name: name, "the object has been modified"),
                    method: "PATCH", path: resource.path(namespace: namespace, name: name))
            }
            proposed.resourceVersion = current.resourceVersion
            return try Self.write(&s, resource, key, current: current, proposed: proposed, subresource: subresource)
        }
    }

    public func delete(_ resource: ResourceReference, namespace: String?, name: String, options: JSONValue?) async throws -> JSONValue {
        try state.withLock { s in
            try Self.record(&s, "delete", resource, namespace, name, nil)
            let key = Self.key(namespace, name)
            guard var current = s.objects[resource]?[key] else { throw Self.notFound(resource, namespace, name) }
            if let uid = options?["preconditions"]?["uid"]?.stringValue, uid != current.uid {
                throw APIError(status: .conflict(resource.resource, group: resource.group, name: name,
                    "Precondition failed: UID in precondition: \(uid), UID in object meta: \(current.uid ?? "")"),
                    method: "DELETE", path: resource.path(namespace: namespace, name: name))
            }
            switch options?["propagationPolicy"]?.stringValue {
            case "Foreground" where !current.finalizers.contains("foregroundDeletion"): current.finalizers.append("foregroundDeletion")
            case "Orphan" where !current.finalizers.contains("orphan"): current.finalizers.append("orphan")
            default: break
            }
            if current.finalizers.isEmpty {
                s.objects[resource]?[key] = nil
                return Self.append(&s, resource, current, type: .deleted)
            }
            if current.deletionTimestamp == nil { current.deletionTimestamp = Timestamp.format(Date()) }
            return Self.store(&s, resource, key, current, type: .modified)
        }
    }

    public func deleteCollection(_ resource: ResourceReference, namespace: String?, options: ListOptions) async throws -> JSONValue {
        let items = try await list(resource, namespace: namespace, options: options).items
        for item in items { _ = try? await delete(resource, namespace: item.namespace, name: item.name ?? "", options: nil) }
        return ["kind": "Status", "apiVersion": "v1", "status": "Success"]
    }

    public func raw(_ method: HTTPMethod, _ path: String, body: JSONValue?) async throws -> JSONValue {
        let served = state.withLock { $0.served }
        if method == .GET {
            if path == "/version" { return ["major": "1", "minor": "32", "gitVersion": "v1.32.0-fake"] }
            func resources(_ group: String, _ version: String) -> JSONValue {
                ["kind": "APIResourceList", "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"),
                 "resources": .array(served.filter { $0.group == group && $0.reference.version == version }.map { r in
                     ["name": .string(r.reference.resource), "kind": .string(r.kind), "namespaced": .bool(r.reference.namespaced),
                      "verbs": .array(r.verbs.sorted().map(JSONValue.string))]
                 })]
            }
            if path == "/api/v1" { return resources("", "v1") }
            if path == "/apis" {
                var versions: [String: String] = [:]
                for r in served where !r.group.isEmpty { versions[r.group] = r.reference.version }
                return ["kind": "APIGroupList", "groups": .array(versions.sorted { $0.key < $1.key }.map { group, version in
                    ["name": .string(group), "versions": [["groupVersion": .string("\(group)/\(version)"), "version": .string(version)]],
                     "preferredVersion": ["groupVersion": .string("\(group)/\(version)"), "version": .string(version)]]
                })]
            }
            let parts = path.split(separator: "/")
            if parts.count == 3, parts[0] == "apis" { return resources(String(parts[1]), String(parts[2])) }
        }
        throw APIError(status: Status(code: 404, reason: .notFound, message: "the fake API serves no raw path \(path)"),
            method: method.rawValue, path: path)
    }

    public func watch(_ resource: ResourceReference, namespace: String?, options: ListOptions) -> AsyncThrowingStream<WatchEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<WatchEvent, any Error>.makeStream()
        let id: Int? = state.withLock { s in
            do {
                try Self.record(&s, "watch", resource, namespace, nil, nil)
                let selector = try Self.selector(options, resource, namespace)
                let from = Int(options.resourceVersion ?? "") ?? s.revision
                if let oldest = s.log.first?.revision, from < oldest - 1 {
                    continuation.finish(throwing: APIError(status: .gone("too old resource version: \(from)"), method: "GET", path: resource.path()))
                    return nil
                }
                let watcher = Watcher(resource: resource, namespace: namespace, selector: selector, continuation: continuation)
                for stored in s.log where stored.revision > from && Self.wants(watcher, stored.resource, stored.event.object) {
                    continuation.yield(stored.event)
                }
                s.nextWatcher += 1
                s.watchers[s.nextWatcher] = watcher
                return s.nextWatcher
            } catch {
                continuation.finish(throwing: error)
                return nil
            }
        }
        if let id {
            continuation.onTermination = { [weak self] _ in
                _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
            }
        }
        return stream
    }

    // MARK: Semantics

    private static func write(_ s: inout State, _ resource: ResourceReference, _ key: String, current: JSONValue, proposed: JSONValue,
        subresource: String?) throws -> JSONValue
    {
        var next: JSONValue
        switch subresource {
        case "status":
            next = current
            next["status"] = proposed["status"]
        case "finalize":
            next = current
            next.setValue(proposed["spec"]?["finalizers"], at: ["spec", "finalizers"])
        case "approval" where resource.resource == "certificatesigningrequests":
            next = current
            next.setValue(proposed["status"]?["conditions"], at: ["status", "conditions"])
        case nil:
            next = proposed
            for field in ["uid", "creationTimestamp", "deletionTimestamp", "namespace", "generation"] {
                next.setMetadataField(field, current["metadata"]?[field])
            }
            if resourcesWithStatus.contains(resource.resource) { next["status"] = current["status"] }
            if next["spec"] != current["spec"] || next["template"] != current["template"] {
                next.generation = (current.generation ?? 0) + 1
            }
        default:
            throw APIError(status: Status(code: 404, reason: .notFound, message: "the fake API has no subresource \(subresource!)"),
                method: "PUT", path: resource.path())
        }
        // A namespace also waits for the `spec.finalizers` its controller releases through `finalize`.
        let namespaceHeld = resource.resource == "namespaces" && !(next["spec"]?["finalizers"]?.arrayValue ?? []).isEmpty
        if next.deletionTimestamp != nil && next.finalizers.isEmpty && !namespaceHeld {
            s.objects[resource]?[key] = nil
            return append(&s, resource, next, type: .deleted)
        }
        if next == current { return current }
        return store(&s, resource, key, next, type: .modified)
    }

    @discardableResult
    private static func store(_ s: inout State, _ resource: ResourceReference, _ key: String, _ object: JSONValue,
        type: WatchEvent.EventType) -> JSONValue
    {
        let stored = append(&s, resource, object, type: type)
        s.objects[resource, default: [:]][key] = stored
        return stored
    }

    private static func append(_ s: inout State, _ resource: ResourceReference, _ object: JSONValue, type: WatchEvent.EventType) -> JSONValue {
        s.revision += 1
        var object = object
        object.resourceVersion = String(s.revision)
        let event = WatchEvent(type: type, object: object)
        s.log.append(StoredEvent(revision: s.revision, resource: resource, event: event))
        if s.log.count > 10_000 { s.log.removeFirst(s.log.count - 10_000) }
        for watcher in s.watchers.values where wants(watcher, resource, object) { watcher.continuation.yield(event) }
        return object
    }

    private static func wants(_ watcher: Watcher, _ resource: ResourceReference, _ object: JSONValue) -> Bool {
        watcher.resource == resource && (watcher.namespace == nil || watcher.namespace == object.namespace)
            && watcher.selector.matches(object.labels)
    }

    private static func record(_ s: inout State, _ verb: String, _ resource: ResourceReference, _ namespace: String?, _ name: String?,
        _ subresource: String?) throws
    {
        let action = Action(verb: verb, resource: resource.resource, namespace: namespace, name: name, subresource: subresource)
        s.actions.append(action)
        if let status = s.failure?(action) {
            throw APIError(status: status, method: verb, path: resource.path(namespace: namespace, name: name, subresource: subresource))
        }
    }

    private static func selector(_ options: ListOptions, _ resource: ResourceReference, _ namespace: String?) throws -> LabelSelector {
        if options.fieldSelector != nil {
            throw APIError(status: .badRequest("the fake API does not filter by field"), method: "GET", path: resource.path(namespace: namespace))
        }
        do {
            return try options.labelSelector.map { try LabelSelector.parse($0) } ?? .everything
        } catch {
            throw APIError(status: .badRequest("\(error)"), method: "GET", path: resource.path(namespace: namespace))
        }
    }

    private static func notFound(_ resource: ResourceReference, _ namespace: String?, _ name: String) -> APIError {
        APIError(status: .notFound(resource.resource, group: resource.group, name: name), method: "GET",
            path: resource.path(namespace: namespace, name: name))
    }

    static func key(_ namespace: String?, _ name: String) -> String {
        namespace.map { "\($0)/\(name)" } ?? name
    }

    /// Deterministic 5-character suffixes from the API server's alphabet, so names in tests are stable.
    private static func suffix(_ n: Int) -> String {
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        var n = n
        var out = ""
        for _ in 0..<5 {
            out.append(alphabet[n % alphabet.count])
            n /= alphabet.count
        }
        return out
    }
}
