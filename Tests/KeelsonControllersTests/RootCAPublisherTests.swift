import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Testing

@testable import KeelsonControllers

@Suite("Root CA publisher")
struct RootCAPublisherTests {
    @Test("every namespace gets kube-root-ca.crt with the CA; an edited copy is put right; a terminating namespace is left alone")
    func publishes() async throws {
        let api = FakeKubernetesAPI()
        api.seed(.namespaces, ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "default", "uid": "n1"]],
            ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "going", "uid": "n2"], "status": ["phase": "Terminating"]])
        api.seed(.configMaps, ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "kube-root-ca.crt", "namespace": "other", "uid": "c1"],
            "data": ["ca.crt": "stale"]])
        api.seed(.namespaces, ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "other", "uid": "n3"]])
        let namespaces = Informer(client: api, resource: .namespaces, logger: InformerFixture.logger)
        let maps = Informer(client: api, resource: .configMaps, logger: InformerFixture.logger)
        let publisher = RootCAPublisher(client: api, namespaces: namespaces, configMaps: maps, caPEM: "PEM", logger: InformerFixture.logger)
        try await InformerFixture.run([namespaces, maps]) {
            try await waitUntil("caches") { namespaces.list().count == 3 && maps.list().count == 1 }
            for name in ["default", "going", "other"] { _ = try await publisher.reconcile(name) }
        }
        #expect(api.stored(.configMaps, namespace: "default", name: "kube-root-ca.crt")?["data"] == ["ca.crt": "PEM"])
        #expect(api.stored(.configMaps, namespace: "other", name: "kube-root-ca.crt")?["data"] == ["ca.crt": "PEM"])
        #expect(api.stored(.configMaps, namespace: "going", name: "kube-root-ca.crt") == nil)
    }
}
