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
            try await Self.waitForExec(k, Self.httpGet("web", timeout: 10), "the emptied Service to be refused") {
                $0.contains("refused")
            }
            // REJECT answers at once; a DROP or a missing rule would run into the 10 s timeout.
            let started = ContinuousClock.now
            let refused = try await k.kubectl(["exec", "client", "--"] + Self.httpGet(clusterIP, timeout: 10))
            #expect(refused.status != 0 && refused.stderr.contains("refused"), "status \(refused.status), stdout \(refused.stdout), stderr \(refused.stderr)")
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    /// An HTTP GET from the client pod with busybox nc (the static busybox's wget crashes before it connects).
    static func httpGet(_ host: String, timeout: Int = 3) -> [String] {
        ["sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w \(timeout) \(host) 80"]
    }

    /// Runs a command in the client pod until its output (stdout, then stderr) satisfies `condition` (every 300 ms, up to 60 s).
    static func waitForExec(_ k: KeelsonProcess, _ command: [String], _ what: String, _ condition: (String) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        var last = ""
        while ContinuousClock.now < deadline {
            let output = try await k.kubectl(["exec", "client", "--"] + command)
            last = output.stdout + output.stderr
            if condition(last) { return }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw KeelsonProcess.Failure("timed out waiting for \(what); last output: \(last)")
    }
}
