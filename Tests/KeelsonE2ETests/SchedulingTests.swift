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
}
