import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Synchronization
import Testing

@testable import KeelsonControllers

@Suite("Node lifecycle, node IPAM and pod GC")
struct NodeControllersTests {
    final class Clock: Sendable {
        let time = Mutex(Date())
        var now: Date { time.withLock { $0 } }
        func advance(_ seconds: TimeInterval) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
    }

    struct Fixture {
        let api = FakeKubernetesAPI()
        let nodes: Informer
        let leases: Informer
        let pods: Informer
        let clock = Clock()

        init() {
            nodes = Informer(client: api, resource: .nodes, logger: InformerFixture.logger)
            leases = Informer(client: api, resource: .leases, logger: InformerFixture.logger)
            pods = Informer(client: api, resource: .pods, logger: InformerFixture.logger)
            pods.addIndex(.nodeName)
        }

        func lifecycle(grace: Duration) -> NodeLifecycleController {
            let clock = self.clock
            let controller = NodeLifecycleController(client: api, nodes: nodes, leases: leases, pods: pods, events: nil,
                configuration: .init(gracePeriod: grace, monitorPeriod: .seconds(5)), logger: InformerFixture.logger, now: { clock.now })
            controller.register(WorkQueue<String>(name: "test"))
            return controller
        }

        func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
            try await InformerFixture.run([nodes, leases, pods], body)
        }

        func caughtUp() async throws {
            try await waitUntil("caches") {
                Set(nodes.list().compactMap(\.resourceVersion)) == Set(api.stored(.nodes).compactMap(\.resourceVersion))
                    && Set(pods.list().compactMap(\.resourceVersion)) == Set(api.stored(.pods).compactMap(\.resourceVersion))
            }
        }

        var node: JSONValue { api.stored(.nodes, name: "n1") ?? .null }
        var taints: [String] { Taints.taints(of: node).map { "\($0["key"]?.stringValue ?? ""):\($0["effect"]?.stringValue ?? "")" }.sorted() }
    }

    static func node(ready: String? = "True", unschedulable: Bool = false, taints: JSONValue? = nil) -> JSONValue {
        var node: JSONValue = ["apiVersion": "v1", "kind": "Node", "metadata": ["name": "n1"], "spec": [:]]
        if let ready {
            node["status"] = ["conditions": [["type": "Ready", "status": .string(ready), "lastHeartbeatTime": .string(Timestamp.format(Date()))]]]
        }
        if unschedulable { node.setValue(true, at: ["spec", "unschedulable"]) }
        if let taints { node.setValue(taints, at: ["spec", "taints"]) }
        return node
    }

    static func pod(_ name: String, node: String = "n1", tolerations: JSONValue = []) -> JSONValue {
        ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": "default"],
         "spec": ["nodeName": .string(node), "tolerations": tolerations], "status": ["phase": "Running"]]
    }

    @Test("conditions and cordoning become taints; taints of others are kept", arguments: [
        ("True", false, [String]()),
        ("False", false, ["node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/not-ready:NoSchedule"]),
        ("True", true, ["node.kubernetes.io/unschedulable:NoSchedule"]),
    ])
    func taints(ready: String, unschedulable: Bool, expected: [String]) async throws {
        let f = Fixture()
        f.api.seed(.nodes, Self.node(ready: ready, unschedulable: unschedulable, taints: [["key": "team", "value": "a", "effect": "NoSchedule"]]))
        let controller = f.lifecycle(grace: .seconds(40))
        try await f.run {
            try await f.caughtUp()
            _ = try await controller.reconcile("n1")
            #expect(f.taints == (expected + ["team:NoSchedule"]).sorted())
        }
    }

    @Test("a node silent for the grace period becomes Unknown and unreachable; its pods are marked not ready")
    func silentNode() async throws {
        let f = Fixture()
        f.api.seed(.nodes, Self.node())
        var pod = Self.pod("p", tolerations: [["operator": "Exists"]])
        pod.setValue([["type": "Ready", "status": "True"]], at: ["status", "conditions"])
        f.api.seed(.pods, pod)
        let controller = f.lifecycle(grace: .milliseconds(200))
        try await f.run {
            try await f.caughtUp()
            let first = try await controller.reconcile("n1")
            #expect(f.node["status"]?["conditions"]?.arrayValue?.first?["status"] == "True")
            guard case .requeue(let after) = first else { Issue.record("expected a look-again, got \(first)"); return }
            #expect(after <= .milliseconds(210), "looked at again when the grace period ends")
            try await Task.sleep(for: after)
            _ = try await controller.reconcile("n1")
            let ready = f.node["status"]?["conditions"]?.arrayValue?.first { $0["type"] == "Ready" }
            #expect(ready?["status"] == "Unknown")
            #expect(ready?["reason"] == "NodeStatusUnknown")
            #expect(f.taints == ["node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"])
            let podReady = f.api.stored(.pods, namespace: "default", name: "p")?["status"]?["conditions"]?.arrayValue?.first
            #expect(podReady?["status"] == "False")
        }
    }

    @Test("NoExecute: intolerant pods go at once, tolerating ones after tolerationSeconds, forever-tolerating ones stay")
    func eviction() async throws {
        let f = Fixture()
        let taint: JSONValue = ["key": "node.kubernetes.io/not-ready", "effect": "NoExecute", "timeAdded": .string(Timestamp.format(Date()))]
        f.api.seed(.nodes, Self.node(ready: "False", taints: [taint, ["key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"]]))
        f.api.seed(.pods,
            Self.pod("intolerant"),
            Self.pod("sixty", tolerations: [["key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60]]),
            Self.pod("forever", tolerations: [["key": "node.kubernetes.io/not-ready", "operator": "Exists"]]),
            Self.pod("elsewhere", node: "n2"))
        let controller = f.lifecycle(grace: .seconds(40))
        try await f.run {
            try await f.caughtUp()
            let result = try await controller.reconcile("n1")
            #expect(f.api.stored(.pods).compactMap(\.name).sorted() == ["elsewhere", "forever", "sixty"])
            guard case .requeue(let after) = result else { Issue.record("expected a look-again, got \(result)"); return }
            #expect(after > .seconds(5) || after == .seconds(5), "the monitor period comes first")
            f.clock.advance(61)
            try await f.caughtUp()
            _ = try await controller.reconcile("n1")
            #expect(f.api.stored(.pods).compactMap(\.name).sorted() == ["elsewhere", "forever"])
        }
    }

    @Test("node IPAM gives each node its own /24, lowest first, and keeps what nodes have")
    func ipam() async throws {
        let f = Fixture()
        var taken = Self.node()
        taken.name = "n0"
        taken.setValue("10.42.0.0/24", at: ["spec", "podCIDR"])
        f.api.seed(.nodes, taken)
        for name in ["a", "b", "c"] {
            var node = Self.node()
            node.name = name
            f.api.seed(.nodes, node)
        }
        let controller = NodeIPAMController(client: f.api, nodes: f.nodes, clusterRange: IPv4Range("10.42.0.0/16")!, logger: InformerFixture.logger)
        controller.register(WorkQueue<String>(name: "test"))
        try await f.run {
            try await f.caughtUp()
            for name in ["a", "b", "c"] { _ = try await controller.reconcile(name) }  // back to back: the cache lags
            let blocks = ["a", "b", "c"].compactMap { f.api.stored(.nodes, name: $0)?["spec"]?["podCIDR"]?.stringValue }
            #expect(Set(blocks) == ["10.42.1.0/24", "10.42.2.0/24", "10.42.3.0/24"])
            #expect(f.api.stored(.nodes, name: "a")?["spec"]?["podCIDRs"] == [.string(blocks[0])])
        }
    }

    @Test("pod GC: pods of vanished nodes and unscheduled terminating pods go; finished pods over the threshold, oldest first")
    func podGC() async throws {
        let f = Fixture()
        f.api.seed(.nodes, Self.node())
        var unscheduled = Self.pod("unscheduled", node: "")
        unscheduled.deletionTimestamp = "2026-01-01T00:00:00Z"
        unscheduled.finalizers = []
        f.api.seed(.pods, Self.pod("alive"), Self.pod("orphan", node: "gone"), unscheduled)
        for i in 0..<3 {
            var done = Self.pod("done-\(i)")
            done.setValue("Succeeded", at: ["status", "phase"])
            done.setMetadataField("creationTimestamp", .string("2026-01-0\(i + 1)T00:00:00Z"))
            f.api.seed(.pods, done)
        }
        let controller = PodGCController(client: f.api, pods: f.pods, nodes: f.nodes, terminatedPodThreshold: 1, logger: InformerFixture.logger)
        try await f.run {
            try await f.caughtUp()
            let result = try await controller.reconcile(PodGCController.key)
            #expect(result == .requeue(after: .seconds(20)))
            #expect(f.api.stored(.pods).compactMap(\.name).sorted() == ["alive", "done-2"])
        }
    }
}
