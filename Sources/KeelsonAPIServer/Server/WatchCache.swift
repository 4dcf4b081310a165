import KeelsonStore
import Logging
import ServiceLifecycle
import Synchronization

/// The stored objects of the whole registry kept in memory from one watch, as kube-apiserver's watch cache: lists
/// with `resourceVersion=0` are answered from it as they are, and consistent lists once it has caught up with the
/// store's current revision, so a list costs the store one revision lookup instead of a range read.
///
/// One watch of every key (rather than one per resource) makes the cache's revision follow the store's: every
/// revision is a write under the registry, so "caught up with revision R" is known without progress requests.
final class WatchCache: Sendable {
    static let prefix = "/registry/"

    private struct State {
        var objects: [String: StoredValue] = [:]
        /// The revision the cache reflects; nil until the first listing.
        var revision: Int64?
        /// Sorted keys per listed prefix, made on a prefix's first list and kept in step afterwards.
        var indexes: [String: [String]] = [:]
        var waiters: [UInt64: (revision: Int64, continuation: CheckedContinuation<Bool, Never>)] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let store: any Store
    private let logger: Logger
    private let state = Mutex(State())
    /// How long a consistent list waits for the cache before reading the store instead.
    let catchUpTimeout: Duration

    init(store: any Store, logger: Logger, catchUpTimeout: Duration = .seconds(3)) {
        self.store = store
        self.logger = logger
        self.catchUpTimeout = catchUpTimeout
    }

    /// Lists the registry, then follows its watch; after a failure (a compaction it fell behind, a lost
    /// connection to etcd) lists again. Ends on cancellation or graceful shutdown.
    func run() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let listing = try await store.range(prefix: Self.prefix, at: nil, startAfter: nil, limit: nil)
                reset(listing.items, revision: listing.revision)
                try await cancelWhenGracefulShutdown { [self] in
                    for try await event in store.watch(prefix: Self.prefix, after: listing.revision) {
                        apply(event)
                    }
                }
            } catch is CancellationError {
                break
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                logger.debug("watch cache: listing the store again", metadata: ["error": "\(error)"])
                invalidate()
                try? await Task.sleep(for: .seconds(1))
            }
        }
        invalidate()
    }

    /// The revision the cache reflects, when it has one.
    var revision: Int64? { state.withLock { $0.revision } }

    /// The stored values under `prefix` in key order and the revision they are at, once the cache reflects at
    /// least `revision` (immediately for nil); nil when it does not within `catchUpTimeout`.
    func list(prefix: String, notOlderThan revision: Int64?) async -> (items: [StoredValue], revision: Int64)? {
        if let revision, !(await waitFor(revision)) { return nil }
        return state.withLock { s in
            guard let current = s.revision else { return nil }
            let keys: [String]
            if let index = s.indexes[prefix] {
                keys = index
            } else {
                keys = s.objects.keys.filter { $0.hasPrefix(prefix) }.sorted()
                s.indexes[prefix] = keys
            }
            return (keys.compactMap { s.objects[$0] }, current)
        }
    }

    private func reset(_ items: [StoredValue], revision: Int64) {
        let ready = state.withLock { s in
            s.objects = Dictionary(items.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last })
            s.indexes = [:]
            s.revision = revision
            return Self.takeReady(&s)
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    private func apply(_ event: StoreEvent) {
        let ready = state.withLock { s in
            let key = event.value.key
            switch event.kind {
            case .delete:
                if s.objects.removeValue(forKey: key) != nil {
                    for prefix in s.indexes.keys where key.hasPrefix(prefix) {
                        Self.remove(key, from: &s.indexes[prefix]!)
                    }
                }
            default:
                if s.objects.updateValue(event.value, forKey: key) == nil {
                    for prefix in s.indexes.keys where key.hasPrefix(prefix) {
                        Self.insert(key, into: &s.indexes[prefix]!)
                    }
                }
            }
            s.revision = max(s.revision ?? 0, event.revision)
            return Self.takeReady(&s)
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    /// Forgets everything until the next listing: a cache that may have missed events must not answer.
    private func invalidate() {
        state.withLock { s in
            s.revision = nil
            s.objects = [:]
            s.indexes = [:]
        }
    }

    /// Waits until the cache reflects `revision`, at most `catchUpTimeout`.
    private func waitFor(_ revision: Int64) async -> Bool {
        let id: UInt64? = state.withLock { s in
            if let current = s.revision, current >= revision { return nil }
            s.nextWaiter += 1
            return s.nextWaiter
        }
        guard let id else { return true }
        let timeout = catchUpTimeout
        let timer = Mutex<Task<Void, Never>?>(nil)
        defer { timer.withLock { $0?.cancel() } }
        return await withCheckedContinuation { continuation in
            let readyNow = state.withLock { s -> Bool in
                if let current = s.revision, current >= revision { return true }
                s.waiters[id] = (revision, continuation)
                return false
            }
            if readyNow {
                continuation.resume(returning: true)
                return
            }
            // Started only once the waiter is registered, so a timeout always finds it (or finds it resumed).
            timer.withLock { $0 = Task { [self] in
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
                waiter?.continuation.resume(returning: false)
            } }
        }
    }

    private static func takeReady(_ s: inout State) -> [CheckedContinuation<Bool, Never>] {
        guard let current = s.revision, !s.waiters.isEmpty else { return [] }
        var ready: [CheckedContinuation<Bool, Never>] = []
        for (id, waiter) in s.waiters where waiter.revision <= current {
            ready.append(waiter.continuation)
            s.waiters[id] = nil
        }
        return ready
    }

    private static func insert(_ key: String, into keys: inout [String]) {
        let at = insertionPoint(of: key, in: keys)
        if at == keys.count || keys[at] != key { keys.insert(key, at: at) }
    }

    private static func remove(_ key: String, from keys: inout [String]) {
        let at = insertionPoint(of: key, in: keys)
        if at < keys.count && keys[at] == key { keys.remove(at: at) }
    }

    private static func insertionPoint(of key: String, in keys: [String]) -> Int {
        var low = 0, high = keys.count
        while low < high {
            let mid = (low + high) / 2
            if keys[mid] < key { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
