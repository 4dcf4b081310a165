import KeelsonAPI
import KeelsonClient
import Logging
import ServiceLifecycle

/// `keelson proxy`: watches Services and EndpointSlices and keeps the iptables rules in line, as kube-proxy does:
/// changes are coalesced (at most one sync per `minSyncPeriod`), each sync rewrites only the services that
/// changed, and every `fullSyncPeriod` everything is rewritten.
public struct ProxyService: Service {
    public struct Configuration: Sendable {
        public var nodeName: String
        public var clusterCIDR: String
        public var minSyncPeriod: Duration = .seconds(1)
        public var fullSyncPeriod: Duration = .seconds(30)

        public init(nodeName: String, clusterCIDR: String) {
            self.nodeName = nodeName
            self.clusterCIDR = clusterCIDR
        }
    }

    let client: any KubernetesClient
    let configuration: Configuration
    let proxier: IptablesProxier
    let logger: Logger

    public init(client: any KubernetesClient, configuration: Configuration, iptables: Iptables = Iptables(), logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.proxier = IptablesProxier(iptables: iptables, options: .init(clusterCIDR: configuration.clusterCIDR))
        self.logger = logger
    }

    public func run() async throws {
        let services = Informer(client: client, resource: .services, logger: logger)
        let slices = Informer(client: client, resource: .endpointSlices, logger: logger)
        // A stream that holds at most one pending signal: any number of changes during a sync make one more sync.
        let (changes, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        for informer in [services, slices] { informer.addHandler { _ in signal.yield() } }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await services.run() }
            group.addTask { try await slices.run() }
            group.addTask {
                try? await gracefulShutdown()
                signal.finish()
            }
            try await services.waitUntilSynced()
            try await slices.waitUntilSynced()
            signal.yield()
            group.addTask {
                // The periodic full resync, through the same signal.
                while !Task.isShuttingDownGracefully {
                    guard (try? await Task.sleep(for: configuration.fullSyncPeriod)) != nil else { return }
                    signal.yield()
                }
            }
            var lastFull = ContinuousClock.now
            var lastSync: ContinuousClock.Instant?
            for await _ in changes {
                if let lastSync, ContinuousClock.now - lastSync < configuration.minSyncPeriod {
                    try? await Task.sleep(until: lastSync + configuration.minSyncPeriod)
                }
                let full = ContinuousClock.now - lastFull >= configuration.fullSyncPeriod
                let snapshot = ServiceSnapshot.build(services: services.list(), slices: slices.list(), nodeName: configuration.nodeName)
                do {
                    let result = try await proxier.sync(snapshot, full: full)
                    if full { lastFull = ContinuousClock.now }
                    logger.debug("iptables synced", metadata: ["services": "\(snapshot.count)", "changed": "\(result.changedServices)",
                        "rules": "\(result.rules)", "duration": "\(result.duration)"])
                } catch {
                    logger.warning("iptables sync failed; retrying", metadata: ["error": "\(error)"])
                    signal.yield()
                }
                lastSync = ContinuousClock.now
            }
            group.cancelAll()
        }
    }
}
