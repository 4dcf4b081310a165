import Testing
@testable import KeelsonProxy

private func service(_ endpoints: [ProxiedService.Endpoint], name: String = "web", clusterIP: String = "10.43.0.10", nodePort: Int? = nil,
    externalIPs: [String] = [], affinity: Int? = nil, internalLocal: Bool = false, externalLocal: Bool = false) -> ProxiedService
{
    ProxiedService(name: .init(namespace: "default", service: name, port: "http", protocol: "TCP"), clusterIP: clusterIP, port: 80,
        nodePort: nodePort, externalIPs: externalIPs, affinitySeconds: affinity, internalLocal: internalLocal, externalLocal: externalLocal,
        endpoints: endpoints)
}

private func element(_ set: String, _ key: String, _ value: String? = nil) -> NftablesRules.Element {
    NftablesRules.Element(set: set, key: key, value: value)
}

private let a = ProxiedService.Endpoint(ip: "10.42.0.5", port: 8080, isLocal: true)
private let b = ProxiedService.Endpoint(ip: "10.42.1.6", port: 8080)
private let unplaced = ProxiedService.Endpoint(ip: "10.42.1.9", port: 8080, nodeUnknown: true)
private let notReady = ProxiedService.Endpoint(ip: "10.42.1.7", port: 8080, ready: false, serving: false)

@Suite("nftables rules")
struct NftablesRulesTests {
    @Test("a cluster IP puts its ready endpoints in the map of their count, one slot each, and is marked for off-cluster masquerade")
    func clusterIP() {
        let objects = NftablesRules.objects(service([b, a, notReady]))
        #expect(Set(objects.elements) == [
            element("cluster-2", "10.43.0.10 . tcp . 80 . 0", "10.42.0.5 . 8080"),
            element("cluster-2", "10.43.0.10 . tcp . 80 . 1", "10.42.1.6 . 8080"),
            element("cluster-ips", "10.43.0.10 . tcp . 80"),
        ])
        #expect(objects.families == [NftablesRules.Family(kind: .cluster, count: 2)])
        #expect(objects.endpointAddresses == ["10.42.0.5"], "only this node's endpoints can be their own clients here")
        #expect(objects.affinity.isEmpty)
    }

    @Test("no usable endpoint: the cluster IP and node port are in the REJECT sets; internalTrafficPolicy Local counts only this node's")
    func noEndpoints() {
        let empty = NftablesRules.objects(service([notReady], nodePort: 30080))
        #expect(Set(empty.elements) == [element("no-endpoints", "10.43.0.10 . tcp . 80"), element("no-endpoint-nodeports", "tcp . 30080")])
        let localOnly = NftablesRules.objects(service([b], internalLocal: true))
        #expect(localOnly.elements == [element("no-endpoints", "10.43.0.10 . tcp . 80")])
    }

    @Test("externalTrafficPolicy Local: outside clients get this node's endpoints (or a drop), pods and the node every endpoint, the node masqueraded")
    func externalLocal() {
        let objects = NftablesRules.objects(service([a, b], nodePort: 30080, externalIPs: ["192.0.2.9"], externalLocal: true))
        let elements = Set(objects.elements)
        #expect(elements.isSuperset(of: [
            element("cluster-2", "192.0.2.9 . tcp . 80 . 1", "10.42.1.6 . 8080"),
            element("external-1", "192.0.2.9 . tcp . 80 . 0", "10.42.0.5 . 8080"),
            element("local-external", "192.0.2.9 . tcp . 80"),
            element("nodeport-2", "tcp . 30080 . 0", "10.42.0.5 . 8080"),
            element("nodeport-local-1", "tcp . 30080 . 0", "10.42.0.5 . 8080"),
            element("local-nodeports", "tcp . 30080"),
        ]))
        #expect(!elements.contains { $0.set == "external-masq" || $0.set == "nodeport-masq" }, "outside clients keep their address")
        let remote = Set(NftablesRules.objects(service([b], nodePort: 30080, externalIPs: ["192.0.2.9"], externalLocal: true)).elements)
        #expect(remote.isSuperset(of: [element("external-drop", "192.0.2.9 . tcp . 80"), element("nodeport-drop", "tcp . 30080")]))
        let cluster = Set(NftablesRules.objects(service([a, b], nodePort: 30080, externalIPs: ["192.0.2.9"])).elements)
        #expect(cluster.isSuperset(of: [element("external-masq", "192.0.2.9 . tcp . 80"), element("nodeport-masq", "tcp . 30080")]))
    }

    @Test("ClientIP affinity: a chain of its own with a set of recent clients per endpoint, reached through the affinity verdict map")
    func affinity() throws {
        let objects = NftablesRules.objects(service([a, b], affinity: 600))
        let chain = try #require(objects.affinity.first)
        #expect(objects.families.isEmpty && !objects.elements.contains { $0.set.hasPrefix("cluster-") && $0.set != "cluster-ips" })
        #expect(chain.dispatch == [element("affinity", "10.43.0.10 . tcp . 80", "goto \(chain.name)")])
        let commands = chain.create()
        #expect(commands.contains("add set ip keelson \(chain.name)-0 { type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; }"))
        #expect(commands.contains("add rule ip keelson \(chain.name) meta l4proto tcp ip saddr @\(chain.name)-1 update @\(chain.name)-1 { ip saddr } dnat ip to 10.42.1.6:8080"))
        #expect(commands.contains("add rule ip keelson \(chain.name) meta l4proto tcp numgen random mod 2 == 0 update @\(chain.name)-0 { ip saddr } dnat ip to 10.42.0.5:8080"))
        #expect(commands.last == "add rule ip keelson \(chain.name) meta l4proto tcp update @\(chain.name)-1 { ip saddr } dnat ip to 10.42.1.6:8080")
    }

    @Test("a sync after one service changed writes only that service's elements; a shared endpoint's hairpin pair stays while any service uses it")
    func partialPlan() async throws {
        let proxier = NftablesProxier(nftables: Nftables(prefix: ["false"]), options: .init(clusterCIDR: "10.42.0.0/16"))
        let web = service([a, b]), other = service([a], name: "other", clusterIP: "10.43.0.11")
        let full = await proxier.plan([web, other], full: false)
        #expect(full.commands.prefix(3) == ["add table ip keelson", "delete table ip keelson", "add table ip keelson"], "the first sync builds the table")
        #expect(full.hairpin == ["10.42.0.5": 2])
        await proxier.adopt(full)

        let grown = service([a, b, unplaced])
        let plan = await proxier.plan([grown, other], full: false)
        #expect(plan.changed == 1)
        let text = plan.commands.joined(separator: "\n")
        #expect(text.contains("map cluster-3 {") && text.contains("add rule ip keelson cluster dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 3 map @cluster-3"),
            "the first service with three endpoints brings the map of three")
        #expect(plan.commands.contains("delete element ip keelson cluster-2 { 10.43.0.10 . tcp . 80 . 0, 10.43.0.10 . tcp . 80 . 1 }"))
        #expect(plan.commands.contains("add element ip keelson hairpin { 10.42.1.9 . 10.42.1.9 }"), "an endpoint of no known node may be local")
        #expect(!text.contains("10.43.0.11"), "the other service is not touched")

        let removed = await proxier.plan([grown], full: false)
        #expect(removed.commands.contains("delete element ip keelson cluster-1 { 10.43.0.11 . tcp . 80 . 0 }"))
        #expect(!removed.commands.joined().contains("delete element ip keelson hairpin"), "10.42.0.5 is still web's")
        #expect(await proxier.plan([web, other], full: false).changed == 0, "nothing changed since the adopted state")
    }
}
