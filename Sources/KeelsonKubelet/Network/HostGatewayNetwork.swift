import Foundation
import KeelsonAPI
import KeelsonClient
import Logging
import ServiceLifecycle

/// Pods across nodes, as flannel's host-gw backend joins them: a route to every other node's pod CIDR through
/// that node's address, so pod addresses travel unchanged between nodes on one network; and one masquerade rule
/// for what leaves the cluster network (pod to pod, also across nodes, keeps its source address, as the
/// Kubernetes network model wants).
///
/// The routes carry a protocol number of their own, so that the ones Keelson installed can be told from the
/// machine's other routes after a restart: routes of nodes that went away are removed, changed ones replaced.
public struct HostGatewayNetwork: Service {
    public struct Configuration: Sendable {
        public var nodeName: String
        public var clusterCIDR: String
        /// false (`--flannel-backend=none`): only the masquerade rule; routes between nodes are someone else's.
        public var routes = true
        /// Command prefix (e.g. `nsenter --net=…`) for tests.
        public var commandPrefix: [String] = []

        public init(nodeName: String, clusterCIDR: String) {
            self.nodeName = nodeName
            self.clusterCIDR = clusterCIDR
        }
    }

    /// The `proto` of Keelson's routes in the kernel (an unassigned number in /etc/iproute2/rt_protos).
    public static let routeProtocol = "148"

    let client: any KubernetesClient
    let configuration: Configuration
    let logger: Logger

    public init(client: any KubernetesClient, configuration: Configuration, logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        try await ensureMasquerade()
        disableRedirects()
        guard configuration.routes else {
            // A service that returned would end the agent's whole service group.
            try? await gracefulShutdown()
            return
        }
        let nodes = Informer(client: client, resource: .nodes, logger: logger)
        try await InformerSync.run([nodes]) {
            do {
                try await reconcile(wanted: Self.routes(nodes: nodes.list(), except: configuration.nodeName))
                return nil
            } catch {
                logger.warning("cannot set the routes to other nodes' pods; retrying", metadata: ["error": "\(error)"])
                return .seconds(1)
            }
        }
    }

    /// Each other node's pod CIDR, through its InternalIP.
    public static func routes(nodes: [JSONValue], except nodeName: String) -> [String: String] {
        var routes: [String: String] = [:]
        for node in nodes where node.name != nodeName {
            guard let cidr = node["spec"]?["podCIDR"]?.stringValue, IPv4Range(cidr) != nil,
                  let address = (node["status"]?["addresses"]?.arrayValue ?? []).first(where: { $0["type"] == "InternalIP" })?["address"]?.stringValue,
                  IPv4Range.parse(address) != nil else { continue }
            routes[cidr] = address
        }
        return routes
    }

    func reconcile(wanted: [String: String]) async throws {
        let listed = try await run(["ip", "-4", "route", "show", "proto", Self.routeProtocol])
        var present: [String: String] = [:]
        for line in listed.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard let destination = fields.first, let via = fields.firstIndex(of: "via"), via + 1 < fields.count else { continue }
            present[destination] = fields[via + 1]
        }
        for (cidr, gateway) in wanted where present[cidr] != gateway {
            try await run(["ip", "route", "replace", cidr, "via", gateway, "proto", Self.routeProtocol])
            logger.info("route to a node's pods", metadata: ["cidr": "\(cidr)", "via": "\(gateway)"])
        }
        for cidr in present.keys where wanted[cidr] == nil {
            try await run(["ip", "route", "del", cidr, "proto", Self.routeProtocol])
        }
    }

    /// A node forwards a pod's packet for a service back out of the bridge it came in on (DNAT to a pod beside
    /// it), which by default makes it send the pod an ICMP redirect, translated back by conntrack to "for this
    /// cluster IP, go to that pod directly": the pod would then bypass the service rules for that address, to one
    /// endpoint, until the redirect expires. Routers of pods send no redirects.
    func disableRedirects() {
        let base = "/proc/sys/net/ipv4/conf"
        for device in ["all", "default"] + ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []) {
            let path = "\(base)/\(device)/send_redirects"
            guard FileManager.default.isWritableFile(atPath: path) else { continue }
            try? "0".write(toFile: path, atomically: false, encoding: .utf8)
        }
    }

    /// Pods' traffic to outside the cluster network leaves with the node's address; within it, it stays as it is.
    func ensureMasquerade() async throws {
        let rule = ["-s", configuration.clusterCIDR, "!", "-d", configuration.clusterCIDR,
                    "-m", "comment", "--comment", "keelson pods leaving the cluster network", "-j", "MASQUERADE", "--random-fully"]
        if (try? await run(["iptables", "-w", "-t", "nat", "-C", "POSTROUTING"] + rule)) == nil {
            try await run(["iptables", "-w", "-t", "nat", "-A", "POSTROUTING"] + rule)
        }
    }

    @discardableResult
    func run(_ arguments: [String]) async throws -> String {
        try await SystemCommand.output(configuration.commandPrefix + arguments)
    }
}

