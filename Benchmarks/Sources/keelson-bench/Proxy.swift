import ArgumentParser
import Foundation
import KeelsonProxy

/// The proxier's syncs at scale: SERVICES services with ENDPOINTS endpoints each, a full sync (render plus one
/// iptables-restore, or one `nft -f` transaction), then one service's endpoints changed (a partial sync). Run
/// inside a network namespace of its own (bench/proxy.sh): it programs the namespace's kernel and removes its rules
/// afterwards.
struct ProxyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "proxy", abstract: "iptables or nftables sync times for many services.")

    @Option(help: "Service counts, comma-separated") var services: String = "1000,5000,10000"
    @Option(help: "Endpoints per service") var endpoints: Int = 10
    @Option(help: "One-service changes to time at each size") var changes: Int = 5
    @Option(help: "iptables or nftables") var mode: String = "iptables"

    func run() async throws {
        let iptables = Iptables()
        let nftables = Nftables()
        guard let proxyMode = ProxyMode(rawValue: mode) else { throw ValidationError("--mode must be iptables or nftables") }
        for count in services.split(separator: ",").compactMap({ Int($0) }) {
            var all = (0..<count).map { i in
                ProxiedService(name: .init(namespace: "bench", service: "svc-\(i)", port: "http", protocol: "TCP"),
                    clusterIP: "10.43.\(i / 250).\(i % 250 + 1)", port: 80, nodePort: nil,
                    endpoints: (0..<endpoints).map { e in .init(ip: "10.42.\((i * endpoints + e) / 250 % 250).\((i * endpoints + e) % 250 + 1)", port: 8080) })
            }
            let options = IptablesRules.Options(clusterCIDR: "10.42.0.0/16")
            var renderText = ""
            if proxyMode == .iptables {
                let renderStart = ContinuousClock.now
                let rendered = IptablesRules.render(all, options: options)
                renderText = String(format: "%6d rules; render %7.1f ms; ", rendered.ruleCount, milliseconds(ContinuousClock.now - renderStart))
            }
            let proxier: any ServiceProxier = proxyMode == .iptables ? IptablesProxier(iptables: iptables, options: options)
                : NftablesProxier(nftables: nftables, options: .init(clusterCIDR: options.clusterCIDR))
            let full = try await proxier.sync(all, full: true)
            var partial: [Duration] = []
            var partialRules = 0
            for change in 0..<changes {
                let index = (change * 7919) % count
                all[index].endpoints[0].port += 1
                let result = try await proxier.sync(all, full: false)
                partial.append(result.duration)
                partialRules = result.rules
            }
            partial.sort()
            let unit = proxyMode == .iptables ? "rules" : "nft commands"
            print(String(format: "proxy (%@) %5d services × %d endpoints: %@full sync %7.1f ms; one-service change p50 %6.1f ms (max %6.1f ms, %d %@ written)",
                mode, count, endpoints, renderText, milliseconds(full.duration),
                milliseconds(partial[partial.count / 2]), milliseconds(partial.last!), partialRules, unit))
            if proxyMode == .iptables { try iptables.cleanup() } else { try nftables.cleanup() }
        }
    }

    func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}
