import KeelsonAPI
import Testing
@testable import KeelsonKubelet

@Suite("pod DNS configuration")
struct PodDNSTests {
    static let settings = PodDNS.Settings(clusterServers: ["10.43.0.10"], clusterDomain: "cluster.local",
        node: PodDNS.parse("# node\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"))

    static func pod(policy: String? = nil, hostNetwork: Bool = false, config: JSONValue? = nil) -> JSONValue {
        var spec: [String: JSONValue] = ["hostNetwork": .bool(hostNetwork)]
        if let policy { spec["dnsPolicy"] = .string(policy) }
        if let config { spec["dnsConfig"] = config }
        return ["spec": .object(spec)]
    }

    @Test("ClusterFirst: the cluster DNS, the namespace's search path before the node's, ndots:5")
    func clusterFirst() {
        let dns = PodDNS.forPod(Self.pod(), namespace: "shop", hostNetwork: false, settings: Self.settings)
        #expect(dns == PodDNS(servers: ["10.43.0.10"],
                              searches: ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"], options: ["ndots:5"]))
    }

    @Test("host-network pods use the node's resolvers unless ClusterFirstWithHostNet; Default always does")
    func hostNetwork() {
        #expect(PodDNS.forPod(Self.pod(hostNetwork: true), namespace: "a", hostNetwork: true, settings: Self.settings) == Self.settings.node)
        #expect(PodDNS.forPod(Self.pod(policy: "Default"), namespace: "a", hostNetwork: false, settings: Self.settings) == Self.settings.node)
        let withHostNet = PodDNS.forPod(Self.pod(policy: "ClusterFirstWithHostNet", hostNetwork: true), namespace: "a", hostNetwork: true,
                                        settings: Self.settings)
        #expect(withHostNet?.servers == ["10.43.0.10"])
    }

    @Test("None takes dnsConfig alone; dnsConfig adds servers and searches and overrides options by name")
    func dnsConfig() {
        let config: JSONValue = ["nameservers": ["192.0.2.1"], "searches": ["extra.example"],
                                 "options": [["name": "ndots", "value": "2"], ["name": "single-request"]]]
        let none = PodDNS.forPod(Self.pod(policy: "None", config: config), namespace: "a", hostNetwork: false, settings: Self.settings)
        #expect(none == PodDNS(servers: ["192.0.2.1"], searches: ["extra.example"], options: ["ndots:2", "single-request"]))
        let merged = PodDNS.forPod(Self.pod(config: config), namespace: "a", hostNetwork: false, settings: Self.settings)
        #expect(merged?.servers == ["10.43.0.10", "192.0.2.1"])
        #expect(merged?.searches.last == "extra.example")
        #expect(merged?.options == ["ndots:2", "single-request"])
    }

    @Test("without cluster DNS, ClusterFirst falls back to the node's resolvers; with no node resolv.conf the runtime's default stays")
    func fallbacks() {
        var settings = Self.settings
        settings.clusterServers = []
        #expect(PodDNS.forPod(Self.pod(), namespace: "a", hostNetwork: false, settings: settings) == settings.node)
        settings.node = PodDNS()
        #expect(PodDNS.forPod(Self.pod(), namespace: "a", hostNetwork: false, settings: settings) == nil)
    }
}
