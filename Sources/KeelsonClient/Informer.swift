import KeelsonAPI
import Logging
import ServiceLifecycle
import Synchronization

/// A change the informer saw. Deletes carry the last state it knew.
public enum InformerEvent: Sendable {
    case added(JSONValue)
    case updated(old: JSONValue, new: JSONValue)
    case deleted(JSONValue)
}

/// client-go's shared informer for one resource: list, then watch from the list's resourceVersion, keeping a local
/// cache that listers read without a request; relists when the watch answers 410.
///
/// Handlers run on the informer's task and must return promptly: compute keys, enqueue, return. The cache is
/// eventually consistent with the server; per object, events arrive in order.
public final class Informer: Service, Sendable {
    public typealias Handler = @Sendable (InformerEvent) -> Void

    private struct State {
        var objects: [String: JSONValue] = [:]
        var indexTables = IndexTables()
        var handlers: [Handler] = []
        var synced = false
        var syncWaiters: [Int: CheckedContinuation<Void, any Error>] = [:]
        var nextWaiter = 0
    }

    public let resource: ResourceReference
    private let client: any KubernetesClient
    private let namespace: String?
    private let options: ListOptions
    private let logger: Logger
    private let transform: (@Sendable (JSONValue) -> JSONValue)?
    private let state = Mutex(State())

    /// Cached objects have no `metadata.managedFields` (left out while decoding, as the informers of
    /// kube-scheduler and kube-controller-manager strip them): writes built from them send none, which the server
    /// reads as "keep the recorded ownership".
    ///
    /// - Parameter transform: applied to every object before it is cached or handed to handlers (client-go's
    ///   `SetTransform`), to keep only what the informer's users read — see `metadataOnly`.
    public init(client: any KubernetesClient, resource: ResourceReference, namespace: String? = nil, options: ListOptions = ListOptions(),
        transform: (@Sendable (JSONValue) -> JSONValue)? = nil, logger: Logger)
    {
        self.client = client
        self.resource = resource
        self.namespace = namespace
        var options = options
        options.omitsManagedFields = true
        self.options = options
        self.transform = transform
        self.logger = logger
    }

    /// Keeps what a metadata-only informer (upstream's `PartialObjectMetadata`) has: identity, owners,
    /// finalizers, deletion and labels. The garbage collector watches every resource this way, so a cluster's worth of
    /// ConfigMap data is not held twice.
    public static let metadataOnly: @Sendable (JSONValue) -> JSONValue = { object in
        var metadata: [String: JSONValue] = [:]
        for field in ["name", "namespace", "uid", "resourceVersion", "ownerReferences", "finalizers", "deletionTimestamp", "labels"] {
            if let value = object["metadata"]?[field] { metadata[field] = value }
        }
        var slim: [String: JSONValue] = ["metadata": .object(metadata)]
        if let apiVersion = object["apiVersion"] { slim["apiVersion"] = apiVersion }
        if let kind = object["kind"] { slim["kind"] = kind }
        return .object(slim)
    }

    /// `namespace/name`, or `name` for cluster-scoped objects: the key of the cache and of work queues.
    public static func key(of object: JSONValue) -> String {
        if let namespace = object.namespace, !namespace.isEmpty { return "\(namespace)/\(object.name ?? "")" }
        return object.name ?? ""
    }

    public static func key(namespace: String?, name: String) -> String {
        if let namespace, !namespace.isEmpty { return "\(namespace)/\(name)" }
        return name
    }

    public static func split(key: String) -> (namespace: String?, name: String) {
        guard let slash = key.firstIndex(of: "/") else { return (nil, key) }
        return (String(key[..<slash]), String(key[key.index(after: slash)...]))
    }

    public func addHandler(_ handler: @escaping Handler) {
        state.withLock { $0.handlers.append(handler) }
    }

    // MARK: Lister

    public func get(_ key: String) -> JSONValue? { state.withLock { $0.objects[key] } }

    public func get(namespace: String?, name: String) -> JSONValue? {
        get(namespace.map { "\($0)/\(name)" } ?? name)
    }

    public func list(namespace: String? = nil) -> [JSONValue] {
        state.withLock { s in
            guard let namespace else { return Array(s.objects.values) }
            if let keys = s.indexTables.keys(index: InformerIndex.namespace.name, value: namespace) { return keys.compactMap { s.objects[$0] } }
            return s.objects.values.filter { $0.namespace == namespace }
        }
    }

    /// Adds an index; objects already cached are indexed at once.
    public func addIndex(_ index: InformerIndex) {
        state.withLock { s in s.indexTables.add(index, existing: s.objects) }
    }

    /// The cached objects found under `value` in the index `name`. Calling it for an index never added is a
    /// programming error.
    public func byIndex(_ name: String, _ value: String) -> [JSONValue] {
        state.withLock { s in
            guard let keys = s.indexTables.keys(index: name, value: value) else {
                preconditionFailure("informer for \(resource) has no index \(name)")
            }
            return keys.compactMap { s.objects[$0] }
        }
    }

    public var hasSynced: Bool { state.withLock { $0.synced } }

    /// Returns once the first list has filled the cache; throws `CancellationError` if the task is cancelled first.
    public func waitUntilSynced() async throws {
        let id = state.withLock { s -> Int in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { s -> Result<Void, any Error>? in
                    if s.synced { return .success(()) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    s.syncWaiters[id] = continuation
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.syncWaiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }

    // MARK: Loop

    public func run() async throws {
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown {
                    let list = try await self.client.listAll(self.resource, namespace: self.namespace, options: self.options)
                    self.replace(with: self.transform.map { list.items.map($0) } ?? list.items)
                    try await self.follow(from: list.resourceVersion)
                }
                backoff = .milliseconds(100)
            } catch is CancellationError {
                return
            } catch let error as APIError where error.isGone {
                logger.debug("watch expired; relisting", metadata: ["resource": "\(resource)"])
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                logger.debug("list/watch failed; retrying", metadata: ["resource": "\(resource)", "error": "\(error)"])
                let delay = backoff
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
                backoff = min(backoff * 2, .seconds(10))
            }
        }
    }

    /// Follows the watch from `resourceVersion`, resuming from the last event seen when the stream ends.
    private func follow(from resourceVersion: String) async throws {
        var last = resourceVersion
        while !Task.isCancelled {
            var watchOptions = options
            watchOptions.resourceVersion = last
            watchOptions.allowWatchBookmarks = true
            watchOptions.timeoutSeconds = 300
            for try await event in client.watch(resource, namespace: namespace, options: watchOptions) {
                if let rv = event.object.resourceVersion { last = rv }
                if let transform { apply(WatchEvent(type: event.type, object: transform(event.object))) } else { apply(event) }
            }
        }
    }

    private func replace(with items: [JSONValue]) {
        let (handlers, events, waiters) = state.withLock { s -> ([Handler], [InformerEvent], [CheckedContinuation<Void, any Error>]) in
            var fresh: [String: JSONValue] = [:]
            for item in items { fresh[Self.key(of: item)] = item }
            var events: [InformerEvent] = []
            for (key, object) in fresh {
                if let old = s.objects[key] {
                    if old.resourceVersion != object.resourceVersion { events.append(.updated(old: old, new: object)) }
                } else {
                    events.append(.added(object))
                }
            }
            for (key, old) in s.objects where fresh[key] == nil { events.append(.deleted(old)) }
            s.objects = fresh
            s.indexTables.rebuild(from: fresh)
            s.synced = true
            defer { s.syncWaiters = [:] }
            return (s.handlers, events, Array(s.syncWaiters.values))
        }
        for event in events { for handler in handlers { handler(event) } }
        for waiter in waiters { waiter.resume() }
    }

    private func apply(_ event: WatchEvent) {
        let key = Self.key(of: event.object)
        let (handlers, informerEvent) = state.withLock { s -> ([Handler], InformerEvent?) in
            switch event.type {
            case .added, .modified:
                let old = s.objects.updateValue(event.object, forKey: key)
                s.indexTables.update(key: key, old: old, new: event.object)
                return (s.handlers, old.map { .updated(old: $0, new: event.object) } ?? .added(event.object))
            case .deleted:
                let old = s.objects.removeValue(forKey: key)
                s.indexTables.update(key: key, old: old, new: nil)
                return (s.handlers, .deleted(event.object))
            case .bookmark, .error:
                return (s.handlers, nil)
            }
        }
        guard let informerEvent else { return }
        for handler in handlers { handler(informerEvent) }
    }
}
