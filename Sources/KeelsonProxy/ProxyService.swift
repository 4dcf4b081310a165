import KeelsonAPI
import KeelsonClient
import Logging
import ServiceLifecycle
import Synchronization

/// `keelson proxy`: watches Services and EndpointSlices and keeps the kernel's rules (iptables or nftables) in line,
/// as kube-proxy does:
/// changes are coalesced (at most one sync per `minSyncPeriod`), each sync rewrites only the services that
/// changed, and every `fullSyncPeriod` everything is rewritten.
public struct ProxyService: Service {
    public struct Configuration: Sendable {
        public var nodeName: String
        public var clusterCIDR: String
        public var minSyncPeriod: Duration = .seconds(1)
        public var fullSyncPeriod: Duration = .seconds(30)
        public var mode: ProxyMode = .iptables

        public init(nodeName: String, clusterCIDR: String) {
            self.nodeName = nodeName
            self.clusterCIDR = clusterCIDR
        }
    }

    let client: any KubernetesClient
    let configuration: Configuration
    let proxier: any ServiceProxier
    let logger: Logger

    public init(client: any KubernetesClient, configuration: Configuration, iptables: Iptables = Iptables(),
                nftables: Nftables = Nftables(), logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.proxier = switch configuration.mode {
        case .iptables: IptablesProxier(iptables: iptables, options: .init(clusterCIDR: configuration.clusterCIDR))
        case .nftables: NftablesProxier(nftables: nftables, options: .init(clusterCIDR: configuration.clusterCIDR))
        }
        self.logger = logger
    }

    public func run() async throws {
        let services = Informer(client: client, resource: .services, logger: logger)
        let slices = Informer(client: client, resource: .endpointSlices, logger: logger)
        let lastFull = Mutex<ContinuousClock.Instant?>(nil)
        try await InformerSync.run([services, slices], minInterval: configuration.minSyncPeriod, resyncEvery: configuration.fullSyncPeriod) {
            let full = lastFull.withLock { last in last.map { ContinuousClock.now - $0 >= configuration.fullSyncPeriod } ?? true }
            let snapshot = ServiceSnapshot.build(services: services.list(), slices: slices.list(), nodeName: configuration.nodeName)
            do {
                let result = try await proxier.sync(snapshot, full: full)
                if full { lastFull.withLock { $0 = .now } }
                logger.debug("rules synced", metadata: ["mode": "\(configuration.mode.rawValue)", "services": "\(snapshot.count)", "changed": "\(result.changedServices)",
                    "rules": "\(result.rules)", "duration": "\(result.duration)"])
                return nil
            } catch {
                logger.warning("proxy sync failed; retrying", metadata: ["error": "\(error)"])
                return .zero
            }
        }
    }
}
