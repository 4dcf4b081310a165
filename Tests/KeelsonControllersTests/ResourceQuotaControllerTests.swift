import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Testing

@testable import KeelsonControllers

@Suite("ResourceQuota controller")
struct ResourceQuotaControllerTests {
    @Test("used counts objects and sums the requests and limits of unfinished pods")
    func used() async throws {
        let api = FakeKubernetesAPI()
        let quotas = Informer(client: api, resource: .resourceQuotas, logger: InformerFixture.logger)
        let pods = Informer(client: api, resource: .pods, logger: InformerFixture.logger)
        let services = Informer(client: api, resource: .services, logger: InformerFixture.logger)
        let claims = Informer(client: api, resource: .persistentVolumeClaims, logger: InformerFixture.logger)
        for informer in [quotas, pods, services, claims] { informer.addIndex(.namespace) }
        let controller = ResourceQuotaController(client: api, quotas: quotas, pods: pods, services: services, claims: claims,
            logger: InformerFixture.logger)
        api.seed(.resourceQuotas, ["apiVersion": "v1", "kind": "ResourceQuota", "metadata": ["name": "q", "namespace": "team"],
                                   "spec": ["hard": ["pods": "10", "requests.cpu": "2", "limits.memory": "1Gi", "configmaps": "5",
                                                     "services.nodeports": "2", "requests.storage": "10Gi"]]])
        let pod = { (name: String, phase: String) -> JSONValue in
            ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": "team"],
             "spec": ["containers": [["resources": ["requests": ["cpu": "250m"], "limits": ["memory": "256Mi"]]]]],
             "status": ["phase": .string(phase)]]
        }
        api.seed(.pods, pod("a", "Running"), pod("b", "Pending"), pod("done", "Succeeded"))
        api.seed(.services, ["apiVersion": "v1", "kind": "Service", "metadata": ["name": "np", "namespace": "team"],
                             "spec": ["type": "NodePort", "ports": [["port": 80, "nodePort": 30001], ["port": 81, "nodePort": 30002]]]])
        api.seed(.configMaps, ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c", "namespace": "team"]])
        api.seed(.persistentVolumeClaims, ["apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": ["name": "d", "namespace": "team"],
                                           "spec": ["resources": ["requests": ["storage": "5Gi"]]]])
        try await InformerFixture.run([quotas, pods, services, claims]) {
            _ = try await controller.reconcile("team/q")
            let status = api.stored(.resourceQuotas, namespace: "team", name: "q")?["status"]
            #expect(status?["used"] == ["pods": "2", "requests.cpu": "500m", "limits.memory": "512Mi", "configmaps": "1",
                                        "services.nodeports": "2", "requests.storage": "5Gi"])
            #expect(status?["hard"]?["pods"] == "10")
        }
    }
}
