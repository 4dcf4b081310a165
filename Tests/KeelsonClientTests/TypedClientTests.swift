import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Testing

@Suite("Typed clients")
struct TypedClientTests {
    @Test("typed verbs round-trip, and an update of a typed object keeps the fields the model does not know")
    func lossless() async throws {
        let api = FakeKubernetesAPI()
        let configMaps = api.typed(CoreV1.ConfigMap.self)
        var settings = CoreV1.ConfigMap(name: "settings", namespace: "default")
        settings.data = ["mode": "fast"]
        settings.object["immutable"] = false  // a field the typed model has no property for
        settings.labels = ["app": "web"]
        let created = try await configMaps.create(settings)
        #expect(created.uid != nil)
        #expect(configMaps.resource.path(namespace: "default") == "/api/v1/namespaces/default/configmaps")

        var fetched = try await configMaps.get("settings", namespace: "default")
        fetched.data["extra"] = "1"
        let updated = try await configMaps.update(fetched)
        #expect(updated.data == ["mode": "fast", "extra": "1"])
        #expect(updated.object["immutable"] == false)
        #expect(updated.labels == ["app": "web"])
        #expect(try await configMaps.list(namespace: "default").map(\.name) == ["settings"])
    }

    @Test("typed accessors read the fields components use")
    func accessors() throws {
        let pod = CoreV1.Pod(object: ["metadata": ["name": "p", "namespace": "ns"],
                                      "spec": ["nodeName": "n1", "containers": [["name": "c", "image": "busybox", "resources": ["requests": ["cpu": "250m"]]]]],
                                      "status": ["phase": "Running", "conditions": [["type": "Ready", "status": "True"]]]])
        #expect(pod.nodeName == "n1" && pod.phase == "Running" && pod.isReady)
        #expect(pod.containers.first?.image == "busybox")
        #expect(pod.requests["cpu"]?.milli == 250)
        var deployment = AppsV1.Deployment(name: "web", namespace: "ns")
        deployment.replicas = 3
        #expect(deployment.object.value(at: ["spec", "replicas"]) == 3)
        #expect(AppsV1.Deployment.group == "apps" && AppsV1.Deployment.version == "v1")
        // Codable as the JSON it holds.
        let data = try JSONEncoder().encode(pod)
        #expect(try JSONDecoder().decode(CoreV1.Pod.self, from: data) == pod)
    }
}
