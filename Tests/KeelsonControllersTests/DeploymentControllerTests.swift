import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Testing

@testable import KeelsonControllers

@Suite("Deployment controller")
struct DeploymentControllerTests {
    struct Fixture {
        let api = FakeKubernetesAPI()
        let deployments: Informer
        let replicaSets: Informer
        let pods: Informer
        let controller: DeploymentController

        init(now: @escaping @Sendable () -> Date = Date.init) {
            deployments = Informer(client: api, resource: .deployments, logger: InformerFixture.logger)
            replicaSets = Informer(client: api, resource: .replicaSets, logger: InformerFixture.logger)
            replicaSets.addIndex(.ownerUID)
            pods = Informer(client: api, resource: .pods, logger: InformerFixture.logger)
            pods.addIndex(.ownerUID)
            controller = DeploymentController(client: api, deployments: deployments, replicaSets: replicaSets, pods: pods,
                events: nil, logger: InformerFixture.logger, now: now)
        }

        func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
            try await InformerFixture.run([deployments, replicaSets, pods], body)
        }

        func replicaSetsByName() -> [String: JSONValue] {
            Dictionary(uniqueKeysWithValues: api.stored(.replicaSets, namespace: "default").map { ($0.name ?? "", $0) })
        }
    }

    static let uid = "uid-web"

    static func deployment(image: String = "app:2", replicas: Int64 = 3, strategy: JSONValue? = nil, extra: [String: JSONValue] = [:]) -> JSONValue {
        var spec: JSONValue = [
            "replicas": .integer(replicas), "selector": ["matchLabels": ["app": "web"]],
            "template": ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "app", "image": .string(image)]]]],
        ]
        if let strategy { spec["strategy"] = strategy }
        for (key, value) in extra { spec[key] = value }
        return ["apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": ["name": "web", "namespace": "default", "uid": .string(uid), "generation": 2], "spec": spec]
    }

    /// A ReplicaSet of the deployment running `image`, with `available` of its `replicas` available.
    static func replicaSet(_ name: String, image: String, replicas: Int64, available: Int64? = nil, revision: Int,
        created: String = "2026-01-01T00:00:00Z", desired: Int64 = 3, maxReplicas: Int64? = nil) -> JSONValue
    {
        var rs: JSONValue = [
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": [
                "name": .string(name), "namespace": "default", "uid": .string("uid-\(name)"), "creationTimestamp": .string(created),
                "labels": ["app": "web", "pod-template-hash": .string(name)],
                "annotations": [
                    "deployment.kubernetes.io/revision": .string(String(revision)),
                    "deployment.kubernetes.io/desired-replicas": .string(String(desired)),
                    "deployment.kubernetes.io/max-replicas": .string(String(maxReplicas ?? desired + 1)),
                ],
            ],
            "spec": [
                "replicas": .integer(replicas), "selector": ["matchLabels": ["app": "web", "pod-template-hash": .string(name)]],
                "template": ["metadata": ["labels": ["app": "web", "pod-template-hash": .string(name)]],
                             "spec": ["containers": [["name": "app", "image": .string(image)]]]],
            ],
            "status": ["replicas": .integer(replicas), "readyReplicas": .integer(available ?? replicas),
                       "availableReplicas": .integer(available ?? replicas)],
        ]
        rs.ownerReferences = [OwnerReference(apiVersion: "apps/v1", kind: "Deployment", name: "web", uid: uid, controller: true)]
        return rs
    }

    @Test("surge and unavailability: percentages round up and down, and never both zero", arguments: [
        (JSONValue("25%"), JSONValue("25%"), 10, 3, 2),
        (JSONValue(1), JSONValue(0), 4, 1, 0),
        (JSONValue(0), JSONValue("10%"), 5, 0, 1),
        (JSONValue("0%"), JSONValue(0), 5, 0, 1),
    ])
    func bounds(surge: JSONValue, unavailable: JSONValue, replicas: Int64, expectedSurge: Int, expectedUnavailable: Int) throws {
        let d = Self.deployment(replicas: replicas, strategy: ["type": "RollingUpdate", "rollingUpdate": ["maxSurge": surge, "maxUnavailable": unavailable]])
        let rollout = try Rollout(deployment: d)
        #expect(rollout.maxSurge == expectedSurge)
        #expect(rollout.maxUnavailable == expectedUnavailable)
    }

    @Test("a new Deployment gets a ReplicaSet NAME-HASH at revision 1 with the hash in its selector and template")
    func createsFirstReplicaSet() async throws {
        let f = Fixture()
        f.api.seed(.deployments, Self.deployment())
        try await f.run {
            _ = try await f.controller.reconcile("default/web")
            let sets = f.api.stored(.replicaSets, namespace: "default")
            #expect(sets.count == 1)
            let rs = try #require(sets.first)
            let hash = try #require(rs.labels["pod-template-hash"])
            #expect(rs.name == "web-\(hash)")
            #expect(rs["spec"]?["replicas"] == 3)
            #expect(rs["spec"]?["selector"]?["matchLabels"]?["pod-template-hash"] == .string(hash))
            #expect(rs["spec"]?["template"]?["metadata"]?["labels"]?["pod-template-hash"] == .string(hash))
            #expect(rs.annotations["deployment.kubernetes.io/revision"] == "1")
            #expect(rs.controllerRef?.uid == Self.uid)
            let d = try #require(f.api.stored(.deployments, namespace: "default", name: "web"))
            #expect(d.annotations["deployment.kubernetes.io/revision"] == "1")
            #expect(d["status"]?["observedGeneration"] == 2)
            let progressing = d["status"]?["conditions"]?.arrayValue?.first { $0["type"] == "Progressing" }
            #expect(progressing?["reason"] == "NewReplicaSetCreated")
        }
    }

    @Test("a rolling update surges the new ReplicaSet, then scales the old one down only as availability allows")
    func rollingUpdateSteps() async throws {
        let f = Fixture()
        f.api.seed(.deployments, Self.deployment(image: "app:2", replicas: 4,
            strategy: ["type": "RollingUpdate", "rollingUpdate": ["maxSurge": 1, "maxUnavailable": 0]]))
        f.api.seed(.replicaSets, Self.replicaSet("old", image: "app:1", replicas: 4, revision: 1, desired: 4))
        try await f.run {
            _ = try await f.controller.reconcile("default/web")
            var sets = f.replicaSetsByName()
            let newName = try #require(sets.keys.first { $0 != "old" })
            #expect(sets[newName]?["spec"]?["replicas"] == 1, "one surge pod")
            #expect(sets[newName]?.annotations["deployment.kubernetes.io/revision"] == "2")
            #expect(sets["old"]?["spec"]?["replicas"] == 4, "maxUnavailable 0: nothing old goes before a new pod is available")

            // The new pod becomes available: one old pod may go.
            var newRS = try #require(sets[newName])
            newRS["status"] = ["replicas": 1, "readyReplicas": 1, "availableReplicas": 1]
            f.api.seed(.replicaSets, newRS)
            try await waitUntil("cache") { f.replicaSets.get("default/\(newName)")?["status"]?["availableReplicas"] == 1 }
            _ = try await f.controller.reconcile("default/web")
            sets = f.replicaSetsByName()
            #expect(sets["old"]?["spec"]?["replicas"] == 3)
            #expect(sets[newName]?["spec"]?["replicas"] == 1)
        }
    }

    @Test("Recreate scales the old ReplicaSet to zero and creates the new one only once the old pods are gone")
    func recreate() async throws {
        let f = Fixture()
        f.api.seed(.deployments, Self.deployment(image: "app:2", replicas: 2, strategy: ["type": "Recreate"]))
        f.api.seed(.replicaSets, Self.replicaSet("old", image: "app:1", replicas: 2, revision: 1, desired: 2))
        var pod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "old-1", "namespace": "default", "labels": ["app": "web"]],
                              "status": ["phase": "Running"]]
        pod.ownerReferences = [OwnerReference(apiVersion: "apps/v1", kind: "ReplicaSet", name: "old", uid: "uid-old", controller: true)]
        f.api.seed(.pods, pod)
        try await f.run {
            _ = try await f.controller.reconcile("default/web")
            #expect(f.replicaSetsByName()["old"]?["spec"]?["replicas"] == 0)
            #expect(f.replicaSetsByName().count == 1, "no new ReplicaSet while old pods run")

            var old = try #require(f.api.stored(.replicaSets, namespace: "default", name: "old"))
            old["status"] = ["replicas": 0]
            f.api.seed(.replicaSets, old)
            try await waitUntil("cache") { f.replicaSets.get("default/old")?["status"]?["replicas"] == 0 }
            _ = try await f.controller.reconcile("default/web")
            #expect(f.replicaSetsByName().count == 1, "the old pod is still running")

            try await f.api.delete(.pods, namespace: "default", name: "old-1")
            try await waitUntil("cache") { f.pods.list().isEmpty }
            _ = try await f.controller.reconcile("default/web")
            let newRS = f.replicaSetsByName().first { $0.key != "old" }?.value
            #expect(newRS?["spec"]?["replicas"] == 2)
        }
    }

    @Test("scaling mid-rollout spreads the change over the ReplicaSets in proportion")
    func proportionalScaling() throws {
        // Kubernetes' documented example: 10 replicas, maxSurge 3, caught at 8 old + 5 new; scaled to 15.
        var rollout = try Rollout(deployment: Self.deployment(image: "app:2", replicas: 15,
            strategy: ["type": "RollingUpdate", "rollingUpdate": ["maxSurge": 3, "maxUnavailable": 2]]))
        rollout.classify([
            Self.replicaSet("old", image: "app:1", replicas: 8, revision: 1, desired: 10, maxReplicas: 13),
            Self.replicaSet("new", image: "app:2", replicas: 5, available: 0, revision: 2, created: "2026-01-02T00:00:00Z",
                desired: 10, maxReplicas: 13),
        ])
        #expect(rollout.isScalingEvent)
        let sizes = rollout.proportionalSizes()
        #expect(sizes["uid-old"] == 11)
        #expect(sizes["uid-new"] == 7)
    }

    @Test("a complete rollout deletes empty old ReplicaSets beyond revisionHistoryLimit, oldest revision first")
    func historyLimit() async throws {
        let f = Fixture()
        f.api.seed(.deployments, Self.deployment(image: "app:4", replicas: 1, extra: ["revisionHistoryLimit": 1]))
        // The helper's templates equal the Deployment's once the hash label is ignored: this one is current.
        let current = Self.replicaSet("current", image: "app:4", replicas: 1, revision: 4, created: "2026-01-04T00:00:00Z", desired: 1)
        f.api.seed(.replicaSets, current,
            Self.replicaSet("r1", image: "app:1", replicas: 0, revision: 1, created: "2026-01-01T00:00:00Z", desired: 1),
            Self.replicaSet("r3", image: "app:3", replicas: 0, revision: 3, created: "2026-01-03T00:00:00Z", desired: 1),
            Self.replicaSet("r2", image: "app:2", replicas: 0, revision: 2, created: "2026-01-02T00:00:00Z", desired: 1))
        try await f.run {
            _ = try await f.controller.reconcile("default/web")
            #expect(f.replicaSetsByName().keys.sorted() == ["current", "r3"])
            let progressing = f.api.stored(.deployments, namespace: "default", name: "web")?["status"]?["conditions"]?.arrayValue?
                .first { $0["type"] == "Progressing" }
            #expect(progressing?["reason"] == "NewReplicaSetAvailable")
        }
    }

    @Test("a stuck rollout is looked at again when its progress deadline passes, and then marked ProgressDeadlineExceeded",
        arguments: [30, 61])
    func progressDeadline(secondsSinceProgress: Int) async throws {
        let now = Date()
        let f = Fixture(now: { now })
        var d = Self.deployment(image: "app:2", replicas: 2, extra: ["progressDeadlineSeconds": 60])
        let stale = Timestamp.format(now.addingTimeInterval(-TimeInterval(secondsSinceProgress)))
        d["status"] = ["observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2,
                       "conditions": [["type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": "x",
                                       "lastUpdateTime": .string(stale), "lastTransitionTime": .string(stale)]]]
        f.api.seed(.deployments, d)
        // Stuck: the new pod never becomes available, so the old ones cannot go and nothing moves.
        f.api.seed(.replicaSets,
            Self.replicaSet("old", image: "app:1", replicas: 2, revision: 1, desired: 2),
            Self.replicaSet("new", image: "app:2", replicas: 1, available: 0, revision: 2, created: "2026-01-02T00:00:00Z", desired: 2))
        try await f.run {
            let result = try await f.controller.reconcile("default/web")
            #expect(f.api.writes.allSatisfy { $0.resource == "deployments" }, "no ReplicaSet is touched")
            let progressing = f.api.stored(.deployments, namespace: "default", name: "web")?["status"]?["conditions"]?.arrayValue?
                .first { $0["type"] == "Progressing" }
            if secondsSinceProgress < 60 {
                // Whole seconds in the timestamps: the deadline is 30 s (±1) away, plus a second of slack.
                guard case .requeue(let after) = result else { Issue.record("expected a requeue, got \(result)"); return }
                #expect(after > .seconds(29) && after <= .seconds(32))
                #expect(progressing?["reason"] == "ReplicaSetUpdated")
                return
            }
            #expect(result == .done)
            #expect(progressing?["status"] == "False")
            #expect(progressing?["reason"] == "ProgressDeadlineExceeded")
        }
    }
}

@Suite("Deployment template equality")
struct TemplateEqualityTests {
    @Test("nulls and empty values equal absent fields; the hash label is ignored; real differences count")
    func semantic() {
        let rs: JSONValue = ["metadata": ["labels": ["app": "web", "pod-template-hash": "abc"]],
                             "spec": ["containers": [["name": "c", "image": "i", "resources": [:]]]]]
        let sent: JSONValue = ["metadata": ["creationTimestamp": .null, "labels": ["app": "web"]],
                               "spec": ["containers": [["name": "c", "image": "i"]], "volumes": []]]
        #expect(Rollout.templateEqualIgnoringHash(rs, sent))
        let changed: JSONValue = ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "c", "image": "j"]]]]
        #expect(!Rollout.templateEqualIgnoringHash(rs, changed))
    }
}
