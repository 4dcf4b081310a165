import ArgumentParser
import Foundation
import KeelsonAPI
import KeelsonProxy

/// `keelson proxy`: the service proxy on its own (kube-proxy's iptables mode), or `--cleanup` to remove its rules.
struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "proxy",
        abstract: "Program Service virtual IPs and node ports into iptables from the API server's Services and EndpointSlices.")

    @Option(help: "Path to the kubeconfig naming the API server and credentials")
    var kubeconfig: String?

    @Option(help: "This node's name (endpoints on it serve the Local traffic policies)")
    var nodeName: String = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "node"

    @Option(help: "IPv4 network CIDR of the pods: traffic from outside it to a cluster IP is masqueraded")
    var clusterCidr: String = "10.42.0.0/16"

    @Option(help: "Shortest time between two syncs")
    var minSyncPeriod: String = "1s"

    @Option(help: "Time between full rewrites of the rules")
    var syncPeriod: String = "30s"

    @Option(help: "How services are programmed into the kernel: iptables (kube-proxy's iptables mode) or nftables (named maps; one change costs what the service holds)")
    var proxyMode: String = "iptables"

    @Flag(help: "Remove every rule, chain and table the proxy created (in either mode), then exit")
    var cleanup = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical")
    var logLevel: String = "warning"

    func validate() throws {
        try ComponentCommand.validateLogLevel(logLevel)
        guard IPv4Range(clusterCidr) != nil else { throw ValidationError("--cluster-cidr must be an IPv4 CIDR, not \(clusterCidr)") }
        for (flag, value) in [("--min-sync-period", minSyncPeriod), ("--sync-period", syncPeriod)] where (GoDuration.parse(value) ?? .zero) <= .zero {
            throw ValidationError("\(flag) must be a duration such as 1s, not \(value)")
        }
        guard ProxyMode(rawValue: proxyMode) != nil else { throw ValidationError("--proxy-mode must be iptables or nftables, not \(proxyMode)") }
        if !cleanup && kubeconfig == nil { throw ValidationError("--kubeconfig is needed unless --cleanup") }
    }

    func run() async throws {
        if cleanup {
            do {
                try Iptables().cleanup()
                try Nftables().cleanup()
            } catch {
                FileHandle.standardError.write(Data("keelson: \(error)\n".utf8))
                throw ExitCode(1)
            }
            return
        }
        var configuration = ProxyService.Configuration(nodeName: nodeName, clusterCIDR: clusterCidr)
        configuration.minSyncPeriod = GoDuration.parse(minSyncPeriod)!
        configuration.fullSyncPeriod = GoDuration.parse(syncPeriod)!
        configuration.mode = ProxyMode(rawValue: proxyMode)!
        try await ComponentCommand.run(kubeconfig: kubeconfig!, userAgent: "keelson-proxy", logLevel: logLevel, label: "keelson.proxy") {
            client, logger in
            ProxyService(client: client, configuration: configuration, logger: logger)
        }
    }
}
