import Foundation
import Testing
@testable import KeelsonProxy
import KeelsonTestKit

#if canImport(Glibc)
import Glibc
#endif

@Suite("nftables proxier in a network namespace", .serialized)
struct NftablesProxierNetnsTests {
    static let web = ProxiedService.Name(namespace: "default", service: "web", port: "", protocol: "TCP")
    static let other = ProxiedService.Name(namespace: "default", service: "other", port: "", protocol: "TCP")

    @Test("cluster IP, external IP and node port reach the endpoints; changes are element updates; affinity survives full syncs; none left REJECTs; cleanup removes the table")
    func trafficThroughMaps() async throws {
        try #require(geteuid() == 0, "network namespaces and nftables need root")
        let namespace = try TestNetworkNamespace()
        defer { namespace.destroy() }
        try await namespace.serve("10.42.0.5", port: 8080)
        try await namespace.serve("10.42.0.6", port: 8080)
        let nftables = Nftables(prefix: namespace.prefix)
        let proxier = NftablesProxier(nftables: nftables, options: .init(clusterCIDR: "10.42.0.0/16"))
        var service = ProxiedService(name: Self.web, clusterIP: "10.43.0.10", port: 80, nodePort: 30080, externalIPs: ["10.43.9.9"],
            endpoints: [.init(ip: "10.42.0.5", port: 8080, isLocal: true), .init(ip: "10.42.0.6", port: 8080, isLocal: true)])
        // A second service on one of the same endpoints: their shared hairpin entry must outlive either.
        let other = ProxiedService(name: Self.other, clusterIP: "10.43.0.11", port: 81, endpoints: [.init(ip: "10.42.0.5", port: 8080, isLocal: true)])
        try await proxier.sync([service, other], full: false)

        var seen: Set<String> = []
        for _ in 0..<40 {
            let answer = await namespace.fetch("http://10.43.0.10/")
            #expect(answer.status == 0)
            seen.insert(answer.body)
        }
        #expect(seen == ["10.42.0.5", "10.42.0.6"], "both endpoints answer the cluster IP")
        #expect(["10.42.0.5", "10.42.0.6"].contains(await namespace.fetch("http://10.43.9.9/").body), "the external IP answers")
        #expect(["10.42.0.5", "10.42.0.6"].contains(await namespace.fetch("http://192.168.77.1:30080/").body), "the node port answers")
        #expect(await namespace.fetch("http://10.43.0.11:81/").body == "10.42.0.5")

        // One endpoint left: the service moves from the 2-endpoint map to the 1-endpoint map, nothing else is written.
        service.endpoints = [.init(ip: "10.42.0.6", port: 8080, isLocal: true)]
        let shrunk = try await proxier.sync([service, other], full: false)
        #expect(shrunk.changedServices == 1)
        for _ in 0..<10 { #expect(await namespace.fetch("http://10.43.0.10/").body == "10.42.0.6") }
        #expect(try await Command.offPool { try nftables.list() }.contains("10.42.0.5 . 10.42.0.5"), "the other service still uses 10.42.0.5")

        // ClientIP affinity: one client, one endpoint.
        service.endpoints = [.init(ip: "10.42.0.5", port: 8080, isLocal: true), .init(ip: "10.42.0.6", port: 8080, isLocal: true)]
        service.affinitySeconds = 600
        #expect(try await proxier.sync([service, other], full: false).changedServices == 1)
        let first = await namespace.fetch("http://10.43.0.10/").body
        #expect(["10.42.0.5", "10.42.0.6"].contains(first))
        for _ in 0..<10 { #expect(await namespace.fetch("http://10.43.0.10/").body == first) }
        // A periodic full sync keeps the clients' endpoints (the table is not rebuilt under them).
        #expect(try await proxier.sync([service, other], full: true).changedServices == 0)
        for _ in 0..<5 { #expect(await namespace.fetch("http://10.43.0.10/").body == first) }
        service.affinitySeconds = nil
        try await proxier.sync([service, other], full: false)
        seen = []
        for _ in 0..<40 { seen.insert(await namespace.fetch("http://10.43.0.10/").body) }
        #expect(seen == ["10.42.0.5", "10.42.0.6"], "without affinity both answer again")

        // Scaled to zero: refused at once, not a hang; an unchanged sync writes nothing.
        service.endpoints = []
        try await proxier.sync([service, other], full: false)
        let refused = await namespace.fetch("http://10.43.0.10/")
        #expect(refused.status == 7, "curl says connection refused (a dropped packet would be its timeout, 28)")
        #expect(await namespace.fetch("http://192.168.77.1:30080/").status == 7, "the node port too")
        let unchanged = try await proxier.sync([service, other], full: false)
        #expect(unchanged.changedServices == 0 && unchanged.rules == 0)

        // The other service removed takes its entries along.
        try await proxier.sync([service], full: true)
        #expect(await namespace.fetch("http://10.43.0.11:81/").status != 0)
        #expect(await namespace.fetch("http://10.43.0.10/").status == 7)

        try await Command.offPool { try nftables.cleanup() }
        #expect(try await Command.offPool { try nftables.exists() } == false)
    }
}
