import Foundation
import Testing

/// The scheduler in `keelson server` placing pods on simulated nodes (`keelson simulate-nodes`).
@Suite("Scheduling on simulated nodes", .serialized)
struct SchedulingTests {
    @Test("pods are bound to fitting nodes and run; one that fits nowhere says why")
    func scheduling() async throws {
        try await withKeelson { k in
            let nodes = try KeelsonChild(["simulate-nodes", "--kubeconfig", k.kubeconfig, "--count", "3", "--cpu", "2", "--memory", "4Gi"])
            try await eventually { try await k.kubectlOK(["get", "nodes", "-o", "name"]).split(separator: "\n").count == 3 }
            try await eventually { try await !k.kubectlOK(["get", "nodes"]).contains("NotReady") }
            try await k.kubectlOK(["create", "deployment", "web", "--image=registry.example/web:1", "--replicas=6"])
            try await k.kubectlOK(["set", "resources", "deployment", "web", "--requests=cpu=500m"])
            try await k.kubectlOK(["rollout", "status", "deployment/web", "--timeout=60s"])
            let placed = try await k.kubectlOK(["get", "pods", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}"])
            let perNode = Dictionary(grouping: placed.split(separator: "\n"), by: { $0 }).mapValues(\.count)
            #expect(perNode.count == 3, "spread over the three nodes: \(perNode)")
            #expect(perNode.values.allSatisfy { $0 <= 4 }, "2 CPUs per node fit four 500m pods at most: \(perNode)")

            try await k.kubectlOK(["run", "huge", "--image=registry.example/huge:1", "--overrides",
                #"{"spec":{"containers":[{"name":"huge","image":"registry.example/huge:1","resources":{"requests":{"cpu":"3"}}}]}}"#])
            try await eventually {
                try await k.kubectlOK(["get", "pod", "huge", "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].reason}"]) == "Unschedulable"
            }
            let message = try await k.kubectlOK(["get", "pod", "huge", "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}"])
            #expect(message.hasPrefix("0/3 nodes are available: 3 Insufficient cpu."), "\(message)")
            try await eventually {
                try await k.kubectlOK(["get", "events", "--field-selector", "involvedObject.name=huge", "-o", "jsonpath={.items[*].reason}"])
                    .contains("FailedScheduling")
            }
            _ = nodes
        }
    }

    @Test("a profile from --scheduler-config, chosen by spec.schedulerName, places what the default profile refuses")
    func customProfile() async throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("sched-\(UUID().uuidString).yaml")
        try """
            apiVersion: kubescheduler.config.k8s.io/v1
            kind: KubeSchedulerConfiguration
            profiles:
            - schedulerName: default-scheduler
            - schedulerName: taint-blind
              plugins:
                multiPoint:
                  disabled: [{name: TaintToleration}]
            """.write(to: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: config) }
        try await withKeelson(extraArguments: ["--scheduler-config", config.path]) { k in
            let nodes = try KeelsonChild(["simulate-nodes", "--kubeconfig", k.kubeconfig, "--count", "1"])
            try await eventually { try await k.kubectlOK(["get", "nodes", "-o", "name"]) == "node/sim-node-0\n" }
            try await k.kubectlOK(["taint", "node", "sim-node-0", "dedicated=db:NoSchedule"])
            for (name, scheduler) in [("plain", "default-scheduler"), ("blind", "taint-blind")] {
                try await k.kubectlOK(["run", name, "--image=registry.example/x:1", "--overrides",
                    #"{"spec":{"schedulerName":"\#(scheduler)","containers":[{"name":"x","image":"registry.example/x:1"}]}}"#])
            }
            try await eventually { try await k.kubectlOK(["get", "pod", "blind", "-o", "jsonpath={.spec.nodeName}"]) == "sim-node-0" }
            try await eventually {
                try await k.kubectlOK(["get", "pod", "plain", "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}"])
                    .contains("1 node(s) had untolerated taint {dedicated: db}")
            }
            _ = nodes
        }
    }

    @Test("spread across zones, anti-affinity keeps replicas apart, taints keep pods off")
    func placementRules() async throws {
        try await withKeelson { k in
            let nodes = try KeelsonChild(["simulate-nodes", "--kubeconfig", k.kubeconfig, "--count", "4", "--zones", "2"])
            try await eventually { try await k.kubectlOK(["get", "nodes", "-l", "topology.kubernetes.io/zone", "-o", "name"]).split(separator: "\n").count == 4 }
            let placement = { (selector: String) async throws -> [String] in
                try await k.kubectlOK(["get", "pods", "-l", selector, "-o", "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}"])
                    .split(separator: "\n").map(String.init)
            }
            // Four replicas, maxSkew 1 over two zones: two per zone.
            try await k.kubectlOK(["apply", "-f", "-"], stdin: """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: spread}
                spec:
                  replicas: 4
                  selector: {matchLabels: {app: spread}}
                  template:
                    metadata: {labels: {app: spread}}
                    spec:
                      topologySpreadConstraints:
                      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: spread}}}
                      containers: [{name: c, image: registry.example/c:1}]
                ---
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: apart}
                spec:
                  replicas: 4
                  selector: {matchLabels: {app: apart}}
                  template:
                    metadata: {labels: {app: apart}}
                    spec:
                      affinity:
                        podAntiAffinity:
                          requiredDuringSchedulingIgnoredDuringExecution:
                          - {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: apart}}}
                      containers: [{name: c, image: registry.example/c:1}]
                """)
            try await k.kubectlOK(["rollout", "status", "deployment/spread", "--timeout=60s"])
            try await k.kubectlOK(["rollout", "status", "deployment/apart", "--timeout=60s"])
            let zoneOf = { (node: String) -> String in Int(node.split(separator: "-").last ?? "0")! % 2 == 0 ? "zone-0" : "zone-1" }
            let zones = Dictionary(grouping: try await placement("app=spread").map(zoneOf), by: { $0 }).mapValues(\.count)
            #expect(zones == ["zone-0": 2, "zone-1": 2], "\(zones)")
            #expect(Set(try await placement("app=apart")).count == 4, "one replica per node")

            // A tainted node takes no new pods without a toleration.
            for node in ["sim-node-0", "sim-node-1", "sim-node-2"] {
                try await k.kubectlOK(["taint", "node", node, "dedicated=batch:NoSchedule"])
            }
            try await k.kubectlOK(["create", "deployment", "plain", "--image=registry.example/p:1", "--replicas=3"])
            try await k.kubectlOK(["rollout", "status", "deployment/plain", "--timeout=60s"])
            #expect(Set(try await placement("app=plain")) == ["sim-node-3"])
            _ = nodes
        }
    }

    @Test("a high-priority pod preempts a low-priority one and is then bound where it was nominated")
    func preemption() async throws {
        try await withKeelson { k in
            let nodes = try KeelsonChild(["simulate-nodes", "--kubeconfig", k.kubeconfig, "--count", "1", "--cpu", "1"])
            try await eventually { try await k.kubectlOK(["get", "nodes", "-o", "name"]) == "node/sim-node-0\n" }
            let run = { (name: String, priority: Int) async throws in
                try await k.kubectlOK(["run", name, "--image=registry.example/x:1", "--overrides",
                    #"{"spec":{"priority":\#(priority),"containers":[{"name":"x","image":"registry.example/x:1","resources":{"requests":{"cpu":"800m"}}}]}}"#])
            }
            try await run("batch", 0)
            try await eventually { try await k.kubectlOK(["get", "pod", "batch", "-o", "jsonpath={.status.phase}"]) == "Running" }
            try await run("urgent", 1000)
            try await eventually { try await k.kubectlOK(["get", "pod", "urgent", "-o", "jsonpath={.spec.nodeName}"]) == "sim-node-0" }
            #expect(try await k.kubectl(["get", "pod", "batch"]).status != 0, "the victim is gone")
            let reasons = try await k.kubectlOK(["get", "events", "-o", "jsonpath={.items[*].reason}"])
            #expect(reasons.contains("Preempted"), "\(reasons)")
            _ = nodes
        }
    }

    @Test("a pod's WaitForFirstConsumer claim takes the local volume of a node, and the pod waits for the claim to be bound there")
    func volumeBinding() async throws {
        try await withKeelson { k in
            let nodes = try KeelsonChild(["simulate-nodes", "--kubeconfig", k.kubeconfig, "--count", "2"])
            try await eventually { try await k.kubectlOK(["get", "nodes", "-o", "name"]).split(separator: "\n").count == 2 }
            try await k.kubectlOK(["apply", "-f", "-"], stdin: """
                apiVersion: storage.k8s.io/v1
                kind: StorageClass
                metadata: {name: local}
                provisioner: kubernetes.io/no-provisioner
                volumeBindingMode: WaitForFirstConsumer
                ---
                apiVersion: v1
                kind: PersistentVolume
                metadata: {name: local-1}
                spec:
                  capacity: {storage: 1Gi}
                  accessModes: [ReadWriteOnce]
                  storageClassName: local
                  local: {path: /mnt/disk1}
                  nodeAffinity:
                    required:
                      nodeSelectorTerms:
                      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [sim-node-1]}]
                ---
                apiVersion: v1
                kind: PersistentVolumeClaim
                metadata: {name: data}
                spec:
                  accessModes: [ReadWriteOnce]
                  storageClassName: local
                  resources: {requests: {storage: 500Mi}}
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: db}
                spec:
                  containers: [{name: db, image: registry.example/db:1}]
                  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: orphan}
                spec:
                  containers: [{name: c, image: registry.example/c:1}]
                  volumes: [{name: data, persistentVolumeClaim: {claimName: nope}}]
                """)
            let classes = try await k.kubectlOK(["get", "storageclass", "local"])
            #expect(classes.contains("kubernetes.io/no-provisioner") && classes.contains("WaitForFirstConsumer"), "\(classes)")
            try await eventually { try await k.kubectlOK(["get", "pv", "local-1", "-o", "jsonpath={.spec.claimRef.name}"]) == "data" }
            #expect(try await k.kubectlOK(["get", "pod", "db", "-o", "jsonpath={.spec.nodeName}"]) == "", "not bound before its claim is")
            // What a volume controller would do: bind the claim to the volume.
            try await k.kubectlOK(["patch", "pvc", "data", "--type=merge", "-p", #"{"spec":{"volumeName":"local-1"}}"#])
            try await k.kubectlOK(["patch", "pvc", "data", "--subresource=status", "--type=merge", "-p", #"{"status":{"phase":"Bound"}}"#])
            try await eventually { try await k.kubectlOK(["get", "pod", "db", "-o", "jsonpath={.spec.nodeName}"]) == "sim-node-1" }
            try await eventually {
                try await k.kubectlOK(["get", "pod", "orphan", "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}"])
                    == "0/2 nodes are available: persistentvolumeclaim \"nope\" not found. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
            }
            _ = nodes
        }
    }
}
