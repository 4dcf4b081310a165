import Synchronization

/// What a watch has to send, taken by its writer all at once: the events that arrive while a write is in flight
/// (a group commit publishes many together) go out in the next single write — one TLS record, one system call —
/// rather than one write and flush each.
final class WatchBatchQueue<Item: Sendable>: Sendable {
    private struct State {
        var items: [Item] = []
        var waiter: CheckedContinuation<[Item], Never>?
    }

    private let state = Mutex(State())

    func push(_ item: Item) {
        let handOff: (CheckedContinuation<[Item], Never>, [Item])? = state.withLock { s in
            s.items.append(item)
            guard let waiter = s.waiter else { return nil }
            s.waiter = nil
            defer { s.items = [] }
            return (waiter, s.items)
        }
        if let (waiter, items) = handOff { waiter.resume(returning: items) }
    }

    /// Everything pushed since the last call, waiting for at least one item. One consumer only.
    func next() async -> [Item] {
        await withCheckedContinuation { continuation in
            let ready: [Item]? = state.withLock { s in
                if s.items.isEmpty {
                    s.waiter = continuation
                    return nil
                }
                defer { s.items = [] }
                return s.items
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
