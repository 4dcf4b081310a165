import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Testing

@testable import KeelsonControllers

@Suite("Disruption controller")
struct DisruptionControllerTests {
    static func pod(_ name: String, ready: Bool, owner: String = "web-rs") -> JSONValue {
        var pod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": "default", "labels": ["app": "web"]],
                              "status": ["phase": "Running", "conditions": [["type": "Ready", "status": ready ? "True" : "False"]]]]
        pod.ownerReferences = [OwnerReference(apiVersion: "apps/v1", kind: "ReplicaSet", name: owner, uid: "uid-\(owner)", controller: true)]
        return pod
    }

    // Two of the three covered pods are healthy.
    @Test("disruptions allowed follow healthy pods against minAvailable or maxUnavailable of the controller's scale", arguments: [
        (["minAvailable": 1] as JSONValue, Int64(1), Int64(1), Int64(3)),
        (["minAvailable": "50%"] as JSONValue, 2, 0, 4),
        (["maxUnavailable": 1] as JSONValue, 3, 0, 4),
        (["maxUnavailable": "75%"] as JSONValue, 1, 1, 4),
    ])
    func budgets(limit: JSONValue, desired: Int64, allowed: Int64, scale: Int64) async throws {
        let api = FakeKubernetesAPI()
        let informers = ["budgets": ResourceReference.podDisruptionBudgets, "pods": .pods, "rs": .replicaSets, "d": .deployments, "sts": .statefulSets]
            .mapValues { Informer(client: api, resource: $0, logger: InformerFixture.logger) }
        informers["budgets"]!.addIndex(.namespace)
        informers["pods"]!.addIndex(.namespace)
        let controller = DisruptionController(client: api, budgets: informers["budgets"]!, pods: informers["pods"]!, replicaSets: informers["rs"]!,
            deployments: informers["d"]!, statefulSets: informers["sts"]!, logger: InformerFixture.logger)
        var spec = limit
        spec["selector"] = ["matchLabels": ["app": "web"]]
        api.seed(.podDisruptionBudgets, ["apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                                         "metadata": ["name": "web", "namespace": "default", "generation": 1], "spec": spec])
        api.seed(.replicaSets, ["apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": ["name": "web-rs", "namespace": "default", "uid": "uid-web-rs"],
                                "spec": ["replicas": .integer(scale)]])
        api.seed(.pods, Self.pod("a", ready: true), Self.pod("b", ready: true), Self.pod("c", ready: false))
        try await InformerFixture.run(Array(informers.values)) {
            _ = try await controller.reconcile("default/web")
            let status = api.stored(.podDisruptionBudgets, namespace: "default", name: "web")?["status"]
            #expect(status?["currentHealthy"] == 2)
            #expect(status?["desiredHealthy"] == .integer(desired))
            #expect(status?["disruptionsAllowed"] == .integer(allowed))
            #expect(status?["observedGeneration"] == 1)
        }
    }
}
