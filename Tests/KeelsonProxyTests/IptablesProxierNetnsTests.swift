import Foundation
import Testing
@testable import KeelsonProxy
import KeelsonTestKit

#if canImport(Glibc)
import Glibc
#endif

@Suite("iptables proxier in a network namespace", .serialized)
struct IptablesProxierNetnsTests {
    @Test("a cluster IP and a node port reach the endpoints; with none left the service REJECTs at once; cleanup leaves nothing")
    func trafficThroughRules() async throws {
        try #require(geteuid() == 0, "network namespaces and iptables need root")
        let namespace = try TestNetworkNamespace()
        defer { namespace.destroy() }
        try await namespace.serve("10.42.0.5", port: 8080)
        try await namespace.serve("10.42.0.6", port: 8080)
        let iptables = Iptables(prefix: namespace.prefix)
        let proxier = IptablesProxier(iptables: iptables, options: .init(clusterCIDR: "10.42.0.0/16"))
        let name = ProxiedService.Name(namespace: "default", service: "web", port: "", protocol: "TCP")
        var service = ProxiedService(name: name, clusterIP: "10.43.0.10", port: 80, nodePort: 30080,
            endpoints: [.init(ip: "10.42.0.5", port: 8080), .init(ip: "10.42.0.6", port: 8080)])
        try await proxier.sync([service])

        var seen: Set<String> = []
        for _ in 0..<40 {
            let answer = await namespace.fetch("http://10.43.0.10/")
            #expect(answer.status == 0)
            seen.insert(answer.body)
        }
        #expect(seen == ["10.42.0.5", "10.42.0.6"], "both endpoints answer the cluster IP")
        #expect(["10.42.0.5", "10.42.0.6"].contains(await namespace.fetch("http://192.168.77.1:30080/").body), "the node port answers")

        // ClientIP affinity: one client, one endpoint.
        service.affinitySeconds = 600
        let changed = try await proxier.sync([service])
        #expect(changed.changedServices == 1)
        let first = await namespace.fetch("http://10.43.0.10/").body
        for _ in 0..<10 { #expect(await namespace.fetch("http://10.43.0.10/").body == first) }

        // Scaled to zero: refused at once, not a hang.
        service.endpoints = []
        try await proxier.sync([service])
        let refused = await namespace.fetch("http://10.43.0.10/")
        #expect(refused.status == 7, "curl says connection refused (a dropped packet would be its timeout, 28)")

        // An unchanged sync rewrites nothing but the dispatch chains.
        #expect(try await proxier.sync([service]).changedServices == 0)

        let (chains, saved) = try await Command.offPool {
            try iptables.cleanup()
            return (try iptables.keelsonChains(table: "nat") + iptables.keelsonChains(table: "filter"),
                try iptables.save(table: "nat") + iptables.save(table: "filter"))
        }
        #expect(chains.isEmpty)
        #expect(!saved.contains("KEEL-"))
    }
}
