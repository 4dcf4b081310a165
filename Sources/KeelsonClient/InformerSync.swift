import ServiceLifecycle

/// The loop of a component that turns whole caches into node state (iptables rules, DNS names, routes): run the
/// informers, and call `sync` once every one has its first list, then after each burst of changes. Changes during
/// a sync make one more sync, never a queue of them.
public enum InformerSync {
    /// Returns at graceful shutdown.
    /// - Parameters:
    ///   - minInterval: the shortest time between two syncs (kube-proxy's `--min-sync-period`).
    ///   - resyncEvery: a sync at least this often, changes or not.
    ///   - sync: returns how soon to sync again without a change (after a failure, say), or nil.
    public static func run(_ informers: [Informer], minInterval: Duration = .zero, resyncEvery: Duration? = nil,
                           _ sync: @escaping @Sendable () async -> Duration?) async throws {
        // A stream that holds at most one pending signal.
        let (changes, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        for informer in informers { informer.addHandler { _ in signal.yield() } }
        try await withThrowingDiscardingTaskGroup { group in
            for informer in informers { group.addTask { try await informer.run() } }
            group.addTask {
                try? await gracefulShutdown()
                signal.finish()
            }
            group.addTask {
                // Nothing is synced from half the lists.
                for informer in informers { try await informer.waitUntilSynced() }
                signal.yield()
                guard let resyncEvery else { return }
                while (try? await Task.sleep(for: resyncEvery)) != nil { signal.yield() }
            }
            var lastSync: ContinuousClock.Instant?
            for await _ in changes where informers.allSatisfy(\.hasSynced) {
                if let lastSync, ContinuousClock.now - lastSync < minInterval {
                    try? await Task.sleep(until: lastSync + minInterval)
                }
                let again = await sync()
                lastSync = .now
                if let again {
                    group.addTask {
                        try? await Task.sleep(for: again)
                        signal.yield()
                    }
                }
            }
            group.cancelAll()
        }
    }
}
