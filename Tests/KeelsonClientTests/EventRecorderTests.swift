import KeelsonAPI
import KeelsonClient
import NIOHTTP1
import Synchronization
import KeelsonTestKit
import ServiceLifecycleTestKit
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

    @Test("at shutdown a backlog an unreachable API server cannot take is dropped after the drain limit, not waited on")
    func shutdownAgainstUnreachableServer() async throws {
        let api = UnreachableAPI()
        let recorder = EventRecorder(client: api, component: "test-controller", logger: InformerFixture.logger)
        let pod: JSONValue = ["metadata": ["name": "p", "namespace": "default", "uid": "u1"]]
        for i in 0..<50 { recorder.record(pod, apiVersion: "v1", kind: "Pod", .normal, reason: "Scheduled", message: "number \(i)") }
        let clock = ContinuousClock()
        let elapsed = try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await recorder.run() }
                try await waitUntil("a write is hanging") { api.calls.withLock { $0 } > 0 }
                let start = clock.now
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
                return clock.now - start
            }
        }
        #expect(elapsed >= EventRecorder.shutdownDrainLimit - .milliseconds(50))
        // Without the limit the run would never end (every write hangs); the margin is for a loaded test machine,
        // where the parallel suites can hold both cooperative threads for seconds.
        #expect(elapsed < EventRecorder.shutdownDrainLimit + .seconds(15), "ended \(elapsed) after shutdown began")
    }
}

/// An API server that never answers: every request waits until its task is cancelled.
final class UnreachableAPI: KubernetesClient {
    let calls = Mutex(0)

    func hang() async throws -> Never {
        calls.withLock { $0 += 1 }
        while true { try await Task.sleep(for: .seconds(3600)) }
    }

    func get(_ resource: ResourceReference, namespace: String?, name: String, subresource: String?) async throws -> JSONValue { try await hang() }
    func list(_ resource: ResourceReference, namespace: String?, options: ListOptions) async throws -> ObjectList { try await hang() }
    func create(_ resource: ResourceReference, namespace: String?, _ object: JSONValue, subresource: String?) async throws -> JSONValue { try await hang() }
    func update(_ resource: ResourceReference, namespace: String?, _ object: JSONValue, subresource: String?) async throws -> JSONValue { try await hang() }
    func patch(_ resource: ResourceReference, namespace: String?, name: String, _ patch: JSONValue, type: PatchType,
        subresource: String?) async throws -> JSONValue { try await hang() }
    func delete(_ resource: ResourceReference, namespace: String?, name: String, options: JSONValue?) async throws -> JSONValue { try await hang() }
    func deleteCollection(_ resource: ResourceReference, namespace: String?, options: ListOptions) async throws -> JSONValue { try await hang() }
    func raw(_ method: HTTPMethod, _ path: String, body: JSONValue?) async throws -> JSONValue { try await hang() }
    func watch(_ resource: ResourceReference, namespace: String?, options: ListOptions) -> AsyncThrowingStream<WatchEvent, any Error> {
        AsyncThrowingStream { _ in }
    }
}
