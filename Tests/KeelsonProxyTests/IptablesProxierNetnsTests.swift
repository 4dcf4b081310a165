import Foundation
import Testing
@testable import KeelsonProxy

#if canImport(Glibc)
import Glibc
#endif

/// A network namespace of the test's own: loopback, an interface holding a "pod" address and a "node"
/// address, and a route for the service range. Nothing leaves the machine; the namespace is deleted afterwards.
private final class ProxyNamespace: @unchecked Sendable {
    let name = "keelson-proxy-\(UInt32.random(in: 0...UInt32.max))"
    var servers: [Process] = []
    var prefix: [String] { ["nsenter", "--net=/run/netns/\(name)"] }

    init() throws {
        try sh("ip netns add \(name)")
        do {
            // A veth pair with both ends inside (this kernel has no dummy interfaces).
            for command in ["link set lo up", "link add node0 type veth peer name node1", "link set node0 up", "link set node1 up",
                            "addr add 10.42.0.5/24 dev node0", "addr add 10.42.0.6/24 dev node0",
                            "addr add 192.168.77.1/24 dev node0", "route add 10.43.0.0/16 dev node0"] {
                try sh("ip -n \(name) " + command)
            }
        } catch {
            try? sh("ip netns del \(name)")
            throw error
        }
    }

    /// An HTTP server answering its own address, inside the namespace.
    func serve(_ address: String, port: Int) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-proxy-www-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try address.write(to: directory.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = ["--net=/run/netns/\(name)", "python3", "-m", "http.server", "--bind", address, "--directory", directory.path, String(port)]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        servers.append(process)
        for _ in 0..<100 where fetch("http://\(address):\(port)/").body != address { usleep(50_000) }
    }

    /// curl inside the namespace: the body and curl's exit status (7: connection refused).
    func fetch(_ url: String) -> (status: Int32, body: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = ["--net=/run/netns/\(name)", "curl", "-s", "--max-time", "5", url]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        guard (try? process.run()) != nil else { return (-1, "") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func destroy() {
        for server in servers where server.isRunning {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        try? sh("ip netns del \(name)")
    }

    private func sh(_ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Iptables.Failed(description: "\(command) failed") }
    }
}

@Suite("iptables proxier in a network namespace", .serialized)
struct IptablesProxierNetnsTests {
    @Test("a cluster IP and a node port reach the endpoints; with none left the service REJECTs at once; cleanup leaves nothing")
    func trafficThroughRules() async throws {
        try #require(geteuid() == 0, "network namespaces and iptables need root")
        let namespace = try ProxyNamespace()
        defer { namespace.destroy() }
        try namespace.serve("10.42.0.5", port: 8080)
        try namespace.serve("10.42.0.6", port: 8080)
        let iptables = Iptables(prefix: namespace.prefix)
        let proxier = IptablesProxier(iptables: iptables, options: .init(clusterCIDR: "10.42.0.0/16"))
        let name = ProxiedService.Name(namespace: "default", service: "web", port: "", protocol: "TCP")
        var service = ProxiedService(name: name, clusterIP: "10.43.0.10", port: 80, nodePort: 30080,
            endpoints: [.init(ip: "10.42.0.5", port: 8080), .init(ip: "10.42.0.6", port: 8080)])
        try await proxier.sync([service])

        var seen: Set<String> = []
        for _ in 0..<40 {
            let answer = namespace.fetch("http://10.43.0.10/")
            #expect(answer.status == 0)
            seen.insert(answer.body)
        }
        #expect(seen == ["10.42.0.5", "10.42.0.6"], "both endpoints answer the cluster IP")
        #expect(["10.42.0.5", "10.42.0.6"].contains(namespace.fetch("http://192.168.77.1:30080/").body), "the node port answers")

        // ClientIP affinity: one client, one endpoint.
        service.affinitySeconds = 600
        let changed = try await proxier.sync([service])
        #expect(changed.changedServices == 1)
        let first = namespace.fetch("http://10.43.0.10/").body
        for _ in 0..<10 { #expect(namespace.fetch("http://10.43.0.10/").body == first) }

        // Scaled to zero: refused at once, not a hang.
        service.endpoints = []
        try await proxier.sync([service])
        let start = ContinuousClock.now
        let refused = namespace.fetch("http://10.43.0.10/")
        #expect(refused.status == 7, "curl says connection refused")
        #expect(ContinuousClock.now - start < .seconds(2))

        // An unchanged sync rewrites nothing but the dispatch chains.
        #expect(try await proxier.sync([service]).changedServices == 0)

        try iptables.cleanup()
        #expect(try iptables.keelsonChains(table: "nat").isEmpty)
        #expect(try iptables.keelsonChains(table: "filter").isEmpty)
        #expect(!(try iptables.save(table: "nat")).contains("KEEL-"))
        #expect(!(try iptables.save(table: "filter")).contains("KEEL-"))
    }
}
