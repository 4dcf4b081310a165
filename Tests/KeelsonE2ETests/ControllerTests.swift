import Foundation
import KeelsonAPI
import Testing

@Suite("Controllers in keelson server", .serialized)
struct ControllerTests {
    @Test("every namespace gets a default ServiceAccount, recreated when deleted")
    func defaultServiceAccount() async throws {
        try await withKeelson { k in
            try await k.kubectlOK(["create", "namespace", "team-a"])
            try await eventually { try await k.kubectl(["get", "sa", "default", "-n", "team-a"]).status == 0 }
            try await k.kubectlOK(["delete", "sa", "default", "-n", "team-a"])
            try await eventually { try await k.kubectl(["get", "sa", "default", "-n", "team-a"]).status == 0 }
            #expect(try await k.kubectl(["get", "sa", "default", "-n", "kube-system"]).status == 0)
        }
    }

    @Test("deleting a namespace deletes the 100 objects in it, then the namespace")
    func namespaceDeletion() async throws {
        try await withKeelson { k in
            try await k.kubectlOK(["create", "namespace", "doomed"])
            var manifest = ""
            for i in 0..<100 {
                manifest += "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-\(i), namespace: doomed}\n"
            }
            try await k.kubectlOK(["create", "-f", "-"], stdin: manifest)
            // The 100, and the cluster CA every namespace gets.
            try await eventually {
                try await k.kubectlOK(["get", "cm", "-n", "doomed", "-o", "name"]).split(separator: "\n").count == 101
            }
            #expect(try await k.kubectlOK(["get", "cm", "kube-root-ca.crt", "-n", "doomed", "-o", "jsonpath={.data.ca\\.crt}"])
                == String(contentsOf: k.dataDir.appendingPathComponent("server/tls/server-ca.crt"), encoding: .utf8))
            let deleted = try await k.kubectl(["delete", "namespace", "doomed", "--timeout=60s"])
            #expect(deleted.status == 0, "\(deleted.stderr)")
            #expect(try await k.kubectl(["get", "namespace", "doomed"]).status != 0)
            #expect(try await k.kubectlOK(["get", "cm", "-n", "doomed", "-o", "name"]).isEmpty)
        }
    }

    @Test("two controller managers elect one leader through a Lease; the standby takes over when the leader dies; given the CAs, they publish and sign")
    func leaderElection() async throws {
        try await withKeelson(extraArguments: ["--disable-controller-manager"]) { k in
            let tls = k.dataDir.appendingPathComponent("server/tls")
            let flags = ["--kubeconfig", k.kubeconfig, "--leader-elect-lease-duration", "3", "--leader-elect-renew-deadline", "2",
                         "--leader-elect-retry-period", "1", "--root-ca-file", tls.appendingPathComponent("server-ca.crt").path,
                         "--cluster-signing-cert-file", tls.appendingPathComponent("client-ca.crt").path,
                         "--cluster-signing-key-file", tls.appendingPathComponent("client-ca.key").path,
                         "--cluster-signing-kubelet-serving-cert-file", tls.appendingPathComponent("server-ca.crt").path,
                         "--cluster-signing-kubelet-serving-key-file", tls.appendingPathComponent("server-ca.key").path]
            let first = try KeelsonChild(["controller-manager"] + flags)
            let holder = { try await k.kubectlOK(["get", "lease", "kube-controller-manager", "-n", "kube-system", "-o", "jsonpath={.spec.holderIdentity}"]) }
            try await eventually { try await k.kubectl(["get", "lease", "kube-controller-manager", "-n", "kube-system"]).status == 0 }
            let leader = try await holder()
            let second = try KeelsonChild(["controller-manager"] + flags)
            try await k.kubectlOK(["create", "deployment", "before", "--image=registry.example/a:1"])
            try await eventually { try await !k.kubectlOK(["get", "rs", "-l", "app=before", "-o", "name"]).isEmpty }

            try await first.crash()
            try await eventually(seconds: 15) {
                let now = try await holder()
                return now != leader && !now.isEmpty
            }
            #expect(try await k.kubectlOK(["get", "lease", "kube-controller-manager", "-n", "kube-system", "-o", "jsonpath={.spec.leaseTransitions}"]) == "1")
            try await k.kubectlOK(["create", "deployment", "after", "--image=registry.example/a:1"])
            try await eventually { try await !k.kubectlOK(["get", "rs", "-l", "app=after", "-o", "name"]).isEmpty }
            // The server runs no controller manager here: the cluster CA in every namespace and signed certificate
            // requests come from the standalone one.
            let serverCA = try String(contentsOf: tls.appendingPathComponent("server-ca.crt"), encoding: .utf8)
            try await eventually {
                try await k.kubectl(["get", "configmap", "kube-root-ca.crt", "-n", "default", "-o", #"jsonpath={.data.ca\.crt}"#]).stdout == serverCA
            }
            let csrPath = k.dataDir.appendingPathComponent("jane.csr").path
            try SecurityTests.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=jane",
                "-keyout", k.dataDir.appendingPathComponent("jane.key").path, "-out", csrPath])
            let request = try Data(contentsOf: URL(fileURLWithPath: csrPath)).base64EncodedString()
            try await k.kubectlOK(["create", "-f", "-"], stdin: """
                apiVersion: certificates.k8s.io/v1
                kind: CertificateSigningRequest
                metadata: {name: jane}
                spec: {request: \(request), signerName: kubernetes.io/kube-apiserver-client, usages: [client auth]}
                """)
            try await k.kubectlOK(["certificate", "approve", "jane"])
            try await eventually { try await !k.kubectlOK(["get", "csr", "jane", "-o", "jsonpath={.status.certificate}"]).isEmpty }

            // A node asking for its kubelet serving certificate: approved and signed once its Node reports the address.
            let dir = k.dataDir.path
            try SecurityTests.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-subj", "/O=system:nodes/CN=system:node:worker-9", "-keyout", "\(dir)/node.key", "-out", "\(dir)/node.csr"])
            try "extendedKeyUsage = clientAuth\n".write(toFile: "\(dir)/node.ext", atomically: true, encoding: .utf8)
            try SecurityTests.openssl(["x509", "-req", "-in", "\(dir)/node.csr", "-CA", tls.appendingPathComponent("client-ca.crt").path,
                "-CAkey", tls.appendingPathComponent("client-ca.key").path, "-CAcreateserial", "-days", "1", "-extfile", "\(dir)/node.ext",
                "-out", "\(dir)/node.crt"])
            let asNode = ["KUBECONFIG": try SecurityTests.kubeconfig(k, user: "{client-certificate: \"\(dir)/node.crt\", client-key: \"\(dir)/node.key\"}")]
            try await k.kubectlOK(["create", "-f", "-"], stdin: "apiVersion: v1\nkind: Node\nmetadata: {name: worker-9}\n", environment: asNode)
            try await k.kubectlOK(["patch", "node", "worker-9", "--subresource=status", "--type=merge", "-p",
                #"{"status":{"addresses":[{"type":"InternalIP","address":"192.0.2.9"}]}}"#])
            try SecurityTests.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-subj", "/O=system:nodes/CN=system:node:worker-9", "-addext", "subjectAltName=DNS:worker-9,IP:192.0.2.9",
                "-keyout", "\(dir)/serving.key", "-out", "\(dir)/serving.csr"])
            let servingRequest = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/serving.csr")).base64EncodedString()
            try await k.kubectlOK(["create", "-f", "-"], stdin: """
                apiVersion: certificates.k8s.io/v1
                kind: CertificateSigningRequest
                metadata: {name: worker-9-serving}
                spec: {request: \(servingRequest), signerName: kubernetes.io/kubelet-serving, usages: [digital signature, server auth]}
                """, environment: asNode)
            try await eventually {
                !(try await k.kubectlOK(["get", "csr", "worker-9-serving", "-o", "jsonpath={.status.certificate}"])).isEmpty
            }
            _ = second
        }
    }

    @Test("a node that stops reporting becomes NotReady and unreachable, and its pods are evicted (shortened timeouts)")
    func nodeFailure() async throws {
        try await withKeelson(extraArguments: ["--node-monitor-grace-period=2s", "--default-unreachable-toleration-seconds=1"]) { k in
            let now = Timestamp.format(Date())
            try await k.kubectlOK(["create", "-f", "-"], stdin: """
                apiVersion: v1
                kind: Node
                metadata: {name: worker-1}
                ---
                apiVersion: coordination.k8s.io/v1
                kind: Lease
                metadata: {name: worker-1, namespace: kube-node-lease}
                spec: {holderIdentity: worker-1, leaseDurationSeconds: 40, renewTime: "\(now.dropLast()).000000Z"}
                """)
            try await k.kubectlOK(["patch", "node", "worker-1", "--subresource=status", "--type=merge", "-p",
                #"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","lastHeartbeatTime":"\#(now)","lastTransitionTime":"\#(now)"}]}}"#])
            try await eventually { try await !k.kubectlOK(["get", "node", "worker-1", "-o", "jsonpath={.spec.podCIDR}"]).isEmpty }
            #expect(try await k.kubectlOK(["get", "node", "worker-1", "-o", "jsonpath={.spec.podCIDR}"]) == "10.42.0.0/24")
            try await k.kubectlOK(["create", "-f", "-"], stdin: """
                apiVersion: v1
                kind: Pod
                metadata: {name: stranded}
                spec: {nodeName: worker-1, containers: [{name: c, image: registry.example/c:1}]}
                """)
            // No further heartbeat: after 2 s the node is unreachable, after 1 s more the pod is evicted.
            try await eventually(seconds: 20) {
                try await k.kubectlOK(["get", "node", "worker-1", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"]) == "Unknown"
            }
            #expect(try await k.kubectlOK(["get", "nodes"]).contains("NotReady"))
            #expect(try await k.kubectlOK(["get", "node", "worker-1", "-o", "jsonpath={.spec.taints[*].key}"]).contains("node.kubernetes.io/unreachable"))
            try await eventually(seconds: 20) {
                try await !k.kubectlOK(["get", "pod", "stranded", "-o", "jsonpath={.metadata.deletionTimestamp}"]).isEmpty
            }
            try await eventually {
                try await k.kubectlOK(["get", "events", "--field-selector", "involvedObject.name=stranded", "-o", "jsonpath={.items[*].reason}"])
                    .contains("TaintManagerEviction")
            }
        }
    }

    @Test("a namespace held by a finalizer reports it in its deletion conditions, and goes once it is removed")
    func namespaceConditions() async throws {
        try await withKeelson { k in
            try await k.kubectlOK(["create", "namespace", "held"])
            try await k.kubectlOK(["create", "-f", "-"], stdin: """
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: keep, namespace: held, finalizers: [example.com/hold]}
                """)
            try await k.kubectlOK(["delete", "namespace", "held", "--wait=false"])
            let condition = { (type: String, field: String) in
                try await k.kubectlOK(["get", "namespace", "held", "-o", "jsonpath={.status.conditions[?(@.type==\"\(type)\")].\(field)}"])
            }
            try await eventually { try await condition("NamespaceFinalizersRemaining", "status") == "True" }
            #expect(try await condition("NamespaceFinalizersRemaining", "message") == "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
            #expect(try await condition("NamespaceContentRemaining", "message") == "Some resources are remaining: configmaps has 1 resource instances")
            #expect(try await condition("NamespaceDeletionContentFailure", "status") == "False")
            try await k.kubectlOK(["patch", "configmap", "keep", "-n", "held", "--type=merge", "-p", #"{"metadata":{"finalizers":null}}"#])
            try await eventually { try await k.kubectl(["get", "namespace", "held"]).status != 0 }
        }
    }
}
