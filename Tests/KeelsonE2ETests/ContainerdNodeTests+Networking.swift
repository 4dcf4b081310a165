import Foundation
import KeelsonAPI
import Testing

extension ContainerdNodeTests {
    @Test("a Service reaches its pods from a client pod by cluster IP and by DNS name; a headless name lists the ready pods; emptied, the Service is refused at once")
    func servicesAndDNS() async throws {
        try await Self.withNode { k in
            let manifest = """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: web}
                spec:
                  replicas: 2
                  selector: {matchLabels: {app: web}}
                  template:
                    metadata: {labels: {app: web}}
                    spec:
                      terminationGracePeriodSeconds: 1
                      containers:
                      - {name: httpd, image: "keelson.local/busybox:1.0", command: [httpd, -f, -p, "8080", -h, /www]}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: web}
                spec:
                  selector: {app: web}
                  ports: [{name: http, port: 80, targetPort: 8080}]
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: web-pods}
                spec:
                  clusterIP: None
                  selector: {app: web}
                  ports: [{name: http, port: 8080}]
                """
            try await k.kubectlOK(["apply", "-f", "-"], stdin: manifest)
            try await k.kubectlOK(["run", "client", "--image=keelson.local/busybox:1.0", "--restart=Never", "--", "sleep", "3600"])
            try await k.kubectlOK(["rollout", "status", "deployment/web", "--timeout=90s"])
            try await k.kubectlOK(["wait", "--for=condition=Ready", "pod/client", "--timeout=60s"])

            let dns = try await Self.json(k, ["get", "service", "kube-dns", "-n", "kube-system"])
            #expect(dns["spec"]?["clusterIP"] == "10.43.0.10")
            let resolvConf = try await k.kubectlOK(["exec", "client", "--", "cat", "/etc/resolv.conf"])
            #expect(resolvConf.contains("nameserver 10.43.0.10"), "\(resolvConf)")
            #expect(resolvConf.contains("search default.svc.cluster.local svc.cluster.local cluster.local"), "\(resolvConf)")
            #expect(resolvConf.contains("ndots:5"), "\(resolvConf)")

            let clusterIP = try #require(try await Self.json(k, ["get", "service", "web"])["spec"]?["clusterIP"]?.stringValue)
            // The endpoints reach the proxy through the EndpointSlice controller, a watch and a coalesced sync.
            try await Self.waitForExec(k, Self.httpGet(clusterIP), "the cluster IP to answer") { $0.hasSuffix("hello from keelson\n") }
            for name in ["web", "web.default.svc.cluster.local", "web.default"] {
                let page = try await k.kubectlOK(["exec", "client", "--"] + Self.httpGet(name))
                #expect(page.hasPrefix("HTTP/1.") && page.hasSuffix("hello from keelson\n"), "\(name): \(page)")
            }

            let pods = try await Self.json(k, ["get", "pods", "-l", "app=web"])
            let podIPs = Set((pods["items"]?.arrayValue ?? []).compactMap { $0["status"]?["podIP"]?.stringValue })
            #expect(podIPs.count == 2)
            let lookup = try await k.kubectlOK(["exec", "client", "--", "nslookup", "web-pods.default.svc.cluster.local"])
            let answered = Set(lookup.split(separator: "\n").filter { $0.hasPrefix("Address") }.compactMap { $0.split(separator: " ").last.map(String.init) }
                .filter { $0.hasPrefix("10.42.") })
            #expect(answered == podIPs, "\(lookup)")
            let missing = try await k.kubectl(["exec", "client", "--", "nslookup", "nothing.default.svc.cluster.local"])
            #expect(missing.status != 0 && missing.stdout.contains("NXDOMAIN"), "\(missing.stdout)")

            try await k.kubectlOK(["scale", "deployment/web", "--replicas=0"])
            try await Self.waitFor(k, ["get", "endpointslices", "-l", "kubernetes.io/service-name=web"], "the endpoints to go") { list in
                (list["items"]?.arrayValue ?? []).allSatisfy { ($0["endpoints"]?.arrayValue ?? []).isEmpty }
            }
            do {
                try await Self.waitForExec(k, Self.httpGet("web", timeout: 10), "the emptied Service to be refused") {
                    $0.contains("refused")
                }
            } catch {
                let podRoute = try await k.kubectl(["exec", "client", "--", "ip", "route", "get", clusterIP])
                Issue.record("the client's route to the service: \(podRoute.stdout)\nthe node's routes and rules:\n\(Self.networkState(k.node!))")
                throw error
            }
            // REJECT answers at once with "refused"; a DROP or a missing rule would run into wget's 10 s timeout and
            // say so. The bound leaves room for the exec round trip itself, which took 6 s once on a loaded machine.
            let started = ContinuousClock.now
            let refused = try await k.kubectl(["exec", "client", "--"] + Self.httpGet(clusterIP, timeout: 10))
            #expect(refused.status != 0 && refused.stderr.contains("refused"), "status \(refused.status), stdout \(refused.stdout), stderr \(refused.stderr)")
            #expect(ContinuousClock.now - started < .seconds(9))
        }
    }

    /// The routes and iptables rules of a node's namespace, for failure messages.
    static func networkState(_ node: NodeSandbox) -> String {
        let (executable, arguments) = node.wrap("/usr/bin/env", ["sh", "-c", "ip route; ip neigh; iptables-save -c; cat /proc/net/nf_conntrack 2>/dev/null | grep 10.43 | head -20; sysctl net.bridge.bridge-nf-call-iptables net.ipv4.ip_forward"])
        return (try? KeelsonProcess.run(executable, arguments).stdout) ?? "(unavailable)"
    }

    /// An HTTP GET from the client pod with busybox nc (the static busybox's wget crashes before it connects).
    /// `timeout` bounds the whole attempt: nc's own `-w` does not cover a connect whose SYNs go unanswered, which
    /// a connection started just before a dead endpoint's rules went away keeps doing for over a minute.
    static func httpGet(_ host: String, port: Int = 80, timeout: Int = 3) -> [String] {
        ["sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout \(timeout + 2) nc -w \(timeout) \(host) \(port)"]
    }

    /// Runs a command in the client pod until its output (stdout, then stderr) satisfies `condition` (every 300 ms, up to 60 s).
    static func waitForExec(_ k: KeelsonProcess, pod: String = "client", _ command: [String], _ what: String,
                            _ condition: (String) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        var attempts: [String] = []
        while ContinuousClock.now < deadline {
            let started = ContinuousClock.now
            let output = try await k.kubectl(["exec", pod, "--"] + command)
            let last = output.stdout + output.stderr
            if condition(last) { return }
            attempts.append("after \(ContinuousClock.now - started): \(last)")
            try await Task.sleep(for: .milliseconds(300))
        }
        throw KeelsonProcess.Failure("timed out waiting for \(what); attempts:\n\(attempts.joined(separator: "\n"))")
    }
}
