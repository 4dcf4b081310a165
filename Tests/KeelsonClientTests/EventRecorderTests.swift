import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Testing

@Suite("Event recorder")
struct EventRecorderTests {
    @Test("an event is written with its involved object; a repeat raises its count instead of adding one")
    func aggregation() async throws {
        let api = FakeKubernetesAPI()
        let recorder = EventRecorder(client: api, component: "test-controller", logger: InformerFixture.logger)
        let task = Task { try await recorder.run() }
        defer { task.cancel() }
        let rs: JSONValue = ["metadata": ["name": "web-1", "namespace": "default", "uid": "u1"]]
        recorder.record(rs, apiVersion: "apps/v1", kind: "ReplicaSet", .normal, reason: "SuccessfulCreate", message: "Created pod: p")
        try await waitUntil("written") { api.stored(.events, namespace: "default").count == 1 }
        recorder.record(rs, apiVersion: "apps/v1", kind: "ReplicaSet", .normal, reason: "SuccessfulCreate", message: "Created pod: p")
        try await waitUntil("aggregated") { api.stored(.events, namespace: "default").first?["count"] == 2 }
        recorder.record(rs, apiVersion: "apps/v1", kind: "ReplicaSet", .warning, reason: "FailedCreate", message: "quota")
        try await waitUntil("a different event") { api.stored(.events, namespace: "default").count == 2 }
        let event = try #require(api.stored(.events, namespace: "default").first { $0["reason"] == "SuccessfulCreate" })
        #expect(event["involvedObject"] == ["apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "namespace": "default", "uid": "u1"])
        #expect(event["source"]?["component"] == "test-controller")
        #expect(event["type"] == "Normal")
    }
}
