import Synchronization

/// Fans committed events out to watchers, in revision order, with no gaps.
///
/// It keeps the most recent events in memory, so a watcher that starts from a recent revision is served from
/// memory and registered for live events under one lock, which makes a gap impossible. A watcher that starts from
/// an older revision replays from the store first; live events that arrive meanwhile wait in its backlog.
final class WatchHub: Sendable {
    typealias Continuation = AsyncThrowingStream<StoreEvent, any Error>.Continuation

    private struct Watcher {
        var prefix: String
        var continuation: Continuation
        /// While true, the watcher is replaying history and live events go to `backlog`.
        var replaying: Bool
        var backlog: [StoreEvent] = []
    }

    private struct State {
        var recent: [StoreEvent] = []
        var watchers: [UInt64: Watcher] = [:]
        var nextID: UInt64 = 0
        var currentRevision: Int64
        var compactedRevision: Int64
    }

    enum Start {
        /// Served from memory; the watcher is live.
        case live
        /// History in `(after, through]` must be replayed from the store before calling `finishReplay`.
        case replay(through: Int64)
        case compacted(Int64)
    }

    private let state: Mutex<State>
    private let recentCapacity: Int
    let bufferSize: Int

    init(currentRevision: Int64, compactedRevision: Int64, recentCapacity: Int = 10_000, bufferSize: Int = 10_000) {
        self.state = Mutex(State(currentRevision: currentRevision, compactedRevision: compactedRevision))
        self.recentCapacity = recentCapacity
        self.bufferSize = bufferSize
    }

    var currentRevision: Int64 { state.withLock { $0.currentRevision } }
    var compactedRevision: Int64 { state.withLock { $0.compactedRevision } }

    func setCompacted(_ revision: Int64) {
        state.withLock { $0.compactedRevision = max($0.compactedRevision, revision) }
    }

    /// Registers a watcher for changes under `prefix` after `revision`.
    func register(prefix: String, after revision: Int64, continuation: Continuation) -> (UInt64, Start) {
        state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            if revision < s.compactedRevision { return (id, .compacted(s.compactedRevision)) }
            let oldestInMemory = s.recent.first?.revision ?? (s.currentRevision + 1)
            if revision >= s.currentRevision || oldestInMemory <= revision + 1 {
                var watcher = Watcher(prefix: prefix, continuation: continuation, replaying: false)
                for event in s.recent where event.revision > revision && event.value.key.hasPrefix(prefix) {
                    if !Self.deliver(event, to: &watcher, bufferFull: bufferSize) { return (id, .live) }
                }
                s.watchers[id] = watcher
                return (id, .live)
            }
            s.watchers[id] = Watcher(prefix: prefix, continuation: continuation, replaying: true)
            return (id, .replay(through: s.currentRevision))
        }
    }

    /// Ends a replay: backlogged live events are delivered and the watcher goes live.
    func finishReplay(_ id: UInt64) {
        state.withLock { s in
            guard var watcher = s.watchers[id] else { return }
            for event in watcher.backlog {
                if !Self.deliver(event, to: &watcher, bufferFull: bufferSize) {
                    s.watchers[id] = nil
                    return
                }
            }
            watcher.backlog = []
            watcher.replaying = false
            s.watchers[id] = watcher
        }
    }

    func remove(_ id: UInt64) {
        _ = state.withLock { $0.watchers.removeValue(forKey: id) }
    }

    /// Publishes committed events (in revision order) and advances the current revision.
    func publish(_ events: [StoreEvent], currentRevision: Int64) {
        state.withLock { s in
            s.currentRevision = currentRevision
            guard !events.isEmpty else { return }
            s.recent.append(contentsOf: events)
            if s.recent.count > recentCapacity * 2 {
                s.recent.removeFirst(s.recent.count - recentCapacity)
            }
            var dropped: [UInt64] = []
            for (id, var watcher) in s.watchers {
                var alive = true
                for event in events where event.value.key.hasPrefix(watcher.prefix) {
                    if watcher.replaying {
                        watcher.backlog.append(event)
                        if watcher.backlog.count > bufferSize {
                            watcher.continuation.finish(throwing: StoreError(.watcherTooSlow))
                            alive = false
                            break
                        }
                    } else if !Self.deliver(event, to: &watcher, bufferFull: bufferSize) {
                        alive = false
                        break
                    }
                }
                if alive { s.watchers[id] = watcher } else { dropped.append(id) }
            }
            for id in dropped { s.watchers[id] = nil }
        }
    }

    /// Ends every watch, for shutdown.
    func finishAll(throwing error: (any Error)? = nil) {
        state.withLock { s in
            for watcher in s.watchers.values { watcher.continuation.finish(throwing: error) }
            s.watchers = [:]
        }
    }

    private static func deliver(_ event: StoreEvent, to watcher: inout Watcher, bufferFull: Int) -> Bool {
        if case .dropped = watcher.continuation.yield(event) {
            watcher.continuation.finish(throwing: StoreError(.watcherTooSlow, message: "watcher fell more than \(bufferFull) events behind"))
            return false
        }
        return true
    }
}
