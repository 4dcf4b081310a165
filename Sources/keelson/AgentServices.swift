import ArgumentParser
import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonKubelet
import KeelsonProxy
import Logging
import ServiceLifecycle

/// The node agent as services: its own containerd (unless a runtime endpoint is given), the kubelet and the
/// kubelet API. `keelson agent` runs them alone; `keelson server` beside the control plane.
enum AgentServices {
    struct Invalid: Error, CustomStringConvertible { var description: String }

    /// - Parameter clusterCIDR: the pods' network, whose traffic to service addresses the proxy does not masquerade.
    /// The kubelet API's TLS for the node's address.
    typealias ServingTLS = @Sendable (_ nodeIP: String) async throws -> KubeletServingTLS

    /// - Parameter kubeletTLS: how the kubelet's API gets its certificate; nil serves plain HTTP.
    static func make(client: any KubernetesClient, flags: AgentFlags, dataDir: String, clusterCIDR: String,
        kubeletTLS: ServingTLS?) throws -> [any Service]
    {
        raiseOpenFileLimit()
        let agentDirectory = URL(fileURLWithPath: dataDir).appendingPathComponent("agent")
        let nodeName = (flags.nodeName ?? ProcessInfo.processInfo.hostName).lowercased()
        let nodeIP = flags.nodeIp ?? NodeAddress.firstNonLoopbackIPv4() ?? "127.0.0.1"
        var configuration = Kubelet.Configuration(nodeName: nodeName, nodeIP: nodeIP, directory: agentDirectory)
        configuration.clusterDNS = flags.disableClusterDns ? [] : [flags.clusterDns]
        configuration.clusterDomain = flags.clusterDomain
        configuration.resolvConf = flags.resolvConf
        configuration.cgroupRoot = flags.cgroupRoot
        configuration.kubeletPort = flags.kubeletPort
        guard let logSize = Quantity(flags.containerLogMaxSize), logSize.value > 0, flags.containerLogMaxFiles >= 2 else {
            throw Invalid(description: "--container-log-max-size must be a size such as 10Mi, and --container-log-max-files at least 2")
        }
        configuration.containerLogMaxSize = logSize.value
        configuration.containerLogMaxFiles = flags.containerLogMaxFiles
        guard let interval = GoDuration.parse(flags.housekeepingInterval), interval >= .milliseconds(100),
              let history = GoDuration.parse(flags.statsHistoryDuration), history >= interval * 2 else {
            throw Invalid(description: "--housekeeping-interval must be a duration of at least 100ms (e.g. 1s), and --stats-history-duration at least twice that (e.g. 2m)")
        }
        configuration.housekeepingInterval = interval
        guard (0...100).contains(flags.imageGcLowThreshold), (0...100).contains(flags.imageGcHighThreshold),
              flags.imageGcLowThreshold <= flags.imageGcHighThreshold else {
            throw Invalid(description: "--image-gc-low-threshold and --image-gc-high-threshold are percentages, the low one not above the high one")
        }
        guard let minimumAge = GoDuration.parse(flags.imageMinimumGcAge), let gcPeriod = GoDuration.parse(flags.imageGcPeriod), gcPeriod > .zero else {
            throw Invalid(description: "--image-minimum-gc-age and --image-gc-period must be durations (e.g. 2m, 5m)")
        }
        configuration.imageGC.highThresholdPercent = flags.imageGcHighThreshold
        configuration.imageGC.lowThresholdPercent = flags.imageGcLowThreshold
        configuration.imageGC.minimumAge = minimumAge
        configuration.imageGCPeriod = gcPeriod
        configuration.pinnedImages = [flags.pauseImage]
        configuration.statsHistory = history
        do {
            configuration.evictionHard = try EvictionThresholds(parsing: flags.evictionHard)
        } catch {
            throw Invalid(description: "--eviction-hard: \(error)")
        }
        for label in flags.nodeLabels {
            let parts = label.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw Invalid(description: "--node-label \(label): use KEY=VALUE") }
            // Refused here rather than by the API server at registration, where the node would never come up.
            guard NodeLabels.nodeMaySet(parts[0]) else {
                throw Invalid(description: "--node-label \(label): a node may not set labels in the kubernetes.io or k8s.io domains "
                    + "other than the kubelet's own (NodeRestriction); use another prefix, or label the node with kubectl")
            }
            configuration.labels[parts[0]] = parts[1]
        }
        for taint in flags.nodeTaints {
            let parts = taint.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, ["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(parts[1]) else {
                throw Invalid(description: "--node-taint \(taint): use KEY[=VALUE]:NoSchedule|PreferNoSchedule|NoExecute")
            }
            let keyValue = parts[0].split(separator: "=", maxSplits: 1).map(String.init)
            var object: [String: JSONValue] = ["key": .string(keyValue[0]), "effect": .string(parts[1])]
            if keyValue.count == 2 { object["value"] = .string(keyValue[1]) }
            configuration.taints.append(.object(object))
        }
        for (flag, value) in [("--system-reserved", flags.systemReserved), ("--kube-reserved", flags.kubeReserved)] {
            guard let value else { continue }
            for pair in value.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, let amount = Quantity(parts[1]) else { throw Invalid(description: "\(flag) \(value): use cpu=100m,memory=100Mi") }
                configuration.reserved[parts[0]] = (configuration.reserved[parts[0]] ?? .zero) + amount
            }
        }
        var services: [any Service] = []
        let socket: String
        let supervisor: ContainerdSupervisor?
        if let endpoint = flags.containerRuntimeEndpoint {
            socket = endpoint.hasPrefix("unix://") ? String(endpoint.dropFirst("unix://".count)) : endpoint
            supervisor = nil
        } else {
            var runtimeConfiguration = ContainerdSupervisor.Configuration(agentDirectory: agentDirectory)
            runtimeConfiguration.sandboxImage = flags.pauseImage
            runtimeConfiguration.streamPort = flags.streamPort
            _ = try ContainerdSupervisor.find("containerd")
            let created = ContainerdSupervisor(configuration: runtimeConfiguration, logger: Logger(label: "keelson.containerd"))
            socket = created.socketPath
            supervisor = created
            configuration.imageFilesystem = agentDirectory.appendingPathComponent("containerd/root").path
            services.append(created)
        }
        let runtime = try CRIRuntime(socketPath: socket)
        let kubelet = Kubelet(client: client, runtime: runtime, configuration: configuration, logger: Logger(label: "keelson.kubelet")) { cidr in
            do {
                try supervisor?.writeNetworkConfig(podCIDR: cidr)
            } catch {
                Logger(label: "keelson.kubelet").error("cannot write the CNI config", metadata: ["error": "\(error)"])
            }
        }
        services.append(WaitingForRuntime(supervisor: supervisor, service: kubelet))
        var servingTLS: (@Sendable () async throws -> KubeletServingTLS)?
        if let kubeletTLS { servingTLS = { try await kubeletTLS(nodeIP) } }
        services.append(KubeletServer(kubelet: kubelet, host: nodeIP, port: flags.kubeletPort, logger: Logger(label: "keelson.kubelet-api"),
            tls: servingTLS))
        guard ["host-gw", "none"].contains(flags.flannelBackend) else {
            throw Invalid(description: "--flannel-backend must be host-gw or none, not \(flags.flannelBackend)")
        }
        guard IPv4Range(clusterCIDR) != nil else { throw Invalid(description: "--cluster-cidr must be an IPv4 CIDR, not \(clusterCIDR)") }
        var network = HostGatewayNetwork.Configuration(nodeName: nodeName, clusterCIDR: clusterCIDR)
        network.routes = flags.flannelBackend == "host-gw"
        services.append(HostGatewayNetwork(client: client, configuration: network, logger: Logger(label: "keelson.network")))
        if !flags.disableKubeProxy {
            guard let mode = ProxyMode(rawValue: flags.proxyMode) else {
                throw Invalid(description: "--proxy-mode must be iptables or nftables, not \(flags.proxyMode)")
            }
            var proxy = ProxyService.Configuration(nodeName: nodeName, clusterCIDR: clusterCIDR)
            proxy.mode = mode
            services.append(ProxyService(client: client, configuration: proxy, logger: Logger(label: "keelson.proxy")))
        }
        if !flags.disableClusterDns {
            guard IPv4Range.parse(flags.clusterDns) != nil else { throw Invalid(description: "--cluster-dns must be an IPv4 address, not \(flags.clusterDns)") }
            var dns = ClusterDNSService.Configuration(addresses: [flags.clusterDns])
            dns.domain = flags.clusterDomain
            dns.resolvConf = flags.resolvConf
            dns.addToLoopback = true
            services.append(ClusterDNSService(client: client, configuration: dns, logger: Logger(label: "keelson.dns")))
        }
        return services
    }

    /// The stats housekeeping keeps a few descriptors open per container, and the API server one per connection:
    /// the soft limit (often 1024) goes up to the hard one, as Go programs such as containerd do at start.
    static func raiseOpenFileLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = min(limit.rlim_max, 1 << 20)
        _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }
}

/// Starts a service once the agent's own containerd answers (at once with an external runtime).
struct WaitingForRuntime: Service {
    let supervisor: ContainerdSupervisor?
    let service: any Service

    func run() async throws {
        if let supervisor {
            try? await cancelWhenGracefulShutdown { try await supervisor.waitUntilReady() }
            if Task.isShuttingDownGracefully { return }
        }
        try await service.run()
    }
}

enum NodeAddress {
    /// The first IPv4 address of an interface that is up and not loopback.
    static func firstNonLoopbackIPv4() -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            let flags = Int32(entry.pointee.ifa_flags)
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  flags & Int32(IFF_UP) != 0, flags & Int32(IFF_LOOPBACK) == 0 else { continue }
            // The pods' bridge and its veths carry pod addresses, not the node's.
            let name = String(cString: entry.pointee.ifa_name)
            guard !name.hasPrefix("keelson"), !name.hasPrefix("veth"), !name.hasPrefix("cni") else { continue }
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            guard getnameinfo(address, socklen_t(MemoryLayout<sockaddr_in>.size), &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else { continue }
            return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return nil
    }
}
