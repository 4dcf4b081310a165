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
}
