import Synchronization

/// The encoded watch line of recent revisions, shared by every watcher without selectors: an event fanned out to
/// a hundred watchers is decoded and encoded once, not a hundred times.
final class WatchEventCache: Sendable {
    private struct State {
        var lines: [Int64: [UInt8]] = [:]
        var order: [Int64] = []
    }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    func line(for revision: Int64, make: () throws -> [UInt8]) rethrows -> [UInt8] {
        if let cached = state.withLock({ $0.lines[revision] }) { return cached }
        let line = try make()
        state.withLock { s in
            guard s.lines.updateValue(line, forKey: revision) == nil else { return }
            s.order.append(revision)
            if s.order.count > capacity * 2 {
                for old in s.order.prefix(s.order.count - capacity) { s.lines[old] = nil }
                s.order.removeFirst(s.order.count - capacity)
            }
        }
        return line
    }
}
