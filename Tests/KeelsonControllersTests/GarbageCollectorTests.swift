import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Testing

@testable import KeelsonControllers

@Suite("Garbage collector")
struct GarbageCollectorTests {
    struct Fixture {
        let api = FakeKubernetesAPI()
        let replicaSets: Informer
        let pods: Informer
        let configMaps: Informer
        let collector: GarbageCollector
        let queue = WorkQueue<String>(name: "test")

        init() {
            replicaSets = Informer(client: api, resource: .replicaSets, logger: InformerFixture.logger)
            pods = Informer(client: api, resource: .pods, logger: InformerFixture.logger)
            configMaps = Informer(client: api, resource: .configMaps, logger: InformerFixture.logger)
            let verbs: Set<String> = ["list", "watch", "delete", "get"]
            var resources: [(DiscoveredResource, Informer)] = []
            for (informer, kind) in [(replicaSets, "ReplicaSet"), (pods, "Pod"), (configMaps, "ConfigMap")] {
                informer.addIndex(.ownerUID)
                resources.append((DiscoveredResource(reference: informer.resource, kind: kind, verbs: verbs), informer))
            }
            collector = GarbageCollector(client: api, resources: resources, logger: InformerFixture.logger)
            collector.register(queue)
        }

        func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
            try await InformerFixture.run([replicaSets, pods, configMaps], body)
        }

        /// Runs the collector's queue until it is empty and every cache shows what the API stores.
        func drain() async throws {
            for _ in 0..<20 {
                try await waitUntil("caches") {
                    pods.list().count == api.stored(.pods).count && replicaSets.list().count == api.stored(.replicaSets).count
                        && Set(pods.list().compactMap(\.resourceVersion)) == Set(api.stored(.pods).compactMap(\.resourceVersion))
                        && Set(replicaSets.list().compactMap(\.resourceVersion)) == Set(api.stored(.replicaSets).compactMap(\.resourceVersion))
                }
                if queue.count == 0 { return }
                while queue.count > 0, let key = await queue.next() {
                    _ = try await collector.reconcile(key)
                    queue.done(key)
                }
            }
        }
    }

    static func rs(_ name: String, finalizers: [String] = [], deleting: Bool = false) -> JSONValue {
        var rs: JSONValue = ["apiVersion": "apps/v1", "kind": "ReplicaSet",
                             "metadata": ["name": .string(name), "namespace": "default", "uid": .string("uid-\(name)")]]
        rs.finalizers = finalizers
        if deleting { rs.deletionTimestamp = "2026-01-01T00:00:00Z" }
        return rs
    }

    static func pod(_ name: String, owners: [String], block: Bool = true) -> JSONValue {
        var pod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": "default"]]
        pod.ownerReferences = owners.map {
            OwnerReference(apiVersion: "apps/v1", kind: "ReplicaSet", name: $0, uid: "uid-\($0)", controller: owners.first == $0,
                blockOwnerDeletion: block)
        }
        return pod
    }

    @Test("a dependent whose only owner is gone is deleted; one with a live owner only loses the dangling reference")
    func background() async throws {
        let f = Fixture()
        f.api.seed(.replicaSets, Self.rs("alive"))
        f.api.seed(.pods, Self.pod("orphaned", owners: ["gone"]), Self.pod("shared", owners: ["gone", "alive"]), Self.pod("kept", owners: ["alive"]))
        try await f.run {
            try await f.drain()
            #expect(f.api.stored(.pods).compactMap(\.name) == ["kept", "shared"])
            #expect(f.api.stored(.pods, namespace: "default", name: "shared")?.ownerReferences.map(\.name) == ["alive"])
        }
    }

    @Test("deleting the owner later collects its dependents")
    func ownerDeleted() async throws {
        let f = Fixture()
        f.api.seed(.replicaSets, Self.rs("web"))
        f.api.seed(.pods, Self.pod("a", owners: ["web"]), Self.pod("b", owners: ["web"]))
        try await f.run {
            try await f.drain()
            #expect(f.api.stored(.pods).count == 2)
            try await f.api.delete(.replicaSets, namespace: "default", name: "web")
            try await f.drain()
            #expect(f.api.stored(.pods).isEmpty)
        }
    }

    @Test("foreground: dependents go first, then the owner's finalizer is removed and the owner goes")
    func foreground() async throws {
        let f = Fixture()
        f.api.seed(.replicaSets, Self.rs("web"))
        f.api.seed(.pods, Self.pod("a", owners: ["web"]), Self.pod("b", owners: ["web"], block: false))
        try await f.run {
            try await f.api.delete(.replicaSets, namespace: "default", name: "web", uid: "uid-web", propagationPolicy: "Foreground")
            #expect(f.api.stored(.replicaSets, namespace: "default", name: "web")?.finalizers == ["foregroundDeletion"])
            try await f.drain()
            #expect(f.api.stored(.pods).isEmpty)
            #expect(f.api.stored(.replicaSets).isEmpty)
            let order = f.api.writes.filter { $0.verb == "delete" || $0.verb == "patch" }.map { "\($0.verb) \($0.resource)" }
            #expect(order.last == "patch replicasets", "the owner is released last: \(order)")
        }
    }

    @Test("orphan: dependents lose the reference and stay; the owner goes")
    func orphan() async throws {
        let f = Fixture()
        f.api.seed(.replicaSets, Self.rs("web"))
        f.api.seed(.pods, Self.pod("a", owners: ["web"]))
        try await f.run {
            try await f.api.delete(.replicaSets, namespace: "default", name: "web", uid: "uid-web", propagationPolicy: "Orphan")
            try await f.drain()
            #expect(f.api.stored(.replicaSets).isEmpty)
            #expect(f.api.stored(.pods).compactMap(\.name) == ["a"])
            #expect(f.api.stored(.pods, namespace: "default", name: "a")?.ownerReferences.isEmpty == true)
        }
    }

    @Test("an owner of a kind the server does not serve never causes a delete")
    func unknownOwnerKind() async throws {
        let f = Fixture()
        var pod = Self.pod("p", owners: [])
        pod.ownerReferences = [OwnerReference(apiVersion: "example.com/v1", kind: "Widget", name: "w", uid: "uid-w")]
        f.api.seed(.pods, pod)
        try await f.run {
            try await f.drain()
            #expect(f.api.stored(.pods).count == 1)
        }
    }
}
