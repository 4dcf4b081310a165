import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Synchronization
import Testing

@Suite("Informer sync loop")
struct InformerSyncTests {
    static func configMap(_ name: String) -> JSONValue {
        ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string(name), "namespace": "x"]]
    }

    @Test("the first sync sees the whole first list; later changes and a requested retry bring more syncs")
    func syncs() async throws {
        let api = FakeKubernetesAPI()
        api.seed(.configMaps, Self.configMap("a"), Self.configMap("b"))
        let informer = Informer(client: api, resource: .configMaps, logger: InformerFixture.logger)
        let seen = Mutex<[Int]>([])
        let retried = Mutex(false)
        let loop = Task {
            try await InformerSync.run([informer]) {
                seen.withLock { $0.append(informer.list().count) }
                // One retry, asked for by the first sync: a sync follows without any change.
                return retried.withLock { done in
                    defer { done = true }
                    return done ? nil : .milliseconds(20)
                }
            }
        }
        defer { loop.cancel() }
        // Generous deadlines: in a parallel run the cooperative threads can be busy for seconds with other suites.
        try await waitUntil(timeout: .seconds(30), "the retry") { seen.withLock { $0.count } >= 2 }
        #expect(seen.withLock { $0.first } == 2, "the first sync comes after the first list, not in the middle of it")
        _ = try await api.create(.configMaps, namespace: "x", Self.configMap("c"))
        try await waitUntil(timeout: .seconds(30), "a sync after the change") { seen.withLock { $0.last } == 3 }
    }
}
