import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Synchronization
import Testing

@testable import KeelsonControllers

@Suite("Namespace and ServiceAccount controllers")
struct NamespaceAndServiceAccountTests {
    static let verbs: Set<String> = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

    @Test("a terminating namespace is emptied, waits while content is held, then is finalized")
    func namespaceDeletion() async throws {
        let api = FakeKubernetesAPI()
        api.serve([DiscoveredResource(reference: .configMaps, kind: "ConfigMap", verbs: Self.verbs),
                   DiscoveredResource(reference: .deployments, kind: "Deployment", verbs: Self.verbs),
                   DiscoveredResource(reference: .namespaces, kind: "Namespace", verbs: Self.verbs)])
        let namespaces = Informer(client: api, resource: .namespaces, logger: InformerFixture.logger)
        let controller = NamespaceController(client: api, namespaces: namespaces, logger: InformerFixture.logger, recheckInterval: .seconds(1))
        var ns: JSONValue = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "doomed", "deletionTimestamp": "2026-01-01T00:00:00Z"],
                             "spec": ["finalizers": ["kubernetes"]], "status": ["phase": "Terminating"]]
        ns.finalizers = []
        api.seed(.namespaces, ns)
        var held: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "held", "namespace": "doomed"]]
        held.finalizers = ["example.com/hold"]
        api.seed(.configMaps, held, ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "plain", "namespace": "doomed"]])
        api.seed(.deployments, ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web", "namespace": "doomed"]])
        try await InformerFixture.run([namespaces]) {
            let first = try await controller.reconcile("doomed")
            #expect(first == .requeue(after: .seconds(1)), "the held ConfigMap remains")
            #expect(api.stored(.deployments).isEmpty)
            #expect(api.stored(.configMaps).compactMap(\.name) == ["held"])
            let conditions = api.stored(.namespaces, name: "doomed")?["status"]?["conditions"]?.arrayValue ?? []
            let finalizers = conditions.first { $0["type"] == "NamespaceFinalizersRemaining" }
            #expect(finalizers?["status"] == "True")
            #expect(finalizers?["message"] == "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
            #expect(conditions.count == 5)

            try await api.patch(.configMaps, namespace: "doomed", name: "held", ["metadata": ["finalizers": .null]])
            try await waitUntil("namespace cache") {
                namespaces.get("doomed")?.resourceVersion == api.stored(.namespaces, name: "doomed")?.resourceVersion
            }
            #expect(try await controller.reconcile("doomed") == .done)
            #expect(api.stored(.namespaces, name: "doomed") == nil, "finalized, and so gone")
            #expect(api.writes.contains { $0.subresource == "finalize" })
        }
    }

    @Test("every active namespace gets a default ServiceAccount; a terminating one does not")
    func defaultAccount() async throws {
        let api = FakeKubernetesAPI()
        let namespaces = Informer(client: api, resource: .namespaces, logger: InformerFixture.logger)
        let accounts = Informer(client: api, resource: .serviceAccounts, logger: InformerFixture.logger)
        let controller = ServiceAccountController(client: api, namespaces: namespaces, serviceAccounts: accounts, logger: InformerFixture.logger)
        api.seed(.namespaces, ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "team"]],
            ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "going", "deletionTimestamp": "2026-01-01T00:00:00Z"],
             "status": ["phase": "Terminating"]])
        try await InformerFixture.run([namespaces, accounts]) {
            _ = try await controller.reconcile("team")
            _ = try await controller.reconcile("going")
            #expect(api.stored(.serviceAccounts).map { "\($0.namespace ?? "")/\($0.name ?? "")" } == ["team/default"])
            try await waitUntil("account cache") { accounts.get("team/default") != nil }
            api.clearActions()
            _ = try await controller.reconcile("team")
            #expect(api.writes.isEmpty, "already there")
        }
    }
}

@Suite("Controller runner")
struct ControllerRunnerTests {
    @Test("cancelling a runner whose workers wait for keys ends it")
    func cancellation() async throws {
        let queue = WorkQueue<String>(name: "test")
        let runner = ControllerRunner(name: "test", queue: queue, waitFor: [], logger: InformerFixture.logger) { _ in .done }
        let ended = Atomic<Bool>(false)
        let task = Task {
            try? await runner.run()
            ended.store(true, ordering: .relaxed)
        }
        queue.add("a")
        // Generous: on a machine busy with other suites the workers may start late; what is tested is the end.
        try await waitUntil(timeout: .seconds(30), "the key is taken") { queue.count == 0 }
        task.cancel()
        // Without the queue being shut down on cancellation, the workers would wait for keys forever.
        try await waitUntil(timeout: .seconds(10), "the runner ends") { ended.load(ordering: .relaxed) }
    }
}
