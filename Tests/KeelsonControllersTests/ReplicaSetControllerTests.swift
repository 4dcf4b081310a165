import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Testing

@testable import KeelsonControllers

/// Table-style tests of the ReplicaSet controller's sync against the fake API.
@Suite("ReplicaSet controller")
struct ReplicaSetControllerTests {
    struct Fixture {
        let api = FakeKubernetesAPI()
        let replicaSets: Informer
        let pods: Informer
        let controller: ReplicaSetController
        let queue = WorkQueue<String>(name: "test")

        init(now: @escaping @Sendable () -> Date = Date.init) {
            replicaSets = Informer(client: api, resource: .replicaSets, logger: InformerFixture.logger)
            pods = Informer(client: api, resource: .pods, logger: InformerFixture.logger)
            pods.addIndex(.ownerUID)
            controller = ReplicaSetController(client: api, replicaSets: replicaSets, pods: pods, events: nil,
                logger: InformerFixture.logger, now: now)
            controller.register(queue)
        }

        func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
            try await InformerFixture.run([replicaSets, pods], body)
        }

        /// Waits for the pod informer to show what the fake API stores.
        func podsCaughtUp() async throws {
            try await waitUntil("pod cache") {
                Set(pods.list().map { "\($0.name ?? "")@\($0.resourceVersion ?? "")" })
                    == Set(api.stored(.pods).map { "\($0.name ?? "")@\($0.resourceVersion ?? "")" })
            }
        }

        var podCreates: Int { api.writes.filter { $0.verb == "create" && $0.resource == "pods" }.count }
        var podDeletes: [String] { api.writes.filter { $0.verb == "delete" && $0.resource == "pods" }.compactMap(\.name) }
    }

    static func replicaSet(_ name: String = "web", replicas: Int64, minReadySeconds: Int64 = 0) -> JSONValue {
        [
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": ["name": .string(name), "namespace": "default", "uid": .string("uid-\(name)"), "generation": 1],
            "spec": [
                "replicas": .integer(replicas), "minReadySeconds": .integer(minReadySeconds),
                "selector": ["matchLabels": ["app": .string(name)]],
                "template": ["metadata": ["labels": ["app": .string(name)]], "spec": ["containers": [["name": "c", "image": "busybox"]]]],
            ],
        ]
    }

    static func pod(_ name: String, labels: [String: String], owner: String? = nil, phase: String = "Running", ready: Bool = true,
        node: String = "node-1", readySince: String = "2026-01-01T00:00:00Z") -> JSONValue
    {
        var pod: JSONValue = [
            "apiVersion": "v1", "kind": "Pod",
            "metadata": ["name": .string(name), "namespace": "default", "labels": .object(labels.mapValues(JSONValue.string))],
            "spec": ["nodeName": .string(node)],
            "status": ["phase": .string(phase), "conditions": [["type": "Ready", "status": ready ? "True" : "False", "lastTransitionTime": .string(readySince)]]],
        ]
        if let owner {
            pod.ownerReferences = [OwnerReference(apiVersion: "apps/v1", kind: "ReplicaSet", name: owner, uid: "uid-\(owner)", controller: true)]
        }
        return pod
    }

    @Test("creates the missing pods from the template, owned by the ReplicaSet")
    func createsMissing() async throws {
        let f = Fixture()
        f.api.seed(.replicaSets, Self.replicaSet(replicas: 3))
        try await f.run {
            _ = try await f.controller.reconcile("default/web")
            let pods = f.api.stored(.pods, namespace: "default")
            #expect(pods.count == 3)
            for pod in pods {
                #expect(pod.name?.hasPrefix("web-") == true)
                #expect(pod.labels == ["app": "web"])
                #expect(pod.controllerRef?.uid == "uid-web")
                #expect(pod.controllerRef?.blockOwnerDeletion == true)
                #expect(pod["spec"]?["containers"]?.arrayValue?.first?["image"] == "busybox")
            }
        }
    }

    @Test("expectations: a second sync before the cache sees the new pods creates nothing more")
    func expectationsPreventDoubleCreates() async throws {
        let f = Fixture()
        f.api.seed(.replicaSets, Self.replicaSet(replicas: 5))
        try await f.run {
            _ = try await f.controller.reconcile("default/web")
            _ = try await f.controller.reconcile("default/web")
            try await f.podsCaughtUp()
            _ = try await f.controller.reconcile("default/web")
            #expect(f.podCreates == 5)
        }
    }

    @Test("creates go out in slow-start batches and stop at the first failing batch")
    func slowStartStopsOnFailure() async throws {
        let f = Fixture()
        f.api.seed(.replicaSets, Self.replicaSet(replicas: 10))
        f.api.failWhen { action in
            action.verb == "create" && action.resource == "pods" ? Status(code: 403, reason: .forbidden, message: "exceeded quota") : nil
        }
        try await f.run {
            await #expect(throws: (any Error).self) { try await f.controller.reconcile("default/web") }
            // Batch of 1 failed: one request, not ten.
            #expect(f.podCreates == 1)
            let status = f.api.stored(.replicaSets, namespace: "default", name: "web")?["status"]
            #expect(status?["conditions"]?.arrayValue?.first?["type"] == "ReplicaFailure")
            #expect(status?["conditions"]?.arrayValue?.first?["reason"] == "FailedCreate")
            #expect(status?["conditions"]?.arrayValue?.first?["message"] == "exceeded quota")
            // The failed create lowered the expectations, so the next sync tries again at once.
            f.api.failWhen(nil)
            _ = try await f.controller.reconcile("default/web")
            #expect(f.api.stored(.pods).count == 10)
        }
    }

    @Test("scale down deletes unscheduled, then pending, then not-ready pods first, with uid preconditions")
    func scaleDownOrder() async throws {
        let f = Fixture()
        let labels = ["app": "web"]
        f.api.seed(.replicaSets, Self.replicaSet(replicas: 2))
        f.api.seed(.pods,
            Self.pod("old-ready", labels: labels, owner: "web", readySince: "2026-01-01T00:00:00Z"),
            Self.pod("new-ready", labels: labels, owner: "web", readySince: "2026-01-02T00:00:00Z"),
            Self.pod("not-ready", labels: labels, owner: "web", ready: false),
            Self.pod("pending", labels: labels, owner: "web", phase: "Pending", ready: false),
            Self.pod("unscheduled", labels: labels, owner: "web", phase: "Pending", ready: false, node: ""))
        try await f.run {
            _ = try await f.controller.reconcile("default/web")
            #expect(Set(f.podDeletes) == ["unscheduled", "pending", "not-ready"])
            #expect(f.api.stored(.pods).compactMap(\.name).sorted() == ["new-ready", "old-ready"])
            f.api.clearActions()
            try await f.podsCaughtUp()
            _ = try await f.controller.reconcile("default/web")
            #expect(f.podDeletes.isEmpty)
            let status = f.api.stored(.replicaSets, namespace: "default", name: "web")?["status"]
            #expect(status?["replicas"] == 2)
            #expect(status?["readyReplicas"] == 2)
            // One more scale-down takes the most recently ready pod.
            var rs = f.api.stored(.replicaSets, namespace: "default", name: "web")!
            rs.setValue(1, at: ["spec", "replicas"])
            try await f.api.update(.replicaSets, namespace: "default", rs)
            try await waitUntil("rs cache") { f.replicaSets.get("default/web")?["spec"]?["replicas"] == 1 }
            _ = try await f.controller.reconcile("default/web")
            #expect(f.podDeletes == ["new-ready"])
        }
    }

    @Test("adopts a matching orphan and releases an owned pod whose labels no longer match")
    func adoptionAndRelease() async throws {
        let f = Fixture()
        f.api.seed(.replicaSets, Self.replicaSet(replicas: 2))
        f.api.seed(.pods,
            Self.pod("orphan", labels: ["app": "web"]),
            Self.pod("owned", labels: ["app": "web"], owner: "web"),
            Self.pod("relabelled", labels: ["app": "other"], owner: "web"),
            Self.pod("stranger", labels: ["app": "other"]))
        try await f.run {
            _ = try await f.controller.reconcile("default/web")
            #expect(f.api.stored(.pods, namespace: "default", name: "orphan")?.controllerRef?.uid == "uid-web")
            #expect(f.api.stored(.pods, namespace: "default", name: "relabelled")?.ownerReferences.isEmpty == true)
            #expect(f.api.stored(.pods, namespace: "default", name: "stranger")?.ownerReferences.isEmpty == true)
            #expect(f.podCreates == 0, "two matching pods already run")
            #expect(f.podDeletes.isEmpty)
        }
    }

    @Test("availableReplicas counts pods ready for minReadySeconds, and the sync asks to look again")
    func minReadySeconds() async throws {
        let now = Date()
        let f = Fixture(now: { now })
        f.api.seed(.replicaSets, Self.replicaSet(replicas: 2, minReadySeconds: 30))
        f.api.seed(.pods,
            Self.pod("long-ready", labels: ["app": "web"], owner: "web", readySince: Timestamp.format(now.addingTimeInterval(-60))),
            Self.pod("just-ready", labels: ["app": "web"], owner: "web", readySince: Timestamp.format(now.addingTimeInterval(-5))))
        try await f.run {
            let result = try await f.controller.reconcile("default/web")
            #expect(result == .requeue(after: .seconds(30)))
            let status = f.api.stored(.replicaSets, namespace: "default", name: "web")?["status"]
            #expect(status?["readyReplicas"] == 2)
            #expect(status?["availableReplicas"] == 1)
            #expect(status?["observedGeneration"] == 1)
        }
    }

    @Test("terminating and finished pods do not count as replicas")
    func inactivePodsAreReplaced() async throws {
        let f = Fixture()
        var terminating = Self.pod("terminating", labels: ["app": "web"], owner: "web")
        terminating.deletionTimestamp = "2026-01-01T00:00:00Z"
        terminating.finalizers = ["test/hold"]
        f.api.seed(.replicaSets, Self.replicaSet(replicas: 2))
        f.api.seed(.pods, terminating,
            Self.pod("succeeded", labels: ["app": "web"], owner: "web", phase: "Succeeded", ready: false),
            Self.pod("running", labels: ["app": "web"], owner: "web"))
        try await f.run {
            _ = try await f.controller.reconcile("default/web")
            #expect(f.podCreates == 1)
            #expect(f.podDeletes.isEmpty)
        }
    }

    @Test("a ReplicaSet that is gone needs nothing")
    func deletedReplicaSet() async throws {
        let f = Fixture()
        try await f.run {
            let result = try await f.controller.reconcile("default/gone")
            #expect(result == .done)
            #expect(f.api.writes.isEmpty)
        }
    }
}
