import Foundation
import KeelsonAPI
import Testing

extension ContainerdNodeTests {
    @Test("two nodes (the second one's proxy in nftables mode): pods reach pods of the other node with their own addresses, services and DNS answer on both, ClientIP affinity and hairpin, a NodePort and the load balancer on each node's address and loopback")
    func twoNodes() async throws {
        // Two "hosts", each a network namespace, joined by a veth pair: 192.168.90.1 and 192.168.90.2.
        let hostA = try NodeSandbox()
        let hostB = try NodeSandbox()
        let server = try KeelsonProcess(extraArguments: ["--bind-address", "0.0.0.0"], node: hostA, nodeIP: "192.168.90.1")
        let agentDir = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-e2e-agent-\(UUID().uuidString)")
        var agent: AgentChild?
        defer {
            agent?.stop()
            hostB.destroy(dataDir: agentDir)
            try? FileManager.default.removeItem(at: agentDir)
            server.cleanUp()
        }
        try NodeSandbox.sh("ip", "-n", hostA.name, "link", "add", "wire", "type", "veth", "peer", "name", "wire", "netns", hostB.name)
        for (host, address) in [(hostA, "192.168.90.1/24"), (hostB, "192.168.90.2/24")] {
            try NodeSandbox.sh("ip", "-n", host.name, "address", "add", address, "dev", "wire")
            try NodeSandbox.sh("ip", "-n", host.name, "link", "set", "wire", "up")
        }
        do {
            try await server.start()
            try await Self.waitForReadyNode(server)
            try hostB.installImages(into: agentDir)
            let resolvConf = agentDir.appendingPathComponent("resolv.conf")
            try "# no nameserver\n".write(to: resolvConf, atomically: true, encoding: .utf8)
            // The agent joins with the server's token: it checks the server's CA against the token's hash and
            // obtains its node certificate through a CertificateSigningRequest.
            let token = server.dataDir.appendingPathComponent("server/token").path
            agent = try AgentChild(hostB, ["agent", "--server", "https://192.168.90.1:\(server.port)", "--token-file", token,
                "--data-dir", agentDir.path,
                "--node-name", "node-2", "--node-ip", "192.168.90.2", "--cgroup-root", hostB.cgroupRoot, "--resolv-conf", resolvConf.path,
                // The second node's proxy programs nftables, so both modes carry the same traffic.
                "--proxy-mode", "nftables"])
            try await Self.waitFor(server, ["get", "node", "node-2"], timeout: .seconds(90), "node-2 Ready") { node in
                node["status"]?["conditions"]?.arrayValue?.contains { $0["type"] == "Ready" && $0["status"] == "True" } == true
            }
            let requests = try await server.kubectlOK(["get", "csr", "-o",
                "jsonpath={range .items[*]}{.spec.username} {.status.conditions[0].type} {.status.certificate}{\"\\n\"}{end}"])
            #expect(requests.split(separator: "\n").contains { $0.hasPrefix("system:bootstrap:node-join Approved ") && $0.count > 100 },
                "the agent's certificate request was approved and signed: \(requests)")
            try await Self.crossNodeTraffic(server, hostA: hostA, hostB: hostB)
            // Its kubelet's serving certificate came the same way, asked for by the node itself (exec and logs on
            // node-2 above went through it).
            let serving = try await server.kubectlOK(["get", "csr", "-o",
                "jsonpath={range .items[*]}{.spec.signerName} {.spec.username} {.status.conditions[0].type}{\"\\n\"}{end}"])
            #expect(serving.split(separator: "\n").contains("kubernetes.io/kubelet-serving system:node:node-2 Approved"), "\(serving)")
        } catch {
            Issue.record("server log:\n\(server.log)\nagent log:\n\(agent?.log ?? "")")
            throw error
        }
    }

    private static func crossNodeTraffic(_ k: KeelsonProcess, hostA: NodeSandbox, hostB: NodeSandbox) async throws {
        func pod(_ name: String, node: String, labels: String, command: String) -> String {
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: \(name), labels: {\(labels)}}
            spec:
              nodeName: \(node)
              terminationGracePeriodSeconds: 1
              containers:
              - {name: main, image: "keelson.local/busybox:1.0", command: [sh, -c, "\(command)"]}
            ---

            """
        }
        let manifest = pod("web-1", node: "node-1", labels: "app: web, instance: one", command: "exec httpd -f -v -p 8080 -h /www")
            + pod("web-2", node: "node-2", labels: "app: web", command: "exec httpd -f -v -p 8080 -h /www")
            + pod("client-1", node: "node-1", labels: "role: client", command: "exec sleep 3600")
            + pod("client-2", node: "node-2", labels: "role: client", command: "exec sleep 3600")
            + """
            apiVersion: v1
            kind: Service
            metadata: {name: web}
            spec:
              type: NodePort
              selector: {app: web}
              ports: [{name: http, port: 80, targetPort: 8080}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: web-sticky}
            spec:
              selector: {app: web}
              sessionAffinity: ClientIP
              ports: [{name: http, port: 80, targetPort: 8080}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: web-one}
            spec:
              selector: {instance: one}
              ports: [{name: http, port: 80, targetPort: 8080}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: web-lb}
            spec:
              type: LoadBalancer
              selector: {app: web}
              ports: [{name: http, port: 8088, targetPort: 8080}]
            """
        try await k.kubectlOK(["apply", "-f", "-"], stdin: manifest)
        try await k.kubectlOK(["wait", "--for=condition=Ready", "pod/web-1", "pod/web-2", "pod/client-1", "pod/client-2", "--timeout=90s"])
        let pods = try await Self.json(k, ["get", "pods"])
        var addresses: [String: String] = [:]
        for item in pods["items"]?.arrayValue ?? [] {
            if let name = item.name, let ip = item["status"]?["podIP"]?.stringValue { addresses[name] = ip }
        }
        let web2 = try #require(addresses["web-2"]), client1 = try #require(addresses["client-1"])
        #expect(web2.hasPrefix("10.42.") && !web2.hasPrefix(String(client1.prefix(8))), "each node's pods come from its own pod CIDR: \(addresses)")

        // Pod to pod across nodes, through the host-gw route (each agent adds it once it sees the other node's pod
        // CIDR and address); the server sees the client's own address.
        do {
            try await Self.waitForExec(k, pod: "client-1", Self.httpGet(web2, port: 8080), "client-1 to reach web-2 on the other node") {
                $0.hasSuffix("hello from keelson\n")
            }
        } catch {
            Issue.record("node-1:\n\(Self.networkState(hostA))\nnode-2:\n\(Self.networkState(hostB))")
            throw error
        }
        let log = try await k.kubectlOK(["logs", "web-2"])
        #expect(log.contains(client1), "the request reached web-2 from client-1's address, not masqueraded: \(log)")

        // Service by name from either node; every backend is reached from the other node's client.
        for client in ["client-1", "client-2"] {
            try await Self.waitForExec(k, pod: client, Self.httpGet("web.default.svc.cluster.local"), "\(client) to reach the service") {
                $0.hasSuffix("hello from keelson\n")
            }
        }
        var served: Set<String> = []
        for _ in 0..<20 where served.count < 2 {
            _ = try await k.kubectlOK(["exec", "client-2", "--"] + Self.httpGet("web"))
            for name in ["web-1", "web-2"] where try await k.kubectlOK(["logs", name]).contains(addresses["client-2"] ?? "-") {
                served.insert(name)
            }
        }
        #expect(served == ["web-1", "web-2"], "the service spreads over both nodes' endpoints")

        // A NodePort answers on each node's address.
        let nodePort = try #require(try await Self.json(k, ["get", "service", "web"])["spec"]?["ports"]?[0]?["nodePort"]?.intValue)
        for address in ["192.168.90.1", "192.168.90.2"] {
            #expect(try await Self.fetch(hostA, "http://\(address):\(nodePort)/") == "hello from keelson\n", "node port on \(address)")
        }
        // And on the node's loopback, from the node itself.
        for host in [hostA, hostB] {
            #expect(try await Self.fetch(host, "http://127.0.0.1:\(nodePort)/") == "hello from keelson\n", "node port on 127.0.0.1")
        }

        // ClientIP affinity: every request of one client goes to the same pod, whichever node it is on.
        func requests(from address: String) async throws -> [String: Int] {
            var counts: [String: Int] = [:]
            for name in ["web-1", "web-2"] {
                counts[name] = try await k.kubectlOK(["logs", name]).split(separator: "\n").filter { $0.contains(address) }.count
            }
            return counts
        }
        let before = try await requests(from: client1)
        for _ in 0..<8 {
            try await Self.waitForExec(k, pod: "client-1", Self.httpGet("web-sticky"), "client-1 to reach the sticky service") {
                $0.hasSuffix("hello from keelson\n")
            }
        }
        let after = try await requests(from: client1)
        let grown = ["web-1", "web-2"].filter { (after[$0] ?? 0) > (before[$0] ?? 0) }
        #expect(grown.count == 1, "one pod served all 8 requests: before \(before), after \(after)")

        // Hairpin: a pod reaches itself through a service whose only endpoint it is.
        try await Self.waitForExec(k, pod: "web-1", Self.httpGet("web-one"), "web-1 to reach itself through its service") {
            $0.hasSuffix("hello from keelson\n")
        }

        // The built-in load balancer publishes both nodes' addresses, and each answers on the service's port.
        try await Self.waitFor(k, ["get", "service", "web-lb"], "the load balancer's addresses") { service in
            (service["status"]?["loadBalancer"]?["ingress"]?.arrayValue ?? []).compactMap { $0["ip"]?.stringValue } == ["192.168.90.1", "192.168.90.2"]
        }
        let listed = try await k.kubectlOK(["get", "service", "web-lb"])
        #expect(listed.contains("192.168.90.1,192.168.90.2"), "EXTERNAL-IP: \(listed)")
        for address in ["192.168.90.1", "192.168.90.2"] {
            try await eventually(seconds: 20) { (try? await Self.fetch(hostA, "http://\(address):8088/")) == "hello from keelson\n" }
        }
    }
}

/// `keelson agent` of a second node, inside that node's namespace; killed when the test ends.
final class AgentChild: @unchecked Sendable {
    let process = Process()
    let logURL = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-agent-\(UUID().uuidString).log")

    init(_ host: NodeSandbox, _ arguments: [String]) throws {
        let (executable, wrapped) = host.wrap(KeelsonProcess.binary.path, arguments)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = wrapped
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    func stop() {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(15)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        try? FileManager.default.removeItem(at: logURL)
    }
}
