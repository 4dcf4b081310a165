import Foundation
import KeelsonAPI

/// A pod's resolv.conf from its `dnsPolicy` and `dnsConfig`, as the kubelet composes it: ClusterFirst points at
/// the cluster DNS with the namespace's search path and `ndots:5`, Default inherits the node's resolv.conf,
/// None takes `dnsConfig` alone; `dnsConfig` adds nameservers and searches and overrides options by name.
struct PodDNS: Sendable, Equatable {
    var servers: [String] = []
    var searches: [String] = []
    var options: [String] = []

    /// The node's side: the cluster DNS addresses and domain, and the node's own resolv.conf.
    struct Settings: Sendable {
        var clusterServers: [String] = []
        var clusterDomain = "cluster.local"
        var node = PodDNS()

        /// The node's resolv.conf, read once: a change takes an agent restart, as with the kubelet's --resolv-conf.
        static func nodeResolvConf(_ path: String?) -> PodDNS {
            guard let path, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return PodDNS() }
            return PodDNS.parse(text)
        }
    }

    /// nil when the runtime should keep its default (the node's resolv.conf as the runtime sees it).
    static func forPod(_ pod: JSONValue, namespace: String, hostNetwork: Bool, settings: Settings) -> PodDNS? {
        let spec = pod["spec"]
        var policy = spec?["dnsPolicy"]?.stringValue ?? "ClusterFirst"
        // Host-network pods use the node's resolvers unless they ask for the cluster's explicitly.
        if policy == "ClusterFirst" && hostNetwork { policy = "Default" }
        if policy == "ClusterFirstWithHostNet" { policy = "ClusterFirst" }
        if policy == "ClusterFirst" && settings.clusterServers.isEmpty { policy = "Default" }
        var dns: PodDNS
        switch policy {
        case "None":
            dns = PodDNS()
        case "ClusterFirst":
            let domain = settings.clusterDomain
            dns = PodDNS(servers: settings.clusterServers,
                         searches: ["\(namespace).svc.\(domain)", "svc.\(domain)", domain] + settings.node.searches, options: ["ndots:5"])
        default:
            dns = settings.node
        }
        let config = spec?["dnsConfig"]
        dns.servers += (config?["nameservers"]?.arrayValue ?? []).compactMap(\.stringValue)
        dns.searches += (config?["searches"]?.arrayValue ?? []).compactMap(\.stringValue)
        for option in config?["options"]?.arrayValue ?? [] {
            guard let name = option["name"]?.stringValue else { continue }
            dns.options.removeAll { $0 == name || $0.hasPrefix(name + ":") }
            dns.options.append(option["value"]?.stringValue.map { "\(name):\($0)" } ?? name)
        }
        // glibc reads at most three nameservers; the kubelet keeps 32 search domains.
        dns.servers = Array(dns.servers.prefix(3))
        var seen: Set<String> = []
        dns.searches = Array(dns.searches.filter { seen.insert($0).inserted }.prefix(32))
        if policy == "Default" && (spec?["dnsConfig"] == nil || spec?["dnsConfig"] == .null) && dns == settings.node && settings.node.servers.isEmpty {
            return nil
        }
        return dns
    }

    static func parse(_ text: String) -> PodDNS {
        let conf = ResolvConf(parsing: text)
        return PodDNS(servers: conf.nameservers, searches: conf.searches, options: conf.options)
    }
}
