import KeelsonStore
import Logging
import ServiceLifecycle

/// Deletes keys whose time to live has run out (Events, after `--event-ttl`) on stores that do not expire keys
/// themselves. On etcd the keys' leases do it and each round costs nothing.
public struct ExpirySweeper: Service {
    let store: any Store
    let interval: Duration
    let logger: Logger

    public init(store: any Store, interval: Duration = .seconds(1), logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await everyInterval(interval) {
            do {
                let removed = try await store.removeExpired()
                if removed > 0 { logger.debug("expired keys deleted", metadata: ["count": "\(removed)"]) }
            } catch {
                logger.warning("deleting expired keys failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
