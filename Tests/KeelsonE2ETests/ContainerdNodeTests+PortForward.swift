import Foundation
import KeelsonAPI
import Testing

extension ContainerdNodeTests {
    /// Runs `kubectl port-forward` in the node's namespace, waits for its "Forwarding from" lines, fetches each
    /// `PORT/PATH` named on the command line through the local ports over concurrent connections, and prints one
    /// JSON object: the bodies' lengths and SHA-256 digests by request, and kubectl's stderr.
    static let portForwardDriver = #"""
        import hashlib, json, re, socket, subprocess, sys, threading, time
        requests, command = sys.argv[1].split(","), sys.argv[2:]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        local = {}
        wanted = {r.split("/")[0] for r in requests}
        deadline = time.time() + 30
        while set(local) != wanted and time.time() < deadline:
            line = process.stdout.readline()
            if not line: break
            m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", line)
            if m: local[m.group(2)] = int(m.group(1))
        results = {}
        def fetch(request):
            port, path = request.split("/", 1)
            body = b""
            try:
                s = socket.create_connection(("127.0.0.1", local[port]), timeout=20)
                s.sendall(("GET /%s HTTP/1.0\r\nHost: pod\r\n\r\n" % path).encode())
                while True:
                    chunk = s.recv(65536)
                    if not chunk: break
                    body += chunk
                s.close()
                body = body.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in body else body
                results[request] = {"length": len(body), "sha256": hashlib.sha256(body).hexdigest(), "head": body[:40].decode(errors="replace")}
            except Exception as error:
                results[request] = {"error": repr(error)}
        threads = [threading.Thread(target=fetch, args=(r,)) for r in requests]
        for t in threads: t.start()
        for t in threads: t.join(60)
        time.sleep(0.5)
        process.terminate()
        try: _, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill(); _, stderr = process.communicate()
        print(json.dumps({"local": local, "results": results, "stderr": stderr}))
        """#

    static func portForward(_ k: KeelsonProcess, version: String?, pod: String, ports: [String], requests: [String]) async throws -> JSONValue {
        var kubectl = ["kubectl"]
        if let version, let directory = KeelsonProcess.kubectlDirectory {
            kubectl = [(directory as NSString).appendingPathComponent("kubectl.\(version)")]
        }
        let arguments = ["python3", "-c", portForwardDriver, requests.joined(separator: ",")] + kubectl
            + ["--kubeconfig", k.kubeconfig, "port-forward", "--address", "127.0.0.1", "pod/\(pod)"] + ports.map { ":\($0)" }
        let (executable, wrapped) = k.node!.wrap("/usr/bin/env", arguments)
        let output = try await Task.detached { try KeelsonProcess.run(executable, wrapped) }.value
        guard output.status == 0, let report = try? JSONParser.parse(output.stdout) else {
            throw KeelsonProcess.Failure("the port-forward driver failed (\(output.status)): \(output.stdout) \(output.stderr)")
        }
        return report
    }

    @Test("kubectl port-forward (1.27 and 1.30 in SPDY, 1.31–1.33 with SPDY tunnelled in a WebSocket) reaches a pod's ports, loopback-only ones too; a closed port is reported")
    func portForward() async throws {
        try await Self.withNode { k in
            // httpd on all addresses at 8080 with a 3 MiB file, and a second one on the pod's loopback only at 9090:
            // only a connection made inside the pod's network namespace reaches that one.
            try await k.kubectlOK(["run", "web", "--image=keelson.local/busybox:1.0", "--", "sh", "-c",
                "mkdir -p /tmp/www && cp /www/index.html /tmp/www/ && head -c 3145728 /dev/urandom > /tmp/www/big && cp /tmp/www/big /tmp/www/big2 && "
                    + "httpd -p 127.0.0.1:9090 -h /tmp/www && exec httpd -f -p 8080 -h /tmp/www"])
            try await k.kubectlOK(["wait", "--for=condition=Ready", "pod/web", "--timeout=60s"])
            let digest = String(try await k.kubectlOK(["exec", "web", "--", "sha256sum", "/tmp/www/big"]).prefix(64))
            let index = "hello from keelson\n"

            // 1.27 and 1.30 ask for SPDY/3.1 itself; 1.31+ tunnel it through a WebSocket.
            for version in ["1.27", "1.30", "1.31", nil, "1.33"] {
                let label = version ?? "on PATH"
                let report = try await Self.portForward(k, version: version, pod: "web", ports: ["8080", "9090"],
                    requests: ["8080/index.html", "9090/index.html", "8080/big", "8080/big2"])
                let results = report["results"]
                #expect(results?["8080/index.html"]?["head"]?.stringValue == index, "kubectl \(label): \(report)")
                #expect(results?["9090/index.html"]?["head"]?.stringValue == index, "kubectl \(label), loopback-only port: \(report)")
                for big in ["8080/big", "8080/big2"] {
                    #expect(results?[big]?["sha256"]?.stringValue == digest, "kubectl \(label), \(big): the bytes arrive unchanged")
                }
            }

            // Nothing listens on 7777: the connection is closed and kubectl reports the kubelet's error.
            let refused = try await Self.portForward(k, version: nil, pod: "web", ports: ["7777"], requests: ["7777/"])
            let stderr = refused["stderr"]?.stringValue ?? ""
            #expect(stderr.contains("error forwarding port 7777 to pod web"), "\(refused)")
            #expect(refused["results"]?["7777/"]?["length"] == 0 || refused["results"]?["7777/"]?["error"] != nil, "\(refused)")

            // A pod that does not exist: kubectl says so before forwarding anything.
            let missing = try await k.kubectl(["port-forward", "pod/nothing", ":8080"])
            #expect(missing.status != 0 && missing.stderr.contains("not found"), "\(missing.stderr)")
        }
    }
}
