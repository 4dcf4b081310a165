import Testing
@testable import KeelsonProxy

private let options = IptablesRules.Options(clusterCIDR: "10.42.0.0/16")

private func web(_ endpoints: [ProxiedService.Endpoint], nodePort: Int? = nil, affinity: Int? = nil, internalLocal: Bool = false,
    externalLocal: Bool = false, name: String = "web") -> ProxiedService
{
    ProxiedService(name: .init(namespace: "default", service: name, port: "http", protocol: "TCP"), clusterIP: "10.43.0.10", port: 80,
        nodePort: nodePort, affinitySeconds: affinity, internalLocal: internalLocal, externalLocal: externalLocal, endpoints: endpoints)
}

private func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

@Suite("iptables rules")
struct IptablesRulesTests {
    @Test("a ClusterIP service spreads over its ready endpoints with statistic probabilities 1/n, 1/(n-1), …")
    func clusterIP() {
        let service = web([.init(ip: "10.42.0.5", port: 8080), .init(ip: "10.42.0.6", port: 8080), .init(ip: "10.42.0.7", port: 8080),
                           .init(ip: "10.42.0.8", port: 8080, ready: false, serving: false)])
        let text = IptablesRules.render([service], options: options).text
        let svc = service.serviceChain
        #expect(svc.hasPrefix("KEEL-SVC-") && svc.count == 25)
        #expect(lines(text).contains("-A KEEL-SERVICES -m comment --comment \"default/web:http cluster IP\" -d 10.43.0.10/32 -p tcp -m tcp --dport 80 -j \(svc)"))
        #expect(lines(text).contains("-A \(svc) -m comment --comment \"default/web:http cluster IP\" ! -s 10.42.0.0/16 -d 10.43.0.10/32 -p tcp -m tcp --dport 80 -j KEEL-MARK-MASQ"))
        let spread = lines(text).filter { $0.hasPrefix("-A \(svc)") && $0.contains("KEEL-SEP-") }
        #expect(spread.count == 3)
        #expect(spread[0].contains("-> 10.42.0.5:8080\" -m statistic --mode random --probability 0.3333333333 -j KEEL-SEP-"))
        #expect(spread[1].contains("-> 10.42.0.6:8080\" -m statistic --mode random --probability 0.5000000000 -j KEEL-SEP-"))
        #expect(spread[2].hasSuffix("-j " + service.endpointChain(.init(ip: "10.42.0.7", port: 8080))))
        let sep = service.endpointChain(.init(ip: "10.42.0.5", port: 8080))
        #expect(lines(text).contains("-A \(sep) -m comment --comment \"default/web:http\" -s 10.42.0.5/32 -j KEEL-MARK-MASQ"))
        #expect(lines(text).contains("-A \(sep) -m comment --comment \"default/web:http\" -p tcp -m tcp -j DNAT --to-destination 10.42.0.5:8080"))
        #expect(!text.contains("10.42.0.8"), "an endpoint that is not ready gets no traffic")
        // NodePorts are dispatched last; the masquerade and forward rules are there.
        let services = lines(text).filter { $0.hasPrefix("-A KEEL-SERVICES") && !$0.contains("REJECT") }
        #expect(services.last?.hasSuffix("-m addrtype --dst-type LOCAL -j KEEL-NODEPORTS") == true)
        #expect(lines(text).contains("-A KEEL-POSTROUTING -j MARK --xor-mark 0x4000"))
        #expect(lines(text).contains("-A KEEL-FORWARD -m comment --comment \"keelson forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT"))
        #expect(text.hasPrefix("*filter\n") && text.hasSuffix("COMMIT\n") && text.components(separatedBy: "COMMIT").count == 3)
    }

    @Test("a service without endpoints is REJECTed in the filter table, cluster IP and node port alike")
    func noEndpoints() {
        let text = IptablesRules.render([web([], nodePort: 30080)], options: options).text
        #expect(lines(text).contains("-A KEEL-SERVICES -m comment --comment \"default/web:http has no endpoints\" -d 10.43.0.10/32 -p tcp -m tcp --dport 80 -j REJECT"))
        #expect(lines(text).contains("-A KEEL-EXTERNAL-SERVICES -m comment --comment \"default/web:http has no endpoints\" -m addrtype --dst-type LOCAL -p tcp -m tcp --dport 30080 -j REJECT"))
        #expect(!text.contains("KEEL-SVC-"))
    }

    @Test("terminating endpoints carry traffic only when no endpoint is ready")
    func terminatingFallback() {
        let terminating = ProxiedService.Endpoint(ip: "10.42.0.9", port: 8080, ready: false, serving: true, terminating: true)
        let onlyTerminating = IptablesRules.render([web([terminating])], options: options).text
        #expect(onlyTerminating.contains("--to-destination 10.42.0.9:8080"))
        let both = IptablesRules.render([web([terminating, .init(ip: "10.42.0.5", port: 8080)])], options: options).text
        #expect(!both.contains("10.42.0.9"))
    }

    @Test("ClientIP affinity sends a client back to its endpoint with recent, before the random choice")
    func affinity() {
        let service = web([.init(ip: "10.42.0.5", port: 8080), .init(ip: "10.42.0.6", port: 8080)], affinity: 10800)
        let text = IptablesRules.render([service], options: options).text
        let sep = service.endpointChain(.init(ip: "10.42.0.5", port: 8080))
        let rules = lines(text).filter { $0.hasPrefix("-A \(service.serviceChain)") }
        #expect(rules[1] == "-A \(service.serviceChain) -m comment --comment \"default/web:http -> 10.42.0.5:8080\" -m recent --name \(sep) --rcheck --seconds 10800 --reap -j \(sep)")
        #expect(lines(text).contains("-A \(sep) -m comment --comment \"default/web:http\" -m recent --name \(sep) --set -p tcp -m tcp -j DNAT --to-destination 10.42.0.5:8080"))
    }

    @Test("NodePorts go through the external chain, masqueraded; externalTrafficPolicy Local keeps the source and this node's endpoints")
    func nodePorts() {
        let endpoints: [ProxiedService.Endpoint] = [.init(ip: "10.42.0.5", port: 8080, isLocal: true), .init(ip: "10.42.1.5", port: 8080)]
        let cluster = web(endpoints, nodePort: 30080)
        let text = IptablesRules.render([cluster], options: options).text
        #expect(lines(text).contains("-A KEEL-NODEPORTS -m comment --comment \"default/web:http\" -p tcp -m tcp --dport 30080 -j \(cluster.externalChain)"))
        #expect(lines(text).contains("-A \(cluster.externalChain) -m comment --comment \"default/web:http masquerade traffic for external destinations\" -j KEEL-MARK-MASQ"))
        #expect(lines(text).contains("-A \(cluster.externalChain) -j \(cluster.serviceChain)"))

        let local = web(endpoints, nodePort: 30080, externalLocal: true)
        let localText = IptablesRules.render([local], options: options).text
        let svl = lines(localText).filter { $0.hasPrefix("-A \(local.localChain)") }
        #expect(svl.count == 1 && svl[0].hasSuffix("-j " + local.endpointChain(.init(ip: "10.42.0.5", port: 8080, isLocal: true))))
        // Only the node's own traffic (127.0.0.1 included) is masqueraded; from outside the source is kept.
        #expect(lines(localText).filter { $0.hasPrefix("-A \(local.externalChain)") && $0.contains("KEEL-MARK-MASQ") }
            == ["-A \(local.externalChain) -m comment --comment \"default/web:http masquerade LOCAL traffic for external destinations\" -m addrtype --src-type LOCAL -j KEEL-MARK-MASQ"])
        #expect(lines(localText).contains("-A \(local.externalChain) -m comment --comment \"default/web:http route LOCAL traffic for external destinations\" -m addrtype --src-type LOCAL -j \(local.serviceChain)"))
        #expect(lines(localText).contains("-A \(local.externalChain) -m comment --comment \"default/web:http pod traffic for external destinations\" -s 10.42.0.0/16 -j \(local.serviceChain)"))

        let internalOnly = web([.init(ip: "10.42.1.5", port: 8080)], internalLocal: true)
        #expect(IptablesRules.render([internalOnly], options: options).text.contains("has no local endpoints\" -d 10.43.0.10/32"))
    }

    @Test("a partial render rewrites only the changed service's chains and deletes the chains of removed ones")
    func partial() {
        let a = web([.init(ip: "10.42.0.5", port: 8080)], name: "a")
        var b = web([.init(ip: "10.42.0.6", port: 8080)], name: "b")
        b.clusterIP = "10.43.0.11"
        let gone = web([.init(ip: "10.42.0.7", port: 8080)], name: "gone")
        let before = IptablesRules.render([a, b, gone], options: options)
        var moved = b
        moved.endpoints = [.init(ip: "10.42.0.16", port: 8080)]
        let after = IptablesRules.render([a, moved], options: options, changed: [moved.name], stale: before.serviceChains)
        let declared = lines(after.text).filter { $0.hasPrefix(":KEEL-S") && !$0.hasPrefix(":KEEL-SERVICES") }.map { String($0.dropFirst().prefix(25)) }
        #expect(!declared.contains(a.serviceChain), "an unchanged service's chains are left alone")
        #expect(declared.contains(moved.serviceChain))
        #expect(declared.contains(moved.endpointChain(moved.endpoints[0])))
        #expect(lines(after.text).contains("-X \(gone.serviceChain)"))
        #expect(lines(after.text).contains("-X \(b.endpointChain(b.endpoints[0]))"))
        // The dispatch chain still sends every service to its chain.
        #expect(lines(after.text).contains { $0.hasPrefix("-A KEEL-SERVICES") && $0.hasSuffix("-j \(a.serviceChain)") })
        #expect(!after.text.contains("-A \(a.serviceChain)"))
    }
}
