import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Testing

@testable import KeelsonControllers

@Suite("DaemonSet controller")
struct DaemonSetControllerTests {
    struct Fixture {
        let api = FakeKubernetesAPI()
        let daemonSets: Informer
        let nodes: Informer
        let pods: Informer
        let revisions: Informer
        let controller: DaemonSetController

        init() {
            daemonSets = Informer(client: api, resource: .daemonSets, logger: InformerFixture.logger)
            nodes = Informer(client: api, resource: .nodes, logger: InformerFixture.logger)
            pods = Informer(client: api, resource: .pods, logger: InformerFixture.logger)
            revisions = Informer(client: api, resource: .controllerRevisions, logger: InformerFixture.logger)
            pods.addIndex(.ownerUID)
            revisions.addIndex(.ownerUID)
            controller = DaemonSetController(client: api, daemonSets: daemonSets, nodes: nodes, pods: pods, revisions: revisions,
                events: nil, logger: InformerFixture.logger)
            controller.register(WorkQueue<String>(name: "test"))
        }

        func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
            try await InformerFixture.run([daemonSets, nodes, pods, revisions], body)
        }

        func sync() async throws {
            try await waitUntil("caches") {
                Set(pods.list().compactMap(\.resourceVersion)) == Set(api.stored(.pods).compactMap(\.resourceVersion))
                    && Set(revisions.list().compactMap(\.resourceVersion)) == Set(api.stored(.controllerRevisions).compactMap(\.resourceVersion))
                    && daemonSets.get("default/agent")?.resourceVersion == api.stored(.daemonSets, namespace: "default", name: "agent")?.resourceVersion
            }
            _ = try await controller.reconcile("default/agent")
        }

        var podNodes: [String] { api.stored(.pods).filter(PodState.isActive).compactMap(DaemonSetController.nodeName(of:)).sorted() }
    }

    static func node(_ name: String, labels: [String: String] = [:], taints: JSONValue = []) -> JSONValue {
        ["apiVersion": "v1", "kind": "Node", "metadata": ["name": .string(name), "labels": .object(labels.mapValues(JSONValue.string))],
         "spec": ["taints": taints]]
    }

    static func daemonSet(image: String = "agent:1", nodeSelector: JSONValue? = nil, maxUnavailable: Int64 = 1) -> JSONValue {
        var podSpec: JSONValue = ["containers": [["name": "a", "image": .string(image)]]]
        if let nodeSelector { podSpec["nodeSelector"] = nodeSelector }
        return ["apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": ["name": "agent", "namespace": "default", "uid": "uid-ds", "generation": 1],
                "spec": ["selector": ["matchLabels": ["app": "agent"]],
                         "updateStrategy": ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": .integer(maxUnavailable)]],
                         "template": ["metadata": ["labels": ["app": "agent"]], "spec": podSpec]]]
    }

    @Test("one pod per eligible node: node selector, untolerated taints and default tolerations decide")
    func placement() async throws {
        let f = Fixture()
        f.api.seed(.nodes,
            Self.node("ssd-1", labels: ["disk": "ssd"]),
            Self.node("ssd-tainted", labels: ["disk": "ssd"], taints: [["key": "dedicated", "value": "db", "effect": "NoSchedule"]]),
            Self.node("ssd-cordoned", labels: ["disk": "ssd"], taints: [["key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"]]),
            Self.node("hdd-1", labels: ["disk": "hdd"]))
        f.api.seed(.daemonSets, Self.daemonSet(nodeSelector: ["disk": "ssd"]))
        try await f.run {
            try await f.sync()
            #expect(f.podNodes == ["ssd-1", "ssd-cordoned"])
            let pod = try #require(f.api.stored(.pods).first)
            #expect(pod.controllerRef?.uid == "uid-ds")
            #expect(pod.labels["controller-revision-hash"] != nil)
            #expect(Taints.tolerations(of: pod).contains { $0["key"] == "node.kubernetes.io/unreachable" })
            let status = f.api.stored(.daemonSets, namespace: "default", name: "agent")?["status"]
            #expect(status?["desiredNumberScheduled"] == 2)
            #expect(f.api.stored(.controllerRevisions).count == 1)

            // The node loses the label: its pod goes.
            var node = try #require(f.api.stored(.nodes, name: "ssd-cordoned"))
            node.setValue(["disk": "hdd"], at: ["metadata", "labels"])
            try await f.api.update(.nodes, node)
            try await waitUntil("node cache") { f.nodes.get("ssd-cordoned")?["metadata"]?["labels"]?["disk"] == "hdd" }
            try await f.sync()
            #expect(f.podNodes == ["ssd-1"])
        }
    }

    @Test("a rolling update replaces at most maxUnavailable available pods at a time, unavailable ones first")
    func rollingUpdate() async throws {
        let f = Fixture()
        f.api.seed(.nodes, Self.node("a"), Self.node("b"), Self.node("c"))
        f.api.seed(.daemonSets, Self.daemonSet())
        try await f.run {
            try await f.sync()
            // All three become available; then one of them stops being ready.
            for (i, pod) in f.api.stored(.pods).enumerated() {
                try await f.api.patch(.pods, namespace: "default", name: pod.name ?? "", ["status": ["phase": "Running",
                    "conditions": [["type": "Ready", "status": i == 0 ? "False" : "True"]]]], type: .merge, subresource: "status")
            }
            var ds = try #require(f.api.stored(.daemonSets, namespace: "default", name: "agent"))
            ds.setValue([["name": "a", "image": "agent:2"]], at: ["spec", "template", "spec", "containers"])
            try await f.api.update(.daemonSets, namespace: "default", ds)
            f.api.clearActions()
            try await f.sync()
            let deleted = f.api.writes.filter { $0.verb == "delete" && $0.resource == "pods" }
            // One node is already unavailable, using the whole budget: only its own old pod is replaced.
            #expect(deleted.count == 1)
            #expect(f.api.stored(.controllerRevisions).count == 2)
        }
    }

    @Test("with maxSurge a new pod starts beside the old one, which goes once the new one is available")
    func surge() async throws {
        let f = Fixture()
        f.api.seed(.nodes, Self.node("a"), Self.node("b"))
        var ds = Self.daemonSet()
        ds.setValue(["type": "RollingUpdate", "rollingUpdate": ["maxSurge": 1, "maxUnavailable": 0]], at: ["spec", "updateStrategy"])
        f.api.seed(.daemonSets, ds)
        let ready = { (name: String) async throws in
            try await f.api.patch(.pods, namespace: "default", name: name, ["status": ["phase": "Running",
                "conditions": [["type": "Ready", "status": "True"]]]], type: .merge, subresource: "status")
        }
        try await f.run {
            try await f.sync()
            for pod in f.api.stored(.pods) { try await ready(pod.name ?? "") }
            var current = try #require(f.api.stored(.daemonSets, namespace: "default", name: "agent"))
            current.setValue([["name": "a", "image": "agent:2"]], at: ["spec", "template", "spec", "containers"])
            try await f.api.update(.daemonSets, namespace: "default", current)
            f.api.clearActions()
            try await f.sync()
            #expect(f.api.writes.filter { $0.verb == "create" && $0.resource == "pods" }.count == 1, "one node surges")
            #expect(f.api.writes.filter { $0.verb == "delete" }.isEmpty, "nothing old goes before its replacement is available")
            #expect(f.api.stored(.pods).count == 3)
            let new = try #require(f.api.stored(.pods).first { $0["spec"]?["containers"]?.arrayValue?.first?["image"] == "agent:2" })
            try await ready(new.name ?? "")
            f.api.clearActions()
            try await f.sync()
            let node = DaemonSetController.nodeName(of: new)
            #expect(f.api.stored(.pods).filter { DaemonSetController.nodeName(of: $0) == node }.map { $0.name } == [new.name], "the old pod there went")
        }
    }

    @Test("node affinity terms: ORed terms, ANDed expressions, fields by name")
    func affinity() {
        let node: JSONValue = ["metadata": ["name": "n1", "labels": ["zone": "a", "cores": "8"]]]
        let zoneB: JSONValue = ["matchExpressions": [["key": "zone", "operator": "In", "values": ["b"]]]]
        let bigInA: JSONValue = ["matchExpressions": [["key": "zone", "operator": "In", "values": ["a"]], ["key": "cores", "operator": "Gt", "values": ["4"]]]]
        let byName: JSONValue = ["matchFields": [["key": "metadata.name", "operator": "In", "values": ["n1"]]]]
        #expect(!NodeAffinity.matches(terms: [zoneB], node: node))
        #expect(NodeAffinity.matches(terms: [zoneB, bigInA], node: node))
        #expect(NodeAffinity.matches(terms: [byName], node: node))
        #expect(!NodeAffinity.matches(terms: [[:]], node: node), "an empty term matches nothing")
        #expect(NodeAffinity.matches(podSpec: ["nodeSelector": ["zone": "a"]], node: node))
        #expect(!NodeAffinity.matches(podSpec: ["nodeSelector": ["zone": "a", "gpu": "yes"]], node: node))
    }
}
