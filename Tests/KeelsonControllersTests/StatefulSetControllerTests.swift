import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Testing

@testable import KeelsonControllers

@Suite("StatefulSet controller")
struct StatefulSetControllerTests {
    struct Fixture {
        let api = FakeKubernetesAPI()
        let statefulSets: Informer
        let pods: Informer
        let claims: Informer
        let revisions: Informer
        let controller: StatefulSetController

        init() {
            statefulSets = Informer(client: api, resource: .statefulSets, logger: InformerFixture.logger)
            pods = Informer(client: api, resource: .pods, logger: InformerFixture.logger)
            claims = Informer(client: api, resource: .persistentVolumeClaims, logger: InformerFixture.logger)
            revisions = Informer(client: api, resource: .controllerRevisions, logger: InformerFixture.logger)
            pods.addIndex(.ownerUID)
            revisions.addIndex(.ownerUID)
            controller = StatefulSetController(client: api, statefulSets: statefulSets, pods: pods, claims: claims, revisions: revisions,
                events: nil, logger: InformerFixture.logger)
        }

        func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
            try await InformerFixture.run([statefulSets, pods, claims, revisions], body)
        }

        func sync() async throws {
            try await waitUntil("caches") {
                Set(pods.list().compactMap(\.resourceVersion)) == Set(api.stored(.pods).compactMap(\.resourceVersion))
                    && Set(revisions.list().compactMap(\.resourceVersion)) == Set(api.stored(.controllerRevisions).compactMap(\.resourceVersion))
                    && Set(claims.list().compactMap(\.resourceVersion)) == Set(api.stored(.persistentVolumeClaims).compactMap(\.resourceVersion))
                    && statefulSets.get("default/db")?.resourceVersion == api.stored(.statefulSets, namespace: "default", name: "db")?.resourceVersion
            }
            _ = try await controller.reconcile("default/db")
        }

        var podNames: [String] { api.stored(.pods).filter { $0.deletionTimestamp == nil }.compactMap(\.name).sorted() }

        func makeReady(_ name: String) async throws {
            try await api.patch(.pods, namespace: "default", name: name, ["status": ["phase": "Running",
                "conditions": [["type": "Ready", "status": "True"]]]], type: .merge, subresource: "status")
        }

        func makeAllReady() async throws {
            for pod in api.stored(.pods) where !PodState.isReady(pod) { try await makeReady(pod.name ?? "") }
        }
    }

    static func statefulSet(replicas: Int64 = 3, policy: String = "OrderedReady", image: String = "db:1", partition: Int64 = 0) -> JSONValue {
        ["apiVersion": "apps/v1", "kind": "StatefulSet",
         "metadata": ["name": "db", "namespace": "default", "uid": "uid-sts", "generation": 1],
         "spec": ["replicas": .integer(replicas), "serviceName": "db", "podManagementPolicy": .string(policy),
                  "selector": ["matchLabels": ["app": "db"]],
                  "updateStrategy": ["type": "RollingUpdate", "rollingUpdate": ["partition": .integer(partition)]],
                  "template": ["metadata": ["labels": ["app": "db"]], "spec": ["containers": [["name": "db", "image": .string(image)]]]],
                  "volumeClaimTemplates": [["metadata": ["name": "data"], "spec": ["accessModes": ["ReadWriteOnce"]]]]]]
    }

    @Test("OrderedReady creates one ordinal at a time, each with its identity and claim, once the previous is ready")
    func orderedCreation() async throws {
        let f = Fixture()
        f.api.seed(.statefulSets, Self.statefulSet())
        try await f.run {
            try await f.sync()
            #expect(f.podNames == ["db-0"])
            try await f.sync()
            #expect(f.podNames == ["db-0"], "db-1 waits for db-0 to be ready")
            let pod = try #require(f.api.stored(.pods, namespace: "default", name: "db-0"))
            #expect(pod["spec"]?["hostname"] == "db-0")
            #expect(pod["spec"]?["subdomain"] == "db")
            #expect(pod.labels["statefulset.kubernetes.io/pod-name"] == "db-0")
            #expect(pod.labels["apps.kubernetes.io/pod-index"] == "0")
            #expect(pod["spec"]?["volumes"] == [["name": "data", "persistentVolumeClaim": ["claimName": "data-db-0"]]])
            #expect(f.api.stored(.persistentVolumeClaims, namespace: "default", name: "data-db-0")?.labels == ["app": "db"])
            try await f.makeReady("db-0")
            try await f.sync()
            #expect(f.podNames == ["db-0", "db-1"])
        }
    }

    @Test("Parallel creates every ordinal at once; scaling down removes the highest ordinals and keeps their claims")
    func parallelAndScaleDown() async throws {
        let f = Fixture()
        f.api.seed(.statefulSets, Self.statefulSet(policy: "Parallel"))
        try await f.run {
            try await f.sync()
            #expect(f.podNames == ["db-0", "db-1", "db-2"])
            var sts = try #require(f.api.stored(.statefulSets, namespace: "default", name: "db"))
            sts.setValue(1, at: ["spec", "replicas"])
            try await f.api.update(.statefulSets, namespace: "default", sts)
            try await f.sync()
            #expect(f.podNames == ["db-0"])
            #expect(f.api.stored(.persistentVolumeClaims).count == 3)
        }
    }

    @Test("a rolling update replaces pods from the highest ordinal down to the partition, one at a time")
    func rollingUpdate() async throws {
        let f = Fixture()
        f.api.seed(.statefulSets, Self.statefulSet(policy: "Parallel", partition: 1))
        try await f.run {
            try await f.sync()
            try await f.makeAllReady()
            try await f.sync()
            let oldHash = try #require(f.api.stored(.pods, namespace: "default", name: "db-0")?.labels["controller-revision-hash"])
            var sts = try #require(f.api.stored(.statefulSets, namespace: "default", name: "db"))
            sts.setValue([["name": "db", "image": "db:2"]], at: ["spec", "template", "spec", "containers"])
            try await f.api.update(.statefulSets, namespace: "default", sts)
            try await f.sync()
            #expect(f.podNames == ["db-0", "db-1"], "db-2 goes first")
            try await f.sync()
            #expect(f.api.stored(.pods, namespace: "default", name: "db-2")?["spec"]?["containers"]?.arrayValue?.first?["image"] == "db:2")
            try await f.makeAllReady()
            try await f.sync()
            #expect(f.podNames == ["db-0", "db-2"], "then db-1")
            try await f.sync()
            try await f.makeAllReady()
            try await f.sync()
            try await f.sync()
            // db-0 is below the partition: it keeps the old revision.
            #expect(f.api.stored(.pods, namespace: "default", name: "db-0")?.labels["controller-revision-hash"] == oldHash)
            let status = f.api.stored(.statefulSets, namespace: "default", name: "db")?["status"]
            #expect(status?["updatedReplicas"] == 2)
            #expect(status?["currentRevision"]?.stringValue == oldHash)
            #expect(status?["updateRevision"]?.stringValue != oldHash)
        }
    }
}
