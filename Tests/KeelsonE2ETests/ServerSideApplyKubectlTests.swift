import Foundation
import KeelsonAPI
import Testing

private func deployment(_ name: String, replicas: Int? = 2, image: String = "nginx:1.27") -> String {
    """
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: \(name)
    spec:\(replicas.map { "\n  replicas: \($0)" } ?? "")
      selector: {matchLabels: {app: \(name)}}
      template:
        metadata: {labels: {app: \(name)}}
        spec:
          containers:
          - name: web
            image: \(image)
    """
}

/// `kubectl apply --server-side` end to end: every kubectl from 1.27 to 1.33 creates, re-applies, meets a
/// conflict and forces it; two managers share a Deployment; and kubectl's move from client-side to server-side
/// apply hands the fields over so that a field dropped from the manifest goes.
@Suite("Server-side apply with kubectl", .serialized)
struct ServerSideApplyKubectlTests {
    @Test("apply --server-side creates and re-applies; a field kubectl scale changed is a conflict; --force-conflicts takes it back (kubectl 1.27–1.33)")
    func applyConflictForce() async throws {
        try await withKeelson { k in
            for minor in 27...33 {
                let version = "1.\(minor)", name = "web-\(minor)"
                let created = try await k.kubectlOK(["apply", "--server-side", "-f", "-"], version: version, stdin: deployment(name))
                #expect(created.contains("deployment.apps/\(name) serverside-applied"), "kubectl \(version): \(created)")
                _ = try await k.kubectlOK(["apply", "--server-side", "-f", "-"], version: version, stdin: deployment(name))
                _ = try await k.kubectlOK(["scale", "deployment/\(name)", "--replicas=5"], version: version)

                let conflict = try await k.kubectl(["apply", "--server-side", "-f", "-"], version: version, stdin: deployment(name))
                #expect(conflict.status != 0, "kubectl \(version)")
                #expect(conflict.stderr.contains("Apply failed with 1 conflict: conflict with \"kubectl"), "kubectl \(version): \(conflict.stderr)")
                #expect(conflict.stderr.contains(".spec.replicas"), "kubectl \(version): \(conflict.stderr)")
                #expect(try await k.kubectlOK(["get", "deployment", name, "-o", "jsonpath={.spec.replicas}"], version: version) == "5")

                _ = try await k.kubectlOK(["apply", "--server-side", "--force-conflicts", "-f", "-"], version: version, stdin: deployment(name))
                #expect(try await k.kubectlOK(["get", "deployment", name, "-o", "jsonpath={.spec.replicas}"], version: version) == "2")
                let managers = try await k.kubectlOK(["get", "deployment", name, "--show-managed-fields",
                    "-o", "jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation} {end}"], version: version)
                #expect(managers.contains("kubectl/Apply"), "kubectl \(version): \(managers)")
            }
        }
    }

    @Test("two managers share a Deployment: one owns the replicas, the other the image, and each keeps its own")
    func twoManagers() async throws {
        try await withKeelson { k in
            _ = try await k.kubectlOK(["apply", "--server-side", "--field-manager=team", "-f", "-"], stdin: deployment("shop", replicas: nil))
            let scaleOnly = """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: shop}
                spec: {replicas: 3}
                """
            _ = try await k.kubectlOK(["apply", "--server-side", "--field-manager=platform", "-f", "-"], stdin: scaleOnly)
            _ = try await k.kubectlOK(["apply", "--server-side", "--field-manager=team", "-f", "-"],
                stdin: deployment("shop", replicas: nil, image: "nginx:1.28"))
            let state = try await k.kubectlOK(["get", "deployment", "shop", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"])
            #expect(state == "3 nginx:1.28")

            // The team setting replicas now is a conflict with the platform, named in kubectl's error.
            let conflict = try await k.kubectl(["apply", "--server-side", "--field-manager=team", "-f", "-"],
                stdin: deployment("shop", replicas: 1, image: "nginx:1.28"))
            #expect(conflict.status != 0)
            #expect(conflict.stderr.contains(#"conflict with "platform": .spec.replicas"#), "\(conflict.stderr)")

            // The platform stops applying the replicas: owned by nobody else, they go back to the default (1)
            // and the team may take them.
            let released = """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: shop}
                """
            _ = try await k.kubectlOK(["apply", "--server-side", "--field-manager=platform", "-f", "-"], stdin: released)
            #expect(try await k.kubectlOK(["get", "deployment", "shop", "-o", "jsonpath={.spec.replicas}"]) == "1")
            _ = try await k.kubectlOK(["apply", "--server-side", "--field-manager=team", "-f", "-"],
                stdin: deployment("shop", replicas: 1, image: "nginx:1.28"))
            #expect(try await k.kubectlOK(["get", "deployment", "shop", "-o", "jsonpath={.spec.replicas}"]) == "1")
        }
    }

    @Test("from client-side to server-side apply: kubectl hands the fields over, and a field dropped from the manifest goes")
    func clientToServerSide() async throws {
        try await withKeelson { k in
            let both = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n  size: large\n"
            let one = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n"
            _ = try await k.kubectlOK(["apply", "-f", "-"], stdin: both)
            let clientSide = try await k.kubectlOK(["get", "configmap", "settings", "--show-managed-fields",
                "-o", "jsonpath={.metadata.managedFields[*].manager}"])
            #expect(clientSide == "kubectl-client-side-apply")

            _ = try await k.kubectlOK(["apply", "--server-side", "-f", "-"], stdin: both)
            let serverSide = try await k.kubectlOK(["get", "configmap", "settings", "--show-managed-fields",
                "-o", "jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation} {end}"])
            #expect(serverSide.contains("kubectl/Apply") && !serverSide.contains("kubectl-client-side-apply"), "\(serverSide)")

            _ = try await k.kubectlOK(["apply", "--server-side", "-f", "-"], stdin: one)
            #expect(try await k.kubectlOK(["get", "configmap", "settings", "-o", "jsonpath={.data}"]) == #"{"color":"blue"}"#)
            // And back: a client-side apply after it still works from the annotation kept in step.
            _ = try await k.kubectlOK(["apply", "-f", "-"], stdin: both)
            #expect(try await k.kubectlOK(["get", "configmap", "settings", "-o", "jsonpath={.data.size}"]) == "large")
        }
    }
}
