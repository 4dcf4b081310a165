import Foundation
import KeelsonAPI
import Testing

private let manifest = """
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      labels: {app: web}
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
          - name: nginx
            image: nginx:1.25
            ports:
            - containerPort: 80
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: settings
    data:
      mode: fast
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      selector: {app: web}
      ports:
      - port: 80
        targetPort: 80
    """

@Suite("kubectl end to end", .serialized)
struct KubectlTests {
    @Test("apply of a multi-document manifest, again unchanged, then with a changed and an added container")
    func applyFlow() async throws {
        try await withKeelson { k in
            let first = try await k.kubectlOK(["apply", "-f", "-"], stdin: manifest)
            #expect(first.contains("deployment.apps/web created"))
            #expect(first.contains("configmap/settings created"))
            #expect(first.contains("service/web created"))
            let second = try await k.kubectlOK(["apply", "-f", "-"], stdin: manifest)
            #expect(second.contains("deployment.apps/web unchanged"))
            #expect(second.contains("configmap/settings unchanged"))
            #expect(second.contains("service/web unchanged"))
            let changed = manifest.replacingOccurrences(of: "image: nginx:1.25", with: "image: nginx:1.26")
                .replacingOccurrences(of: "        - containerPort: 80\n", with: "        - containerPort: 80\n      - name: logger\n        image: busybox:1.36\n")
            let third = try await k.kubectlOK(["apply", "-f", "-"], stdin: changed)
            #expect(third.contains("deployment.apps/web configured"))
            let images = try await k.kubectlOK(["get", "deploy", "web", "-o", "jsonpath={range .spec.template.spec.containers[*]}{.name}={.image} {end}"])
            #expect(images == "nginx=nginx:1.26 logger=busybox:1.36 ")
            let generation = try await k.kubectlOK(["get", "deploy", "web", "-o", "jsonpath={.metadata.generation}"])
            #expect(generation == "2")
        }
    }

    @Test("get in every output format, with label and field selectors")
    func getFormats() async throws {
        try await withKeelson { k in
            try await k.kubectlOK(["apply", "-f", "-"], stdin: manifest)
            let table = try await k.kubectlOK(["get", "deploy"])
            let header = table.split(separator: "\n").first.map(String.init) ?? ""
            #expect(header.split(separator: " ", omittingEmptySubsequences: true) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"])
            #expect(table.contains("web    0/2"))
            let wide = try await k.kubectlOK(["get", "deploy", "-o", "wide"])
            #expect(wide.contains("SELECTOR") && wide.contains("nginx:1.25") && wide.contains("app=web"))
            let json = try JSONParser.parse(try await k.kubectlOK(["get", "deploy", "web", "-o", "json"]))
            #expect(json["kind"] == "Deployment")
            #expect(json.value(at: ["spec", "strategy", "type"]) == "RollingUpdate")
            let yaml = try await k.kubectlOK(["get", "cm", "settings", "-o", "yaml"])
            #expect(yaml.contains("mode: fast"))
            #expect(try await k.kubectlOK(["get", "svc", "-o", "name"]) == "service/kubernetes\nservice/web\n")
            #expect(try await k.kubectlOK(["get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"]) == "10.43.0.1")
            #expect(try await k.kubectlOK(["get", "cm", "-l", "app=web", "-o", "name"]).isEmpty)
            #expect(try await k.kubectlOK(["get", "deploy", "-l", "app=web", "-o", "name"]) == "deployment.apps/web\n")
            #expect(try await k.kubectlOK(["get", "cm", "--field-selector", "metadata.name=settings", "-o", "name"]) == "configmap/settings\n")
            let all = try await k.kubectlOK(["get", "ns"])
            for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] { #expect(all.contains(ns)) }
            let allNamespaces = try await k.kubectlOK(["get", "cm", "-A"])
            #expect(allNamespaces.hasPrefix("NAMESPACE"))
            let missing = try await k.kubectl(["get", "deploy", "nope"])
            #expect(missing.status != 0)
            #expect(missing.stderr.contains("Error from server (NotFound): deployments.apps \"nope\" not found"))
        }
    }

    @Test("patch of all three types, replace, edit, label, annotate and scale")
    func mutations() async throws {
        try await withKeelson { k in
            try await k.kubectlOK(["apply", "-f", "-"], stdin: manifest)
            try await k.kubectlOK(["patch", "deploy", "web", "--type=json", "-p", #"[{"op":"replace","path":"/spec/replicas","value":3}]"#])
            try await k.kubectlOK(["patch", "deploy", "web", "--type=merge", "-p", #"{"spec":{"minReadySeconds":5}}"#])
            try await k.kubectlOK(["patch", "deploy", "web", "-p", #"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}"#])
            #expect(try await k.kubectlOK(["get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.spec.minReadySeconds} {.spec.template.spec.containers[*].name}"])
                == "3 5 nginx sidecar")
            let yaml = try await k.kubectlOK(["get", "cm", "settings", "-o", "yaml"]).replacingOccurrences(of: "mode: fast", with: "mode: slow")
            #expect(try await k.kubectlOK(["replace", "-f", "-"], stdin: yaml).contains("configmap/settings replaced"))
            #expect(try await k.kubectlOK(["get", "cm", "settings", "-o", "jsonpath={.data.mode}"]) == "slow")
            try await k.kubectlOK(["edit", "cm", "settings"], environment: ["KUBE_EDITOR": "sed -i s/mode:\\ slow/mode:\\ edited/"])
            #expect(try await k.kubectlOK(["get", "cm", "settings", "-o", "jsonpath={.data.mode}"]) == "edited")
            try await k.kubectlOK(["label", "deploy", "web", "tier=front"])
            try await k.kubectlOK(["annotate", "deploy", "web", "owner=team-a"])
            #expect(try await k.kubectlOK(["get", "deploy", "-l", "tier=front", "-o", "jsonpath={.items[0].metadata.annotations.owner}"]) == "team-a")
            try await k.kubectlOK(["label", "deploy", "web", "tier-"])
            #expect(try await k.kubectlOK(["get", "deploy", "-l", "tier", "-o", "name"]).isEmpty)
            #expect(try await k.kubectlOK(["scale", "deploy", "web", "--replicas=7"]).contains("scaled"))
            #expect(try await k.kubectlOK(["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]) == "7")
            // A replace carrying an old resourceVersion is refused by the server with 409 Conflict.
            let staleYAML = yaml.replacingOccurrences(of: "mode: slow", with: "mode: stale")
            let stale = try await k.kubectl(["replace", "-f", "-"], stdin: staleYAML)
            #expect(stale.status != 0)
            #expect(stale.stderr.contains("Error from server (Conflict)"))
            #expect(stale.stderr.contains("the object has been modified"))
        }
    }

    @Test("delete --wait, wait --for=delete and a watch that sees the changes")
    func deleteAndWatch() async throws {
        try await withKeelson { k in
            try await k.kubectlOK(["apply", "-f", "-"], stdin: manifest)
            let watchOutput = FileManager.default.temporaryDirectory.appendingPathComponent("watch-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: watchOutput) }
            let watcher = Process()
            watcher.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            watcher.arguments = ["kubectl", "get", "cm", "-w", "--request-timeout=30s"]
            watcher.environment = ProcessInfo.processInfo.environment.merging(["KUBECONFIG": k.kubeconfig]) { $1 }
            FileManager.default.createFile(atPath: watchOutput.path, contents: nil)
            watcher.standardOutput = try FileHandle(forWritingTo: watchOutput)
            try watcher.run()
            defer { if watcher.isRunning { watcher.terminate() } }
            // The watch has started once it printed the existing object.
            try await eventually { (try? String(contentsOf: watchOutput, encoding: .utf8))?.contains("settings") == true }
            try await k.kubectlOK(["create", "-f", "-"], stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fresh}\n")
            try await eventually { (try? String(contentsOf: watchOutput, encoding: .utf8))?.contains("fresh") == true }
            let waiter = Process()
            waiter.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            waiter.arguments = ["kubectl", "wait", "--for=delete", "configmap/settings", "--timeout=20s"]
            waiter.environment = watcher.environment
            waiter.standardOutput = FileHandle.nullDevice
            waiter.standardError = FileHandle.nullDevice
            try waiter.run()
            try await k.kubectlOK(["delete", "cm", "settings", "--wait"])
            try await eventually(seconds: 25) { !waiter.isRunning }
            #expect(waiter.terminationStatus == 0)
            #expect(try await k.kubectl(["get", "cm", "settings"]).status != 0)
            try await k.kubectlOK(["delete", "-f", "-"], stdin: manifest.replacingOccurrences(of: "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n", with: ""))
            #expect(try await k.kubectlOK(["get", "deploy", "-o", "name"]).isEmpty)
        }
    }

    @Test("api-resources, api-versions and raw discovery")
    func discovery() async throws {
        try await withKeelson { k in
            let resources = try await k.kubectlOK(["api-resources"])
            for line in ["deployments", "statefulsets", "cronjobs", "leases", "endpointslices", "poddisruptionbudgets", "clusterroles"] {
                #expect(resources.contains(line))
            }
            #expect(resources.contains("deploy") && resources.contains("apps/v1"))
            let versions = try await k.kubectlOK(["api-versions"])
            for version in ["v1", "apps/v1", "batch/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1", "events.k8s.io/v1", "policy/v1", "rbac.authorization.k8s.io/v1"] {
                #expect(versions.split(separator: "\n").contains(Substring(version)))
            }
            let raw = try JSONParser.parse(try await k.kubectlOK(["get", "--raw", "/apis"]))
            #expect(raw["kind"] == "APIGroupList")
            let namespaced = try await k.kubectlOK(["api-resources", "--namespaced=false", "-o", "name"])
            #expect(namespaced.contains("namespaces") && namespaced.contains("nodes") && !namespaced.contains("pods"))
        }
    }

    @Test("explain of built-in kinds, and an unknown field refused under kubectl's Strict validation, with every kubectl from 1.27 to 1.33")
    func explainAndStrictValidation() async throws {
        let misspelt = manifest.replacingOccurrences(of: "  replicas: 2", with: "  replicas: 2\n  replicass: 3")
            .replacingOccurrences(of: "image: nginx:1.25", with: "image: nginx:1.25\n        imagePullPolicyy: Always")
        try await withKeelson { k in
            for minor in 27...33 {
                let version = "1.\(minor)"
                let containers = try await k.kubectlOK(["explain", "pod.spec.containers"], version: version)
                #expect(containers.contains("KIND:") && containers.contains("Pod"), "kubectl \(version): \(containers)")
                #expect(containers.contains("FIELD:") && containers.contains("containers") && containers.contains("<[]Container>"), "kubectl \(version)")
                #expect(containers.contains("imagePullPolicy") && containers.contains("livenessProbe") && containers.contains("<Probe>"), "kubectl \(version)")
                #expect(containers.contains("-required-"), "kubectl \(version): a container's name is required")
                #expect(containers.contains("The entrypoint; the image's ENTRYPOINT when empty."), "kubectl \(version)")

                let recursive = try await k.kubectlOK(["explain", "deployment", "--recursive"], version: version)
                #expect(recursive.contains("GROUP:") && recursive.contains("apps"), "kubectl \(version)")
                for field in ["maxSurge", "terminationGracePeriodSeconds", "matchExpressions", "readinessProbe", "observedGeneration"] {
                    #expect(recursive.contains(field), "kubectl \(version): \(field) missing from explain --recursive")
                }

                let refused = try await k.kubectl(["apply", "-f", "-"], version: version, stdin: misspelt)
                #expect(refused.status != 0, "kubectl \(version)")
                #expect(refused.stderr.contains(#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replicass", unknown field "spec.template.spec.containers[0].imagePullPolicyy""#),
                        "kubectl \(version): \(refused.stderr)")
            }
            #expect(try await k.kubectl(["get", "deploy", "web"]).status != 0, "nothing was stored")
            let warned = try await k.kubectl(["apply", "--validate=warn", "-f", "-"], stdin: misspelt)
            #expect(warned.status == 0 && warned.stderr.contains(#"unknown field "spec.replicass""#), "\(warned.stderr)")
        }
    }

    @Test("the basic flow with other kubectl versions", arguments: ["1.30", "1.33"])
    func otherVersions(version: String) async throws {
        guard let directory = KeelsonProcess.kubectlDirectory,
            FileManager.default.isExecutableFile(atPath: (directory as NSString).appendingPathComponent("kubectl.\(version)"))
        else {
            Issue.record("kubectl.\(version) is not installed beside kubectl")
            return
        }
        try await withKeelson { k in
            #expect(try await k.kubectlOK(["apply", "-f", "-"], version: version, stdin: manifest).contains("deployment.apps/web created"))
            #expect(try await k.kubectlOK(["apply", "-f", "-"], version: version, stdin: manifest).contains("deployment.apps/web unchanged"))
            #expect(try await k.kubectlOK(["get", "deploy", "web"], version: version).contains("0/2"))
            try await k.kubectlOK(["scale", "deploy", "web", "--replicas=4"], version: version)
            try await k.kubectlOK(["label", "cm", "settings", "v=\(version)"], version: version)
            #expect(try await k.kubectlOK(["get", "cm", "-l", "v=\(version)", "-o", "name"], version: version) == "configmap/settings\n")
            try await k.kubectlOK(["delete", "deploy", "web"], version: version)
            #expect(try await k.kubectlOK(["get", "deploy", "-o", "name"], version: version).isEmpty)
        }
    }
}

/// Polls `condition` until it holds, failing after `seconds`.
func eventually(seconds: Double = 10, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while try await !condition() {
        guard Date() < deadline else { throw KeelsonProcess.Failure("condition not met within \(seconds) s") }
        try await Task.sleep(for: .milliseconds(25))
    }
}
