import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Testing

@Suite("Informer")
struct InformerTests {
    @Test("indexes follow adds, updates and deletes; a transform trims what is cached")
    func indexesAndTransform() async throws {
        let api = FakeKubernetesAPI()
        let informer = Informer(client: api, resource: .configMaps, transform: Informer.metadataOnly, logger: InformerFixture.logger)
        informer.addIndex(.namespace)
        informer.addIndex(.ownerUID)
        var owned: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "a", "namespace": "x"], "data": ["big": "value"]]
        owned.ownerReferences = [OwnerReference(apiVersion: "v1", kind: "Thing", name: "t", uid: "owner-1")]
        api.seed(.configMaps, owned, ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "b", "namespace": "y"]])
        try await InformerFixture.run([informer]) {
            #expect(informer.byIndex("namespace", "x").compactMap(\.name) == ["a"])
            #expect(informer.byIndex("ownerUID", "owner-1").compactMap(\.name) == ["a"])
            #expect(informer.get("x/a")?["data"] == nil, "the transform dropped the data")
            #expect(informer.get("x/a")?.ownerReferences.first?.uid == "owner-1")

            var moved = try #require(api.stored(.configMaps, namespace: "x", name: "a"))
            moved.ownerReferences = []
            try await api.update(.configMaps, namespace: "x", moved)
            try await waitUntil("update seen") { informer.byIndex("ownerUID", "owner-1").isEmpty }
            try await api.delete(.configMaps, namespace: "y", name: "b")
            try await waitUntil("delete seen") { informer.byIndex("namespace", "y").isEmpty }
            #expect(informer.list().count == 1)
        }
    }
}
