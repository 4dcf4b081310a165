import KeelsonStore
import Logging
import ServiceLifecycle

/// Compacts the store's history on a fixed interval, keeping one interval of it, as kube-apiserver compacts etcd
/// every 5 minutes: watches can resume across short disconnects, and the history does not grow without bound.
public struct Compactor: Service {
    let store: any Store
    let interval: Duration
    let logger: Logger

    public init(store: any Store, interval: Duration = .seconds(300), logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        var previous: Int64?
        await everyInterval(interval) {
            do {
                let current = try await store.currentRevision()
                if let previous, previous > 0 {
                    try await store.compact(through: previous)
                    logger.debug("compacted", metadata: ["revision": "\(previous)"])
                }
                previous = current
            } catch {
                logger.warning("compaction failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
