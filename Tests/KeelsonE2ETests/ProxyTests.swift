import Foundation
import KeelsonTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

private let service = """
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: default}
    spec:
      type: NodePort
      clusterIP: 10.43.0.20
      ports: [{name: http, port: 80, nodePort: 30090, protocol: TCP}]
    ---
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata:
      name: web-manual
      namespace: default
      labels: {kubernetes.io/service-name: web}
    addressType: IPv4
    ports: [{name: http, port: 8080, protocol: TCP}]
    endpoints:
    - addresses: [10.42.0.5]
      conditions: {ready: true}
    - addresses: [10.42.0.6]
      conditions: {ready: true}
    """

/// `keelson server` and `keelson proxy` inside a network namespace of the test's own, driven with kubectl; the
/// "pods" are HTTP servers on the namespace's own addresses.
@Suite("keelson proxy", .serialized)
struct ProxyTests {
    @Test("a Service's cluster IP and node port reach its endpoints; emptied, it is refused at once; --cleanup removes every rule",
        arguments: ["iptables", "nftables"])
    func serviceTraffic(mode: String) async throws {
        try #require(geteuid() == 0, "network namespaces and iptables need root")
        let namespace = try TestNetworkNamespace()
        defer { namespace.destroy() }
        try await namespace.serve("10.42.0.5", port: 8080)
        try await namespace.serve("10.42.0.6", port: 8080)
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-proxy-e2e-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDir) }
        let kubeconfig = dataDir.appendingPathComponent("kubeconfig.yaml").path
        let nsenter = ["--net=/run/netns/\(namespace.name)", KeelsonProcess.binary.path]
        let server = try NamespacedChild(nsenter + ["server", "--data-dir", dataDir.path, "--disable-agent", "--disable-scheduler",
                                                    "--https-listen-port", String(try KeelsonProcess.freePort())])
        defer { server.stop() }
        try await eventually(seconds: 30) { FileManager.default.fileExists(atPath: kubeconfig) }
        let proxy = try NamespacedChild(nsenter + ["proxy", "--kubeconfig", kubeconfig, "--node-name", "node-1", "--proxy-mode", mode])
        defer { proxy.stop() }
        func kubectl(_ arguments: [String], stdin: String? = nil) async throws -> KeelsonProcess.Output {
            let prefix = ["--net=/run/netns/\(namespace.name)", "kubectl"]
            let environment = ProcessInfo.processInfo.environment.merging(["KUBECONFIG": kubeconfig]) { $1 }
            return try await Command.offPool { try Command.run("/usr/bin/nsenter", prefix + arguments, stdin: stdin, environment: environment) }
        }
        let applied = try await kubectl(["apply", "-f", "-"], stdin: service)
        #expect(applied.status == 0, "\(applied.stderr)")

        var seen: Set<String> = []
        try await eventually(seconds: 20) {
            seen.insert(await namespace.fetch("http://10.43.0.20/").body)
            return seen.isSuperset(of: ["10.42.0.5", "10.42.0.6"])
        }
        #expect(["10.42.0.5", "10.42.0.6"].contains(await namespace.fetch("http://192.168.77.1:30090/").body))

        // No endpoints left: the cluster IP is refused (no hang) once the proxy has synced.
        let emptied = try await kubectl(["patch", "endpointslice", "web-manual", "--type=json", "-p", #"[{"op":"replace","path":"/endpoints","value":[]}]"#])
        #expect(emptied.status == 0, "\(emptied.stderr)")
        try await eventually(seconds: 20) { await namespace.fetch("http://10.43.0.20/").status == 7 }
        let start = ContinuousClock.now
        #expect(await namespace.fetch("http://10.43.0.20/").status == 7)
        #expect(ContinuousClock.now - start < .seconds(2))

        proxy.stop()
        let cleanup = try await Command.offPool { try Command.run("/usr/bin/nsenter", nsenter + ["proxy", "--cleanup"]) }
        #expect(cleanup.status == 0, "\(cleanup.stderr)")
        let netns = "--net=/run/netns/\(namespace.name)"
        for table in ["nat", "filter"] {
            let saved = try await Command.offPool { try Command.run("/usr/bin/nsenter", [netns, "iptables-save", "-t", table]) }
            #expect(!saved.stdout.contains("KEEL-"), "\(table) still has Keelson rules")
        }
        let ruleset = try await Command.offPool { try Command.run("/usr/bin/nsenter", [netns, "nft", "list", "tables"]) }
        #expect(ruleset.status == 0 && !ruleset.stdout.contains("keelson"), "\(ruleset.stdout)")
    }
}

/// A keelson subcommand run inside a network namespace (through nsenter), killed by PID when the test ends.
private final class NamespacedChild: @unchecked Sendable {
    let process = Process()

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = arguments
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }
}
