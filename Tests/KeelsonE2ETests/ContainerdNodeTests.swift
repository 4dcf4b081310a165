import Foundation
import KeelsonAPI
import Testing

/// A server with its node agent: real containers through containerd, runc and the CNI bridge, each cluster in a
/// network namespace of its own (see `NodeSandbox`), driven by the real kubectl.
@Suite("Pods on containerd", .serialized)
struct ContainerdNodeTests {
    /// A fresh cluster with a real node, removed with everything it started however the body ends.
    static func withNode(extraArguments: [String] = [], prepare: (URL) throws -> Void = { _ in },
        _ body: (KeelsonProcess) async throws -> Void) async throws
    {
        let node = try NodeSandbox()
        let server = try KeelsonProcess(extraArguments: extraArguments, node: node)
        defer { server.cleanUp() }
        do {
            try prepare(server.dataDir)
            try await server.start()
            try await waitForReadyNode(server)
            try await body(server)
        } catch {
            Issue.record("server log:\n\(server.log)")
            throw error
        }
    }

    /// The node registers itself once its containerd answers, and is Ready once its pod network is configured.
    static func waitForReadyNode(_ k: KeelsonProcess) async throws {
        try await waitFor(k, ["get", "node", "node-1"], "node-1 Ready") { node in
            node["status"]?["conditions"]?.arrayValue?.contains { $0["type"] == "Ready" && $0["status"] == "True" } == true
        }
    }

    static func json(_ k: KeelsonProcess, _ arguments: [String]) async throws -> JSONValue {
        try JSONParser.parse(Array(try await k.kubectlOK(arguments + ["-o", "json"]).utf8))
    }

    /// Polls (every 200 ms, up to `timeout`) until `condition` holds for the object kubectl returns.
    @discardableResult
    static func waitFor(_ k: KeelsonProcess, _ arguments: [String], timeout: Duration = .seconds(60), _ what: String,
        _ condition: (JSONValue) -> Bool) async throws -> JSONValue
    {
        let deadline = ContinuousClock.now + timeout
        var last: JSONValue = nil
        while ContinuousClock.now < deadline {
            let output = try await k.kubectl(arguments + ["-o", "json"])
            if output.status == 0, let object = try? JSONParser.parse(Array(output.stdout.utf8)) {
                last = object
                if condition(object) { return object }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw KeelsonProcess.Failure("timed out waiting for \(what); last seen: \(last.encodedString())")
    }

    /// An HTTP GET from inside the node's namespace (pod addresses are reachable only there).
    static func fetch(_ node: NodeSandbox, _ url: String) async throws -> String {
        let script = "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
        let (executable, arguments) = node.wrap("/usr/bin/env", ["python3", "-c", script, url])
        let output = try await Task.detached { try KeelsonProcess.run(executable, arguments) }.value
        guard output.status == 0 else { throw KeelsonProcess.Failure("GET \(url) failed: \(output.stderr)") }
        return output.stdout
    }

    static func container(_ pod: JSONValue, _ index: Int = 0) -> JSONValue? { pod["status"]?["containerStatuses"]?[index] }

    @Test("kubectl run of busybox becomes Running with a pod IP that serves HTTP; its log reaches kubectl logs")
    func runServeAndLog() async throws {
        try await Self.withNode { k in
            try await k.kubectlOK(["run", "web", "--image=keelson.local/busybox:1.0", "--port=8080", "--",
                "sh", "-c", "echo starting httpd; exec httpd -f -v -p 8080 -h /www"])
            try await k.kubectlOK(["wait", "--for=condition=Ready", "pod/web", "--timeout=60s"])
            let pod = try await Self.json(k, ["get", "pod", "web"])
            #expect(pod["status"]?["phase"] == "Running")
            let ip = try #require(pod["status"]?["podIP"]?.stringValue)
            #expect(ip.hasPrefix("10.42."), "the pod's address comes from the node's pod CIDR: \(ip)")
            #expect(pod["status"]?["hostIP"] == "127.0.0.1")
            #expect(pod["status"]?["qosClass"] == "BestEffort")
            #expect(Self.container(pod)?["containerID"]?.stringValue?.hasPrefix("containerd://") == true)
            #expect(Self.container(pod)?["imageID"]?.stringValue?.hasPrefix("sha256:") == true)
            #expect(try await Self.fetch(k.node!, "http://\(ip):8080/") == "hello from keelson\n")

            let logs = try await k.kubectlOK(["logs", "web"])
            #expect(logs.hasPrefix("starting httpd\n"), "\(logs)")
            #expect(logs.contains("response:200"), "httpd -v logs the request: \(logs)")
            let stamped = try await k.kubectlOK(["logs", "web", "--timestamps", "--tail=1"])
            #expect(stamped.split(separator: "\n").count == 1)
            #expect(stamped.hasPrefix(String(Timestamp.format(Date()).prefix(4))), "\(stamped)")
            let wide = try await k.kubectlOK(["get", "pods", "-o", "wide"])
            #expect(wide.contains(ip) && wide.contains("node-1") && wide.contains("Running"), "\(wide)")

            // The kubelet's API is HTTPS with a certificate from the server CA for the node's address, and takes no
            // client but the API server: not one without a certificate, nor the cluster admin's (client CA).
            let tls = k.dataDir.appendingPathComponent("server/tls")
            func curlKubelet(_ extra: [String]) async throws -> KeelsonProcess.Output {
                let (executable, arguments) = k.node!.wrap("/usr/bin/curl", ["-sS", "--max-time", "5", "--cacert",
                    tls.appendingPathComponent("server-ca.crt").path] + extra + ["https://127.0.0.1:10250/pods"])
                return try await Task.detached { try KeelsonProcess.run(executable, arguments) }.value
            }
            let anonymous = try await curlKubelet([])
            #expect(anonymous.status != 0 && !anonymous.stdout.contains("PodList"), "\(anonymous.stdout) \(anonymous.stderr)")
            let admin = try await curlKubelet(["--cert", tls.appendingPathComponent("client-admin.crt").path,
                                               "--key", tls.appendingPathComponent("client-admin.key").path])
            #expect(admin.status != 0 && !admin.stdout.contains("PodList"), "\(admin.stdout) \(admin.stderr)")
            let pods = try await k.kubectlOK(["get", "--raw", "/api/v1/nodes/node-1/proxy/pods"])
            #expect(pods.contains("\"PodList\"") && pods.contains("\"web\""), "the API server gets through: \(pods.prefix(200))")

            // In-cluster credentials where client libraries look: the namespace, the server's CA, and a token bound
            // to the pod that authenticates as the default service account.
            let directory = "/var/run/secrets/kubernetes.io/serviceaccount"
            #expect(try await k.kubectlOK(["exec", "web", "--", "cat", "\(directory)/namespace"]) == "default")
            let ca = try String(contentsOf: k.dataDir.appendingPathComponent("server/tls/server-ca.crt"), encoding: .utf8)
            #expect(try await k.kubectlOK(["exec", "web", "--", "cat", "\(directory)/ca.crt"]) == ca)
            let token = try await k.kubectlOK(["exec", "web", "--", "cat", "\(directory)/token"])
            let review = try await k.kubectlOK(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.extra}"],
                environment: ["KUBECONFIG": try SecurityTests.kubeconfig(k, user: "{token: \"\(token)\"}")])
            #expect(review.hasPrefix("system:serviceaccount:default:default ") && review.contains("web"), "\(review)")
        }
    }

    @Test("kubectl exec over WebSocket and (kubectl ≤ 1.29) SPDY: stdout and stderr, the exit code, stdin, cp, an interactive shell on a terminal; kubectl attach")
    func exec() async throws {
        let auditLog = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-exec-audit-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: auditLog) }
        try await Self.withNode(extraArguments: ["--audit-log-path", auditLog.path]) { k in
            try await k.kubectlOK(["run", "box", "--image=keelson.local/busybox:1.0", "--", "sleep", "3600"])
            try await k.kubectlOK(["wait", "--for=condition=Ready", "pod/box", "--timeout=60s"])
            let output = try await k.kubectl(["exec", "box", "--", "sh", "-c", "echo to stdout; echo to stderr >&2; exit 3"])
            #expect(output.stdout == "to stdout\n")
            #expect(output.stderr.contains("to stderr\n"), "\(output.stderr)")
            #expect(output.status == 3, "kubectl exits with the command's code")
            // kubectl up to 1.29 speaks SPDY (an HTTP upgrade to SPDY/3.1, relayed to the runtime's own SPDY server).
            for version in ["1.27", "1.29"] {
                let old = try await k.kubectl(["exec", "box", "--", "sh", "-c", "echo to stdout; echo to stderr >&2; exit 3"], version: version)
                #expect(old.stdout == "to stdout\n" && old.stderr.contains("to stderr\n") && old.status == 3,
                    "kubectl \(version) over SPDY: \(old.status) \(old.stdout) \(old.stderr)")
            }
            #expect(try await k.kubectlOK(["exec", "-i", "box", "--", "head", "-1"], stdin: "piped in\nsecond\n") == "piped in\n")
            // The end of stdin reaches the command (a command that reads to the end finishes), with every kubectl:
            // 1.29 (SPDY, which ends the stdin stream), 1.30 (WebSocket v4, where the session itself ends) and 1.31+
            // (v5's "close stdin").
            for version in ["1.29", "1.30", nil] {
                let counted = try await k.kubectlOK(["exec", "-i", "box", "--", "wc", "-c"], version: version, stdin: "12345")
                #expect(counted.trimmingCharacters(in: .whitespacesAndNewlines) == "5", "kubectl \(version ?? "on PATH"): \(counted)")
            }

            // kubectl cp both ways (tar through exec; into the pod it needs the end of stdin).
            let local = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-cp-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: local) }
            let content = (0..<20_000).map { "line \($0)\n" }.joined()
            try content.write(to: local, atomically: true, encoding: .utf8)
            try await k.kubectlOK(["cp", local.path, "box:/tmp/copied"])
            #expect(try await k.kubectlOK(["exec", "box", "--", "cat", "/tmp/copied"]) == content)
            let back = local.appendingPathExtension("back")
            defer { try? FileManager.default.removeItem(at: back) }
            try await k.kubectlOK(["cp", "box:/tmp/copied", back.path])
            #expect(try String(contentsOf: back, encoding: .utf8) == content)
            try await k.kubectlOK(["cp", local.path, "box:/tmp/copied-spdy"], version: "1.29")
            #expect(try await k.kubectlOK(["exec", "box", "--", "cat", "/tmp/copied-spdy"]) == content, "kubectl cp over SPDY")
            #expect(try await k.kubectlOK(["exec", "box", "-c", "box", "--", "cat", "/www/index.html"]) == "hello from keelson\n")
            let missing = try await k.kubectl(["exec", "box", "-c", "nope", "--", "true"])
            #expect(missing.status != 0 && missing.stderr.contains("container nope is not valid"), "\(missing.stderr)")

            // An interactive shell: kubectl on a pseudo-terminal, as a user at a terminal runs it.
            let driver = #"""
                import os, pty, select, sys, time
                pid, fd = pty.fork()
                if pid == 0:
                    os.execvp(sys.argv[1], sys.argv[1:])
                out = b""
                def read(seconds):
                    global out
                    end = time.time() + seconds
                    while time.time() < end:
                        if select.select([fd], [], [], 0.1)[0]:
                            try: out += os.read(fd, 4096)
                            except OSError: return
                read(3)
                os.write(fd, b"echo $((6*7)); tty\n"); read(2)
                os.write(fd, b"exit 5\n"); read(2)
                sys.stdout.write(out.decode(errors="replace"))
                sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
                """#
            // With the kubectl on PATH (WebSocket) and with 1.29 (SPDY, the terminal's size on its resize stream).
            for kubectl in ["kubectl", KeelsonProcess.kubectlDirectory.map { ($0 as NSString).appendingPathComponent("kubectl.1.29") }] {
                guard let kubectl else { continue }
                let (executable, arguments) = k.node!.wrap("/usr/bin/env", ["python3", "-c", driver, kubectl, "--kubeconfig", k.kubeconfig,
                    "exec", "-it", "box", "--", "sh"])
                let session = try await Task.detached { try KeelsonProcess.run(executable, arguments) }.value
                #expect(session.stdout.contains("42"), "\(kubectl): \(session.stdout)")
                #expect(session.stdout.contains("/dev/pts/"), "the shell has a terminal: \(session.stdout)")
                #expect(session.status == 5, "\(kubectl): \(session.stdout) \(session.stderr)")
            }

            // attach: the output of the container's own process, from when kubectl attaches until it ends.
            try await k.kubectlOK(["run", "talker", "--image=keelson.local/busybox:1.0", "--restart=Never", "--",
                "sh", "-c", "sleep 3; echo said after attaching; sleep 1"])
            try await k.kubectlOK(["wait", "--for=condition=Ready", "pod/talker", "--timeout=60s"])
            let attached = try await k.kubectl(["attach", "talker"])
            #expect(attached.stdout.contains("said after attaching"), "\(attached.stdout) \(attached.stderr)")
            try await k.kubectlOK(["run", "talker-spdy", "--image=keelson.local/busybox:1.0", "--restart=Never", "--",
                "sh", "-c", "sleep 3; echo said to SPDY; sleep 1"])
            try await k.kubectlOK(["wait", "--for=condition=Ready", "pod/talker-spdy", "--timeout=60s"])
            let attachedOld = try await k.kubectl(["attach", "talker-spdy"], version: "1.29")
            #expect(attachedOld.stdout.contains("said to SPDY"), "kubectl 1.29: \(attachedOld.stdout) \(attachedOld.stderr)")

            // The sessions are in the audit log (written as they start): the switch to WebSocket, by whom, into which pod.
            var sessions: [JSONValue] = []
            try await eventually {
                let text = (try? String(contentsOf: auditLog, encoding: .utf8)) ?? ""
                sessions = text.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }.filter { $0["responseStatus"]?["code"] == 101 }
                return sessions.contains { $0["objectRef"]?["subresource"] == "attach" && $0["objectRef"]?["name"] == "talker" }
            }
            #expect(sessions.contains { $0["objectRef"]?["subresource"] == "exec" && $0["objectRef"]?["name"] == "box"
                && $0["verb"] == "create" && $0["user"]?["username"] == "system:admin" }, "\(sessions)")
        }
    }

    @Test("a container log past --container-log-max-size is rotated, and kubectl logs goes on with the new file")
    func logRotation() async throws {
        try await Self.withNode(extraArguments: ["--container-log-max-size", "64Ki", "--container-log-max-files", "2"]) { k in
            try await k.kubectlOK(["run", "chatty", "--image=keelson.local/busybox:1.0", "--", "sh", "-c",
                "i=0; while [ $i -lt 4000 ]; do echo filler line $i of the first burst; i=$((i+1)); done; n=0; while true; do echo tick $n; n=$((n+1)); sleep 0.2; done"])
            try await k.kubectlOK(["wait", "--for=condition=Ready", "pod/chatty", "--timeout=60s"])
            let logs = k.dataDir.appendingPathComponent("agent/logs")
            let deadline = ContinuousClock.now + .seconds(40)
            var rotated: [String] = []
            while rotated.isEmpty && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(500))
                let files = FileManager.default.enumerator(atPath: logs.path)?.allObjects as? [String] ?? []
                rotated = files.filter { $0.contains("chatty") && $0.contains(".log.") }
            }
            #expect(rotated.count == 1, "one rotated file kept (max files 2): \(rotated)")
            // The runtime writes on into the new file, which kubectl logs reads.
            try await Task.sleep(for: .seconds(1))
            let current = try await k.kubectlOK(["logs", "chatty"])
            #expect(!current.contains("filler line 0 "), "the old lines went with the rotated file")
            #expect(current.contains("tick "), "\(current.suffix(200))")
        }
    }

    @Test("under memory pressure (a threshold above what the machine has) the node reports it and pods are evicted")
    func memoryPressureEviction() async throws {
        // No test can safely exhaust the machine's memory; a threshold no machine meets makes every look a pressure.
        try await Self.withNode(extraArguments: ["--eviction-hard", "memory.available<1000Ti"]) { k in
            let node = try await Self.json(k, ["get", "node", "node-1"])
            let pressure = node["status"]?["conditions"]?.arrayValue?.first { $0["type"] == "MemoryPressure" }
            #expect(pressure?["status"] == "True" && pressure?["reason"] == "KubeletHasInsufficientMemory")
            // The node is tainted for it, so the scheduler sends no new pods; this one names its node itself.
            try await Self.waitFor(k, ["get", "node", "node-1"], "the memory-pressure taint") {
                $0["spec"]?["taints"]?.arrayValue?.contains { $0["key"] == "node.kubernetes.io/memory-pressure" } == true
            }
            try await k.kubectlOK(["apply", "-f", "-"], stdin: """
                apiVersion: v1
                kind: Pod
                metadata: {name: victim}
                spec:
                  nodeName: node-1
                  containers: [{name: main, image: "keelson.local/busybox:1.0", command: [sleep, "3600"]}]
                """)
            let pod = try await Self.waitFor(k, ["get", "pod", "victim"], "the pod evicted") { $0["status"]?["reason"] == "Evicted" }
            #expect(pod["status"]?["phase"] == "Failed")
            #expect(pod["status"]?["message"]?.stringValue?.hasPrefix("The node was low on resource: memory.") == true)
            let events = try await k.kubectlOK(["get", "events", "--field-selector", "involvedObject.name=victim"])
            #expect(events.contains("Evicted"), "\(events)")
            try await Self.waitFor(k, ["get", "pod", "victim"], "its container stopped") { Self.container($0)?["state"]?["running"] == nil }
        }
    }

    /// A read-only registry for the test, inside the node's namespace on 127.0.0.1:5000: the OCI archive's image
    /// under any name and tag, its blobs by digest, behind Basic authentication.
    static let registry = #"""
        import base64, http.server, json, sys, tarfile
        archive, user = sys.argv[1], sys.argv[2]
        layout = tarfile.open(archive)
        blobs = {"sha256:" + m.name.split("/")[-1]: layout.extractfile(m).read()
                 for m in layout.getmembers() if m.name.startswith("blobs/sha256/") and m.isfile()}
        manifest = json.loads(layout.extractfile("index.json").read())["manifests"][0]["digest"]
        expected = "Basic " + base64.b64encode(user.encode()).decode()
        class Registry(http.server.BaseHTTPRequestHandler):
            def do_GET(self): self.answer(True)
            def do_HEAD(self): self.answer(False)
            def answer(self, with_body):
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="test"')
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
                reference = self.path.rsplit("/", 1)[-1]
                if self.path.rstrip("/") == "/v2":
                    data, kind, digest = b"{}", "application/json", None
                elif "/manifests/" in self.path:
                    digest = reference if reference.startswith("sha256:") else manifest
                    data, kind = blobs.get(digest), "application/vnd.oci.image.manifest.v1+json"
                else:
                    digest = reference
                    data, kind = blobs.get(digest), "application/octet-stream"
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                if digest: self.send_header("Docker-Content-Digest", digest)
                self.end_headers()
                if with_body: self.wfile.write(data)
            def log_message(self, *arguments): pass
        http.server.ThreadingHTTPServer(("127.0.0.1", 5000), Registry).serve_forever()
        """#

    @Test("image garbage collection above its threshold removes an unused image, keeps the one a pod runs and the sandbox image, and reports a shortfall")
    func imageGarbageCollection() async throws {
        // Thresholds of 0%: every round wants the whole disk freed, so it removes all it may and says it fell short.
        try await Self.withNode(extraArguments: ["--image-gc-high-threshold", "0", "--image-gc-low-threshold", "0",
            "--image-minimum-gc-age", "15s", "--image-gc-period", "1s"]) { k in
            func images() throws -> [String] {
                let socket = k.dataDir.appendingPathComponent("agent/containerd/containerd.sock").path
                let listed = try KeelsonProcess.run("/usr/bin/ctr", ["--address", socket, "--namespace", "k8s.io", "images", "ls", "-q"])
                return listed.stdout.split(separator: "\n").map(String.init)
            }
            #expect(try images().contains("keelson.local/spare:1.0"), "imported at start")
            // Started well within the minimum age, so its image is in use by the time it may be collected.
            try await k.kubectlOK(["run", "box", "--image=keelson.local/busybox:1.0", "--", "sleep", "3600"])
            try await k.kubectlOK(["wait", "--for=condition=Ready", "pod/box", "--timeout=60s"])
            try await eventually(seconds: 60) { try !images().contains("keelson.local/spare:1.0") }
            let left = try images()
            #expect(left.contains("keelson.local/busybox:1.0"), "in use: \(left)")
            #expect(left.contains("keelson.local/pause:1.0"), "the sandbox image is pinned: \(left)")
            let events = try await Self.waitFor(k, ["get", "events", "--field-selector", "reason=FreeDiskSpaceFailed"], "the shortfall event") {
                !($0["items"]?.arrayValue ?? []).isEmpty
            }
            let event = events["items"]?[0]
            #expect(event?["involvedObject"]?["kind"] == "Node" && event?["type"] == "Warning")
            #expect(event?["message"]?.stringValue?.hasPrefix("Failed to garbage collect required amount of images.") == true)
        }
    }

    @Test("images are pulled through CRI: a registry that wants credentials fails the pull until imagePullSecrets give them")
    func registryPull() async throws {
        let mirrors = """
            mirrors:
              "127.0.0.1:5000":
                endpoint: ["http://127.0.0.1:5000"]
            """
        try await Self.withNode(prepare: { dataDir in
            try FileManager.default.createDirectory(at: dataDir.appendingPathComponent("agent"), withIntermediateDirectories: true)
            try mirrors.write(to: dataDir.appendingPathComponent("agent/registries.yaml"), atomically: true, encoding: .utf8)
        }) { k in
            let archive = try NodeSandbox.imageCache.get().appendingPathComponent("busybox.tar").path
            let (executable, arguments) = k.node!.wrap("/usr/bin/env", ["python3", "-c", Self.registry, archive, "puller:s3cret"])
            let registry = Process()
            registry.executableURL = URL(fileURLWithPath: executable)
            registry.arguments = arguments
            // Not the test's own output: a child holding it open would keep the test runner waiting after the end.
            registry.standardOutput = FileHandle.nullDevice
            registry.standardError = FileHandle.nullDevice
            try registry.run()
            defer {
                kill(registry.processIdentifier, SIGKILL)
                registry.waitUntilExit()
            }

            let image = "127.0.0.1:5000/tools/box:2.0"
            try await k.kubectlOK(["run", "denied", "--image=\(image)", "--", "sleep", "3600"])
            let denied = try await Self.waitFor(k, ["get", "pod", "denied"], "the pull to fail") {
                ["ErrImagePull", "ImagePullBackOff"].contains(Self.container($0)?["state"]?["waiting"]?["reason"]?.stringValue ?? "")
            }
            #expect(Self.container(denied)?["state"]?["waiting"]?["message"]?.stringValue?.contains(image) == true)
            try await Self.waitFor(k, ["get", "pod", "denied"], "the pull back-off") {
                Self.container($0)?["state"]?["waiting"]?["reason"] == "ImagePullBackOff"
            }

            try await k.kubectlOK(["create", "secret", "docker-registry", "pull", "--docker-server=127.0.0.1:5000",
                "--docker-username=puller", "--docker-password=s3cret"])
            try await k.kubectlOK(["run", "allowed", "--image=\(image)", "--overrides", #"{"spec":{"imagePullSecrets":[{"name":"pull"}]}}"#,
                "--", "sleep", "3600"])
            let pod = try await Self.waitFor(k, ["get", "pod", "allowed"], "the pod Ready with the pulled image") { Self.container($0)?["ready"] == true }
            // A pulled image is known by its digest (`REPO@sha256:…` or the image ID), as the runtime reports it.
            #expect(Self.container(pod)?["imageID"]?.stringValue?.contains("sha256:") == true, "\(pod.encodedString())")
            #expect(Self.container(pod)?["image"] == .string(image))
        }
    }

    @Test("a crashing container restarts with a growing back-off, shown as CrashLoopBackOff; logs --previous reads the last run")
    func crashLoop() async throws {
        try await Self.withNode { k in
            try await k.kubectlOK(["run", "crash", "--image=keelson.local/busybox:1.0", "--", "sh", "-c", "echo run at $(date +%s); exit 3"])
            let pod = try await Self.waitFor(k, ["get", "pod", "crash"], "two restarts") {
                ($0["status"]?["containerStatuses"]?[0]?["restartCount"]?.intValue ?? 0) >= 2
                    && $0["status"]?["containerStatuses"]?[0]?["state"]?["waiting"]?["reason"] == "CrashLoopBackOff"
            }
            let status = try #require(Self.container(pod))
            #expect(status["lastState"]?["terminated"]?["exitCode"] == 3)
            #expect(status["lastState"]?["terminated"]?["reason"] == "Error")
            #expect(status["ready"] == false)
            let message = status["state"]?["waiting"]?["message"]?.stringValue ?? ""
            #expect(message.contains("back-off") && message.contains("restarting failed container=crash"), "\(message)")
            #expect(try await k.kubectlOK(["get", "pod", "crash"]).contains("CrashLoopBackOff"))
            #expect(try await k.kubectlOK(["logs", "crash", "--previous"]).hasPrefix("run at "))
            let events = try await k.kubectlOK(["get", "events", "--field-selector", "involvedObject.name=crash"])
            #expect(events.contains("BackOff") && events.contains("Started"), "\(events)")
            // The back-off grows: the third start comes at least 10 s after the second ended (the first restart is
            // immediate, as in Kubernetes).
            let third = try await Self.waitFor(k, ["get", "pod", "crash"], timeout: .seconds(90), "a third restart") {
                ($0["status"]?["containerStatuses"]?[0]?["restartCount"]?.intValue ?? 0) >= 3
            }
            // The third start: the current instance, running or ended, or the last one while it waits again.
            let state = Self.container(third)?["state"]
            let instance = state?["running"] ?? state?["terminated"] ?? Self.container(third)?["lastState"]?["terminated"]
            let started = instance?["startedAt"]?.stringValue.flatMap(Timestamp.parse)
            let previousEnd = status["lastState"]?["terminated"]?["finishedAt"]?.stringValue.flatMap(Timestamp.parse)
            if let started, let previousEnd {
                #expect(started.timeIntervalSince(previousEnd) >= 9, "back-off between restarts: \(started.timeIntervalSince(previousEnd)) s")
            }
        }
    }

    @Test("ConfigMaps and Secrets reach a container as env and files; $(VAR) expands in args; downward API fields; a memory-backed emptyDir")
    func configurationReachesContainers() async throws {
        try await Self.withNode { k in
            try await k.kubectlOK(["create", "configmap", "settings", "--from-literal=color=blue", "--from-literal=size=large"])
            try await k.kubectlOK(["create", "secret", "generic", "creds", "--from-literal=password=s3cret"])
            let manifest = """
                apiVersion: v1
                kind: Pod
                metadata: {name: reader, labels: {app: reader}}
                spec:
                  restartPolicy: Never
                  containers:
                  - name: main
                    image: keelson.local/busybox:1.0
                    command: ["sh", "-c"]
                    args: ["echo color=$COLOR pass=$PASSWORD pod=$(POD_NAME) ns=$POD_NAMESPACE ip=$POD_IP; cat /config/size; echo; cat /secret/password; echo; cat /info/labels; echo; grep ' /scratch ' /proc/mounts"]
                    env:
                    - {name: COLOR, valueFrom: {configMapKeyRef: {name: settings, key: color}}}
                    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
                    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
                    - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
                    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
                    volumeMounts:
                    - {name: config, mountPath: /config}
                    - {name: secret, mountPath: /secret, readOnly: true}
                    - {name: info, mountPath: /info}
                    - {name: scratch, mountPath: /scratch}
                  volumes:
                  - {name: scratch, emptyDir: {medium: Memory, sizeLimit: 64Mi}}
                  - {name: config, configMap: {name: settings}}
                  - {name: secret, secret: {secretName: creds}}
                  - name: info
                    downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
                """
            try await k.kubectlOK(["apply", "-f", "-"], stdin: manifest)
            let pod = try await Self.waitFor(k, ["get", "pod", "reader"], "the pod to succeed") { $0["status"]?["phase"] == "Succeeded" }
            let ip = pod["status"]?["podIP"]?.stringValue ?? "?"
            let logs = try await k.kubectlOK(["logs", "reader"])
            #expect(logs.hasPrefix("color=blue pass=s3cret pod=reader ns=default ip=\(ip)\nlarge\ns3cret\napp=\"reader\"\n"), "\(logs)")
            // The memory-backed volume is a tmpfs of its size limit.
            let scratch = logs.split(separator: "\n").last.map(String.init) ?? ""
            #expect(scratch.hasPrefix("tmpfs /scratch tmpfs ") && scratch.contains("size=65536k"), "\(logs)")
            #expect(Self.container(pod)?["state"]?["terminated"]?["reason"] == "Completed")
            let uid = try #require(pod["metadata"]?["uid"]?.stringValue)
            #expect(Self.mountPoints(containing: uid).count == 1, "the tmpfs is mounted on the node while the pod exists")
            try await k.kubectlOK(["delete", "pod", "reader"])
            try await eventually(seconds: 30) { Self.mountPoints(containing: uid).isEmpty }

            // A missing key is the user's to fix: the container waits with CreateContainerConfigError.
            try await k.kubectlOK(["run", "broken", "--image=keelson.local/busybox:1.0", "--overrides",
                #"{"spec":{"containers":[{"name":"broken","image":"keelson.local/busybox:1.0","env":[{"name":"X","valueFrom":{"configMapKeyRef":{"name":"settings","key":"nope"}}}]}]}}"#])
            let broken = try await Self.waitFor(k, ["get", "pod", "broken"], "a config error") {
                $0["status"]?["containerStatuses"]?[0]?["state"]?["waiting"]?["reason"] == "CreateContainerConfigError"
            }
            let message = Self.container(broken)?["state"]?["waiting"]?["message"]?.stringValue ?? ""
            #expect(message.contains("nope") && message.contains("settings"), "\(message)")
        }
    }

    /// Mount points on this machine whose path contains `text` (a pod's UID: its volumes' directories).
    static func mountPoints(containing text: String) -> [String] {
        let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return table.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count > 4 && fields[4].contains(text) ? String(fields[4]) : nil
        }
    }

    @Test("probes: readiness gates Ready, a failing liveness probe restarts the container; grpc probes against a gRPC server in the pod")
    func probes() async throws {
        try await Self.withNode { k in
            let manifest = """
                apiVersion: v1
                kind: Pod
                metadata: {name: probed}
                spec:
                  terminationGracePeriodSeconds: 2
                  containers:
                  - name: slow
                    image: keelson.local/busybox:1.0
                    command: ["sh", "-c", "sleep 3; touch /tmp/ready; exec httpd -f -p 8080 -h /www"]
                    readinessProbe:
                      exec: {command: [cat, /tmp/ready]}
                      periodSeconds: 1
                    livenessProbe:
                      tcpSocket: {port: 8080}
                      initialDelaySeconds: 5
                      periodSeconds: 1
                  - name: doomed
                    image: keelson.local/busybox:1.0
                    command: ["sh", "-c", "exec httpd -f -p 9090 -h /www"]
                    livenessProbe:
                      httpGet: {path: /missing, port: 9090}
                      periodSeconds: 1
                      failureThreshold: 2
                    readinessProbe:
                      httpGet: {path: /, port: 9090}
                      periodSeconds: 1
                """
            try await k.kubectlOK(["apply", "-f", "-"], stdin: manifest)
            let early = try await Self.waitFor(k, ["get", "pod", "probed"], "both containers running") { pod in
                (0..<2).allSatisfy { pod["status"]?["containerStatuses"]?[$0]?["state"]?["running"] != nil }
            }
            // Statuses are sorted by container name, as kubelet sorts them: doomed, then slow.
            #expect(early["status"]?["containerStatuses"]?[1]?["ready"] == false, "the slow container is not ready before its file exists")
            try await Self.waitFor(k, ["get", "pod", "probed"], "the slow container ready") {
                $0["status"]?["containerStatuses"]?[1]?["name"] == "slow" && $0["status"]?["containerStatuses"]?[1]?["ready"] == true
            }
            let restarted = try await Self.waitFor(k, ["get", "pod", "probed"], "the doomed container restarted by its liveness probe") {
                ($0["status"]?["containerStatuses"]?[0]?["restartCount"]?.intValue ?? 0) >= 1
            }
            #expect(restarted["status"]?["containerStatuses"]?[1]?["restartCount"] == 0, "the healthy container keeps running")

            // grpc probes against a real gRPC server in the pod: the node's etcd, whose health service answers
            // SERVING for the server as a whole and NOT_FOUND for a service it does not know (the busybox image
            // has no gRPC server; etcd and the C library it links are mounted from the node).
            let grpcManifest = """
                apiVersion: v1
                kind: Pod
                metadata: {name: grpc-probed}
                spec:
                  terminationGracePeriodSeconds: 1
                  volumes:
                  - {name: etcd, hostPath: {path: /usr/bin/etcd, type: File}}
                  - {name: libc, hostPath: {path: /lib/x86_64-linux-gnu, type: Directory}}
                  containers:
                  - name: etcd
                    image: keelson.local/busybox:1.0
                    command: ["/hostlib/ld-linux-x86-64.so.2", "--library-path", "/hostlib", "/opt/etcd", "--data-dir=/tmp/etcd",
                      "--listen-client-urls=http://0.0.0.0:2379", "--advertise-client-urls=http://127.0.0.1:2379",
                      "--listen-peer-urls=http://127.0.0.1:2380"]
                    volumeMounts:
                    - {name: etcd, mountPath: /opt/etcd, readOnly: true}
                    - {name: libc, mountPath: /hostlib, readOnly: true}
                    readinessProbe:
                      grpc: {port: 2379}
                      periodSeconds: 1
                  - name: watched
                    image: keelson.local/busybox:1.0
                    command: ["sleep", "3600"]
                    livenessProbe:
                      grpc: {port: 2379, service: keelson.test.Unknown}
                      initialDelaySeconds: 3
                      periodSeconds: 1
                      failureThreshold: 2
                """
            try await k.kubectlOK(["apply", "-f", "-"], stdin: grpcManifest)
            let served = try await Self.waitFor(k, ["get", "pod", "grpc-probed"], "etcd ready by its grpc probe") {
                $0["status"]?["containerStatuses"]?[0]?["name"] == "etcd" && $0["status"]?["containerStatuses"]?[0]?["ready"] == true
            }
            #expect(served["status"]?["containerStatuses"]?[0]?["restartCount"] == 0, "\(served)")
            try await Self.waitFor(k, ["get", "pod", "grpc-probed"], "the container restarted by a grpc liveness probe answered NOT_FOUND") {
                ($0["status"]?["containerStatuses"]?[1]?["restartCount"]?.intValue ?? 0) >= 1
            }
        }
    }

    @Test("deletion runs the preStop hook, then SIGTERM, within the grace period")
    func gracefulTermination() async throws {
        try await Self.withNode { k in
            let shared = k.dataDir.appendingPathComponent("shared")
            try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: true)
            let manifest = """
                apiVersion: v1
                kind: Pod
                metadata: {name: polite}
                spec:
                  terminationGracePeriodSeconds: 20
                  containers:
                  - name: main
                    image: keelson.local/busybox:1.0
                    command: ["sh", "-c", "trap 'echo term >> /shared/log; exit 0' TERM; while true; do sleep 0.2; done"]
                    lifecycle:
                      preStop:
                        exec: {command: ["sh", "-c", "echo prestop >> /shared/log"]}
                    volumeMounts: [{name: shared, mountPath: /shared}]
                  volumes:
                  - {name: shared, hostPath: {path: \(shared.path), type: Directory}}
                """
            try await k.kubectlOK(["apply", "-f", "-"], stdin: manifest)
            try await k.kubectlOK(["wait", "--for=condition=Ready", "pod/polite", "--timeout=60s"])
            let start = ContinuousClock.now
            try await k.kubectlOK(["delete", "pod", "polite", "--wait=true", "--timeout=60s"])
            let took = ContinuousClock.now - start
            #expect(took < .seconds(15), "the container ended on SIGTERM instead of waiting out its grace period: \(took)")
            let log = try String(contentsOf: shared.appendingPathComponent("log"), encoding: .utf8)
            #expect(log == "prestop\nterm\n")
        }
    }

    @Test("a Deployment of 3 replicas rolls to a new image")
    func deploymentRollout() async throws {
        try await Self.withNode { k in
            // httpd as PID 1 ignores SIGTERM: a short grace period keeps each replaced pod's SIGKILL near.
            let manifest = """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: web}
                spec:
                  replicas: 3
                  selector: {matchLabels: {app: web}}
                  template:
                    metadata: {labels: {app: web}}
                    spec:
                      terminationGracePeriodSeconds: 1
                      containers:
                      - {name: busybox, image: "keelson.local/busybox:1.0", command: [httpd, -f, -p, "8080", -h, /www]}
                """
            try await k.kubectlOK(["apply", "-f", "-"], stdin: manifest)
            try await k.kubectlOK(["rollout", "status", "deployment/web", "--timeout=90s"])
            try await k.kubectlOK(["set", "image", "deployment/web", "busybox=keelson.local/busybox:1.1"])
            try await k.kubectlOK(["rollout", "status", "deployment/web", "--timeout=90s"])
            let pods = try await Self.waitFor(k, ["get", "pods", "-l", "app=web"], "only the new pods") { list in
                let items = list["items"]?.arrayValue ?? []
                return items.count == 3 && items.allSatisfy {
                    $0["spec"]?["containers"]?[0]?["image"] == "keelson.local/busybox:1.1" && $0["status"]?["phase"] == "Running"
                }
            }
            let addresses = Set((pods["items"]?.arrayValue ?? []).compactMap { $0["status"]?["podIP"]?.stringValue })
            #expect(addresses.count == 3, "each pod has its own address: \(addresses)")
            for address in addresses { #expect(try await Self.fetch(k.node!, "http://\(address):8080/") == "hello from keelson\n") }
        }
    }

    @Test("a manifest in pod-manifests runs as a static pod with a mirror pod; removing the file removes the pod")
    func staticPod() async throws {
        try await Self.withNode { k in
            let manifests = k.dataDir.appendingPathComponent("agent/pod-manifests")
            try FileManager.default.createDirectory(at: manifests, withIntermediateDirectories: true)
            let manifest = """
                apiVersion: v1
                kind: Pod
                metadata: {name: static-web, namespace: kube-system, labels: {tier: node}}
                spec:
                  containers:
                  - {name: web, image: "keelson.local/busybox:1.0", command: [httpd, -f, -p, "8080", -h, /www]}
                  terminationGracePeriodSeconds: 1
                """
            try manifest.write(to: manifests.appendingPathComponent("web.yaml"), atomically: true, encoding: .utf8)
            let pod = try await Self.waitFor(k, ["get", "pod", "-n", "kube-system", "static-web-node-1"], "the mirror pod Ready") {
                $0["status"]?["conditions"]?.arrayValue?.contains { $0["type"] == "Ready" && $0["status"] == "True" } == true
            }
            #expect(pod["metadata"]?["annotations"]?["kubernetes.io/config.mirror"]?.stringValue?.isEmpty == false)
            #expect(pod["metadata"]?["ownerReferences"]?[0]?["kind"] == "Node")
            #expect(pod["spec"]?["nodeName"] == "node-1")
            let ip = try #require(pod["status"]?["podIP"]?.stringValue)
            #expect(try await Self.fetch(k.node!, "http://\(ip):8080/") == "hello from keelson\n")

            try FileManager.default.removeItem(at: manifests.appendingPathComponent("web.yaml"))
            try await Self.waitFor(k, ["get", "pods", "-n", "kube-system"], "the mirror pod gone") {
                !($0["items"]?.arrayValue ?? []).contains { $0["metadata"]?["name"] == "static-web-node-1" }
            }
        }
    }

    @Test("a restart of the agent keeps containers running, and a killed containerd is restarted without losing them")
    func agentRestartAndContainerdCrash() async throws {
        try await Self.withNode { k in
            try await k.kubectlOK(["apply", "-f", "-"], stdin: """
                apiVersion: v1
                kind: Pod
                metadata: {name: steady}
                spec:
                  containers:
                  - name: steady
                    image: keelson.local/busybox:1.0
                    command: [sh, -c, "touch /tmp/ok; exec sleep 3600"]
                    readinessProbe: {exec: {command: [cat, /tmp/ok]}, periodSeconds: 1}
                """)
            try await k.kubectlOK(["wait", "--for=condition=Ready", "pod/steady", "--timeout=60s"])
            let before = try await Self.json(k, ["get", "pod", "steady"])
            let id = Self.container(before)?["containerID"]

            try await k.stop()
            try await k.start()
            try await Self.waitForReadyNode(k)
            let after = try await Self.waitFor(k, ["get", "pod", "steady"], "the adopted pod") {
                Self.container($0)?["ready"] == true
            }
            #expect(Self.container(after)?["containerID"] == id, "the same container, not a new one")
            #expect(Self.container(after)?["restartCount"] == 0)
            // The adopted container is probed again: once its probe fails, it is no longer ready.
            try await k.kubectlOK(["exec", "steady", "--", "rm", "/tmp/ok"])
            try await Self.waitFor(k, ["get", "pod", "steady"], "readiness probed again after the restart") { Self.container($0)?["ready"] == false }
            try await k.kubectlOK(["exec", "steady", "--", "touch", "/tmp/ok"])
            try await Self.waitFor(k, ["get", "pod", "steady"], "ready again") { Self.container($0)?["ready"] == true }

            let config = k.dataDir.appendingPathComponent("agent/containerd/config.toml").path
            let containerd = NodeSandbox.processes(withArgument: config)
            try #require(containerd.count == 1)
            kill(containerd[0], SIGKILL)
            // The supervisor starts a new containerd; new pods run, the old one was never touched.
            try await k.kubectlOK(["run", "later", "--image=keelson.local/busybox:1.0", "--", "sleep", "3600"])
            try await k.kubectlOK(["wait", "--for=condition=Ready", "pod/later", "--timeout=60s"])
            #expect(NodeSandbox.processes(withArgument: config).first != containerd[0])
            let still = try await Self.json(k, ["get", "pod", "steady"])
            #expect(Self.container(still)?["containerID"] == id)
            #expect(Self.container(still)?["restartCount"] == 0)
        }
    }
}

extension JSONValue {
    /// The element at `index` of an array, nil past its end or for anything else.
    subscript(index: Int) -> JSONValue? {
        guard let array = arrayValue, array.indices.contains(index) else { return nil }
        return array[index]
    }
}
