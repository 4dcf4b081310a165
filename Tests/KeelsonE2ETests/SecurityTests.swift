import Foundation
import KeelsonTestKit
import Testing

/// TLS, authentication and RBAC as the real kubectl meets them.
@Suite("Security", .serialized)
struct SecurityTests {
    /// A kubeconfig for the server with the given user entry (YAML lines under `user:`), trusting `caFile`.
    static func kubeconfig(_ k: KeelsonProcess, caFile: String? = nil, user: String) throws -> String {
        let path = k.dataDir.appendingPathComponent("kubeconfig-\(UUID().uuidString).yaml").path
        let ca = caFile ?? k.dataDir.appendingPathComponent("server/tls/server-ca.crt").path
        try """
            apiVersion: v1
            kind: Config
            clusters:
            - cluster: {server: "https://127.0.0.1:\(k.port)", certificate-authority: "\(ca)"}
              name: c
            contexts:
            - context: {cluster: c, user: u}
              name: c
            current-context: c
            users:
            - name: u
              user: \(user)

            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// kubectl's words for a 401: "Unauthorized" from a request, "provide credentials" from its discovery.
    static func unauthorized(_ output: KeelsonProcess.Output) -> Bool {
        output.status != 0 && (output.stderr.contains("Unauthorized") || output.stderr.contains("asked for the client to provide credentials"))
    }

    /// A user entry that sends no credential (a blank bearer token): given a user with nothing, kubectl would stop
    /// to prompt for a name.
    static let nobody = "{token: \" \"}"

    static func openssl(_ arguments: [String]) throws {
        let output = try Command.run("/usr/bin/openssl", arguments)
        guard output.status == 0 else { throw KeelsonProcess.Failure("openssl \(arguments.first ?? ""): \(output.stderr)") }
    }

    @Test("the written kubeconfig verifies the server's CA; no credentials, a self-signed or a foreign certificate get 401")
    func kubeconfigAndCertificates() async throws {
        try await withKeelson { k in
            let written = try String(contentsOfFile: k.kubeconfig, encoding: .utf8)
            #expect(written.contains("server: https://127.0.0.1:\(k.port)") && written.contains("certificate-authority-data:")
                && written.contains("client-certificate-data:") && !written.contains("insecure-skip-tls-verify"))
            let mode = try FileManager.default.attributesOfItem(atPath: k.kubeconfig)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            let whoami = try await k.kubectlOK(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}"])
            #expect(whoami == #"system:admin ["system:masters","system:authenticated"]"#)

            let anonymous = try await k.kubectl(["get", "namespaces"], environment: ["KUBECONFIG": try Self.kubeconfig(k, user: Self.nobody)])
            #expect(Self.unauthorized(anonymous), "\(anonymous.stderr)")

            // A certificate of its own making, and one from another CA with the admin's name: neither is anyone.
            let dir = k.dataDir.appendingPathComponent("strangers").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Self.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/O=system:masters/CN=system:admin",
                "-days", "1", "-keyout", "\(dir)/self.key", "-out", "\(dir)/self.crt"])
            let selfSigned = try await k.kubectl(["get", "namespaces"], environment: ["KUBECONFIG": try Self.kubeconfig(k,
                user: "{client-certificate: \"\(dir)/self.crt\", client-key: \"\(dir)/self.key\"}")])
            #expect(Self.unauthorized(selfSigned), "\(selfSigned.stderr)")
            // The server's own CA signs serving certificates, not users.
            try Self.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/O=system:masters/CN=mallory",
                "-keyout", "\(dir)/m.key", "-out", "\(dir)/m.csr"])
            let tls = k.dataDir.appendingPathComponent("server/tls").path
            try Self.openssl(["x509", "-req", "-in", "\(dir)/m.csr", "-CA", "\(tls)/server-ca.crt", "-CAkey", "\(tls)/server-ca.key",
                "-CAcreateserial", "-days", "1", "-out", "\(dir)/m.crt"])
            let wrongCA = try await k.kubectl(["get", "namespaces"], environment: ["KUBECONFIG": try Self.kubeconfig(k,
                user: "{client-certificate: \"\(dir)/m.crt\", client-key: \"\(dir)/m.key\"}")])
            #expect(Self.unauthorized(wrongCA), "\(wrongCA.stderr)")

            // And the client checks the server: trusting another CA, kubectl refuses to talk.
            let distrust = try await k.kubectl(["get", "namespaces"], environment: ["KUBECONFIG": try Self.kubeconfig(k, caFile: "\(dir)/self.crt",
                user: Self.nobody)])
            #expect(distrust.status != 0 && distrust.stderr.contains("x509"), "\(distrust.stderr)")
            let health = try await k.kubectl(["get", "--raw", "/readyz"], environment: ["KUBECONFIG": try Self.kubeconfig(k, user: Self.nobody)])
            #expect(health.status == 0 && health.stdout == "ok", "health is public")
        }
    }

    @Test("a user certificate from a CertificateSigningRequest approved with kubectl; RBAC then grants exactly what is bound")
    func certificateRequestAndRBAC() async throws {
        try await withKeelson { k in
            let dir = k.dataDir.appendingPathComponent("jane").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Self.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/O=devs/CN=jane",
                "-keyout", "\(dir)/jane.key", "-out", "\(dir)/jane.csr"])
            let request = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/jane.csr")).base64EncodedString()
            try await k.kubectlOK(["create", "-f", "-"], stdin: """
                apiVersion: certificates.k8s.io/v1
                kind: CertificateSigningRequest
                metadata: {name: jane}
                spec:
                  request: \(request)
                  signerName: kubernetes.io/kube-apiserver-client
                  expirationSeconds: 86400
                  usages: [client auth]
                """)
            #expect(try await k.kubectlOK(["get", "csr", "jane"]).contains("Pending"), "a client request waits for an administrator")
            try await k.kubectlOK(["certificate", "approve", "jane"])
            try await eventually(seconds: 20) {
                !(try await k.kubectlOK(["get", "csr", "jane", "-o", "jsonpath={.status.certificate}"])).isEmpty
            }
            let certificate = Data(base64Encoded: try await k.kubectlOK(["get", "csr", "jane", "-o", "jsonpath={.status.certificate}"])) ?? Data()
            try certificate.write(to: URL(fileURLWithPath: "\(dir)/jane.crt"))
            let jane = ["KUBECONFIG": try Self.kubeconfig(k, user: "{client-certificate: \"\(dir)/jane.crt\", client-key: \"\(dir)/jane.key\"}")]
            #expect(try await k.kubectlOK(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}/{.status.userInfo.groups}"], environment: jane)
                == #"jane/["devs","system:authenticated"]"#)
            let refused = try await k.kubectl(["get", "pods"], environment: jane)
            #expect(refused.status != 0 && refused.stderr.contains(
                #"pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "default""#), "\(refused.stderr)")

            try await k.kubectlOK(["create", "rolebinding", "devs-edit", "--clusterrole=edit", "--group=devs", "--namespace=default"])
            try await eventually(seconds: 10) { try await k.kubectl(["get", "pods"], environment: jane).status == 0 }
            #expect(try await k.kubectl(["create", "configmap", "mine"], environment: jane).status == 0)
            #expect(try await k.kubectl(["get", "pods", "-n", "kube-system"], environment: jane).status != 0, "the binding is for default only")
            #expect(try await k.kubectl(["create", "rolebinding", "jane-admin", "--clusterrole=admin", "--user=jane"], environment: jane).status != 0,
                "edit does not let her grant herself admin")
            #expect(try await k.kubectlOK(["auth", "can-i", "create", "deployments", "--as=jane", "--as-group=devs"]) == "yes\n")
            #expect(try await k.kubectl(["auth", "can-i", "delete", "nodes", "--as=jane", "--as-group=devs"]).stdout == "no\n")
            let list = try await k.kubectlOK(["auth", "can-i", "--list", "--as=system:serviceaccount:default:default"])
            #expect(list.contains("selfsubjectaccessreviews.authorization.k8s.io") && list.contains("[/version]") && !list.contains("pods "), "\(list)")
        }
    }

    @Test("--token-auth-file users authenticate with kubectl --token; a wrong token is 401")
    func tokenFile() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-tokens-\(UUID().uuidString).csv")
        defer { try? FileManager.default.removeItem(at: file) }
        try "s3cret-token,robot,r-1,\"ops,devs\"\n".write(to: file, atomically: true, encoding: .utf8)
        try await withKeelson(extraArguments: ["--token-auth-file", file.path]) { k in
            let robot = ["KUBECONFIG": try Self.kubeconfig(k, user: "{token: s3cret-token}")]
            #expect(try await k.kubectlOK(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.uid}"], environment: robot)
                == "robot r-1")
            let wrong = try await k.kubectl(["get", "ns"], environment: ["KUBECONFIG": try Self.kubeconfig(k, user: "{token: wrong}")])
            #expect(Self.unauthorized(wrong), "\(wrong.stderr)")
        }
    }

    @Test("kubectl create token: the token acts as the service account, RBAC decides for it, and it dies with the account")
    func serviceAccountToken() async throws {
        try await withKeelson { k in
            try await k.kubectlOK(["create", "serviceaccount", "deployer"])
            let token = try await k.kubectlOK(["create", "token", "deployer", "--duration=15m"]).trimmingCharacters(in: .whitespacesAndNewlines)
            let asDeployer = ["KUBECONFIG": try Self.kubeconfig(k, user: "{token: \"\(token)\"}")]
            #expect(try await k.kubectlOK(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"], environment: asDeployer)
                == "system:serviceaccount:default:deployer")
            let refused = try await k.kubectl(["get", "deployments"], environment: asDeployer)
            #expect(refused.stderr.contains(#"User "system:serviceaccount:default:deployer" cannot list resource "deployments" in API group "apps""#),
                "\(refused.stderr)")
            try await k.kubectlOK(["create", "rolebinding", "deployer-edit", "--clusterrole=edit", "--serviceaccount=default:deployer"])
            try await eventually(seconds: 10) { try await k.kubectl(["get", "deployments"], environment: asDeployer).status == 0 }
            let list = try await k.kubectlOK(["auth", "can-i", "--list", "--as=system:serviceaccount:default:deployer"])
            #expect(list.contains("deployments.apps") && list.contains("pods/exec"), "\(list)")
            try await k.kubectlOK(["delete", "serviceaccount", "deployer"])
            #expect(Self.unauthorized(try await k.kubectl(["get", "deployments"], environment: asDeployer)))
        }
    }

    /// A client certificate for `subject` (`/O=…/CN=…`) through a CertificateSigningRequest an administrator
    /// approves; returns a KUBECONFIG environment using it.
    static func identity(_ k: KeelsonProcess, _ name: String, subject: String) async throws -> [String: String] {
        let dir = k.dataDir.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", subject,
            "-keyout", "\(dir)/key.pem", "-out", "\(dir)/csr.pem"])
        let request = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/csr.pem")).base64EncodedString()
        try await k.kubectlOK(["create", "-f", "-"], stdin: """
            apiVersion: certificates.k8s.io/v1
            kind: CertificateSigningRequest
            metadata: {name: \(name)}
            spec: {request: \(request), signerName: kubernetes.io/kube-apiserver-client, usages: [client auth]}
            """)
        try await k.kubectlOK(["certificate", "approve", name])
        try await eventually(seconds: 20) { !(try await k.kubectlOK(["get", "csr", name, "-o", "jsonpath={.status.certificate}"])).isEmpty }
        let certificate = Data(base64Encoded: try await k.kubectlOK(["get", "csr", name, "-o", "jsonpath={.status.certificate}"])) ?? Data()
        try certificate.write(to: URL(fileURLWithPath: "\(dir)/cert.pem"))
        return ["KUBECONFIG": try kubeconfig(k, user: "{client-certificate: \"\(dir)/cert.pem\", client-key: \"\(dir)/key.pem\"}")]
    }

    @Test("a kubelet's identity reads the secret of a pod bound to its node, and not one of another node's pod")
    func nodeIdentity() async throws {
        try await withKeelson { k in
            let node = try await Self.identity(k, "ghost", subject: "/O=system:nodes/CN=system:node:ghost")
            try await k.kubectlOK(["create", "secret", "generic", "for-ghost", "--from-literal=a=b"])
            try await k.kubectlOK(["create", "secret", "generic", "for-other", "--from-literal=a=b"])
            for (pod, nodeName, secret) in [("on-ghost", "ghost", "for-ghost"), ("on-other", "other", "for-other")] {
                try await k.kubectlOK(["create", "-f", "-"], stdin: """
                    apiVersion: v1
                    kind: Pod
                    metadata: {name: \(pod)}
                    spec:
                      nodeName: \(nodeName)
                      containers: [{name: c, image: registry.example/c:1}]
                      volumes: [{name: s, secret: {secretName: \(secret)}}]
                    """)
            }
            try await eventually(seconds: 10) { try await k.kubectl(["get", "secret", "for-ghost"], environment: node).status == 0 }
            let refused = try await k.kubectl(["get", "secret", "for-other"], environment: node)
            #expect(refused.status != 0 && refused.stderr.contains("no relationship found between node 'ghost' and this object"), "\(refused.stderr)")
            #expect(try await k.kubectl(["get", "secrets"], environment: node).status != 0, "a node lists no secrets")
            #expect(try await k.kubectl(["get", "pods"], environment: node).status == 0, "but reads pods, as system:node allows")
        }
    }

    @Test("a ResourceQuota blocks the pod that would exceed it, with Kubernetes' message")
    func quotaBlocksPods() async throws {
        try await withKeelson { k in
            try await k.kubectlOK(["create", "quota", "two-pods", "--hard=pods=2"])
            try await eventually(seconds: 20) {
                try await k.kubectlOK(["get", "quota", "two-pods", "-o", "jsonpath={.status.used.pods}"]) == "0"
            }
            try await k.kubectlOK(["run", "one", "--image=registry.example/a:1"])
            try await k.kubectlOK(["run", "two", "--image=registry.example/a:1"])
            let third = try await k.kubectl(["run", "three", "--image=registry.example/a:1"])
            #expect(third.status != 0 && third.stderr.contains(
                #"pods "three" is forbidden: exceeded quota: two-pods, requested: pods=1, used: pods=2, limited: pods=2"#), "\(third.stderr)")
            try await k.kubectlOK(["delete", "pod", "one", "--wait=false"])
            // Once the controller has counted the deletion, there is room again.
            try await eventually(seconds: 20) { try await k.kubectl(["run", "three", "--image=registry.example/a:1"]).status == 0 }
        }
    }

    @Test("Pod Security: a restricted namespace refuses a privileged pod and admits a compliant one; a workload gets a warning")
    func podSecurity() async throws {
        try await withKeelson { k in
            try await k.kubectlOK(["create", "namespace", "locked"])
            try await k.kubectlOK(["label", "namespace", "locked", "pod-security.kubernetes.io/enforce=restricted"])
            let refused = try await k.kubectl(["run", "bad", "-n", "locked", "--image=registry.example/a:1", "--privileged"])
            #expect(refused.status != 0 && refused.stderr.contains(#"pods "bad" is forbidden: violates PodSecurity "restricted:latest": privileged (container "bad" must not set securityContext.privileged=true)"#),
                "\(refused.stderr)")
            try await k.kubectlOK(["run", "good", "-n", "locked", "--image=registry.example/a:1", "--overrides",
                #"{"spec":{"securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}},"containers":[{"name":"good","image":"registry.example/a:1","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}"#])
            let deployment = try await k.kubectl(["create", "deployment", "web", "-n", "locked", "--image=registry.example/a:1"])
            #expect(deployment.status == 0 && deployment.stderr.contains(#"Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false"#),
                "\(deployment.stderr)")
        }
    }

    /// A webhook server on loopback (Python's http.server over TLS): `/mutate` labels what it is given
    /// `mutated=yes`, `/validate` refuses ConfigMaps with a `forbidden` key.
    static let webhookServer = """
        import base64, json, ssl, sys
        from http.server import BaseHTTPRequestHandler, HTTPServer
        class Hook(BaseHTTPRequestHandler):
            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["request"]
                answer = {"uid": request["uid"], "allowed": True}
                if self.path in ("/mutate", "/first"):
                    labels = dict(request["object"]["metadata"].get("labels") or {})
                    if self.path == "/mutate":
                        labels["mutated"] = "yes"
                    else:
                        labels["seen-mutated"] = labels.get("mutated", "no")
                    patch = [{"op": "add", "path": "/metadata/labels", "value": labels}]
                    answer.update(patchType="JSONPatch", patch=base64.b64encode(json.dumps(patch).encode()).decode())
                elif "forbidden" in (request["object"].get("data") or {}):
                    answer = {"uid": request["uid"], "allowed": False, "status": {"code": 403, "message": "no forbidden keys"}}
                body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": answer}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args):
                pass
        server = HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = context.wrap_socket(server.socket, server_side=True)
        print("ready", flush=True)
        server.serve_forever()
        """

    @Test("admission webhooks on loopback: a mutating one (reached through a Service) labels objects, a validating one (by URL) refuses them")
    func webhooks() async throws {
        try await withKeelson { k in
            let certificates = try TestCertificates.make(in: k.dataDir.appendingPathComponent("webhook"), dnsNames: ["hook.default.svc"])
            let port = try KeelsonProcess.freePort()
            let hook = Process()
            hook.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            hook.arguments = ["-c", Self.webhookServer, String(port), certificates.serverCertificate, certificates.serverKey]
            let output = Pipe()
            hook.standardOutput = output
            hook.standardError = FileHandle.nullDevice
            try hook.run()
            // SIGKILL: the test process may ignore SIGTERM, and its children inherit that.
            defer { if hook.isRunning { kill(hook.processIdentifier, SIGKILL) } }
            let ready = try await Command.offPool { output.fileHandleForReading.availableData }
            #expect(String(decoding: ready, as: UTF8.self).hasPrefix("ready"))
            let ca = try Data(contentsOf: URL(fileURLWithPath: certificates.ca)).base64EncodedString()
            // The mutating webhook is addressed as a Service whose only endpoint is the loopback server: the API
            // server calls that endpoint and checks the certificate against hook.default.svc.
            try await k.kubectlOK(["apply", "-f", "-"], stdin: """
                apiVersion: v1
                kind: Service
                metadata: {name: hook, namespace: default}
                spec:
                  ports: [{port: 443, targetPort: \(port)}]
                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: hook-1, namespace: default, labels: {kubernetes.io/service-name: hook}}
                addressType: IPv4
                endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
                ports: [{name: "", port: \(port), protocol: TCP}]
                """)
            func configuration(_ kind: String, _ name: String, _ path: String, extra: String = "") -> String {
                let target = kind.hasPrefix("Mutating")
                    ? "service: {namespace: default, name: hook, port: 443, path: /\(path)}"
                    : "url: \"https://127.0.0.1:\(port)/\(path)\""
                return """
                apiVersion: admissionregistration.k8s.io/v1
                kind: \(kind)
                metadata: {name: \(name)}
                webhooks:
                - name: \(name)
                  clientConfig: {\(target), caBundle: \(ca)}
                  rules: [{operations: [CREATE, UPDATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}]
                  namespaceSelector: {matchLabels: {webhooks: "on"}}
                  sideEffects: None
                  admissionReviewVersions: [v1]
                \(extra)
                """
            }
            // "a-first" runs before "label" (configurations go in name order) and asks to be called again if a
            // later webhook changes the object: the second call sees the label the first could not.
            try await k.kubectlOK(["apply", "-f", "-"], stdin: configuration("MutatingWebhookConfiguration", "label.keelson.test", "mutate")
                + "\n---\n" + configuration("MutatingWebhookConfiguration", "a-first.keelson.test", "first", extra: "  reinvocationPolicy: IfNeeded")
                + "\n---\n" + configuration("ValidatingWebhookConfiguration", "deny.keelson.test", "validate"))
            try await k.kubectlOK(["create", "namespace", "hooked"])
            try await k.kubectlOK(["label", "namespace", "hooked", "webhooks=on"])
            // The configurations take effect once the server's watch has them.
            try await eventually(seconds: 10) {
                _ = try await k.kubectl(["create", "configmap", "probe-\(UUID().uuidString.prefix(6).lowercased())", "-n", "hooked"])
                let mutated = try await k.kubectlOK(["get", "cm", "-n", "hooked", "-l", "mutated=yes", "-o", "name"])
                return !mutated.isEmpty
            }
            try await k.kubectlOK(["create", "configmap", "plain", "-n", "hooked", "--from-literal=a=b"])
            #expect(try await k.kubectlOK(["get", "cm", "plain", "-n", "hooked", "-o", "jsonpath={.metadata.labels.mutated}"]) == "yes")
            #expect(try await k.kubectlOK(["get", "cm", "plain", "-n", "hooked", "-o", "jsonpath={.metadata.labels.seen-mutated}"]) == "yes",
                "the IfNeeded webhook was called again after the later one changed the object")
            let refused = try await k.kubectl(["create", "configmap", "bad", "-n", "hooked", "--from-literal=forbidden=1"])
            #expect(refused.status != 0 && refused.stderr.contains(#"admission webhook "deny.keelson.test" denied the request: no forbidden keys"#),
                "\(refused.stderr)")
            try await k.kubectlOK(["create", "configmap", "elsewhere", "--from-literal=forbidden=1"])
            #expect(try await k.kubectlOK(["get", "cm", "elsewhere", "-o", "jsonpath={.metadata.labels}"]).isEmpty, "outside the selected namespaces")
            // With the webhook gone, its Fail policy fails the request rather than letting it through unchecked.
            kill(hook.processIdentifier, SIGKILL)
            while hook.isRunning { try await Task.sleep(for: .milliseconds(20)) }
            let failed = try await k.kubectl(["create", "configmap", "unchecked", "-n", "hooked"])
            #expect(failed.status != 0 && failed.stderr.contains(#"failed calling webhook "a-first.keelson.test""#), "\(failed.stderr)")
        }
    }
}
