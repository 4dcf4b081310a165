import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Synchronization
import Testing

@testable import KeelsonScheduler

@Suite("Scheduler plugins")
struct PluginTests {
    static func node(_ name: String, cpu: String = "4", memory: String = "8Gi", pods: String = "110", labels: [String: String] = [:],
        taints: JSONValue = [], unschedulable: Bool = false) -> NodeInfo
    {
        let resources: JSONValue = ["cpu": .string(cpu), "memory": .string(memory), "pods": .string(pods)]
        return NodeInfo(["metadata": ["name": .string(name), "labels": .object(labels.mapValues(JSONValue.string))],
                         "spec": ["taints": taints, "unschedulable": .bool(unschedulable)], "status": ["allocatable": resources]])
    }

    static func pod(_ name: String = "p", cpu: String? = nil, memory: String? = nil, extra: [String: JSONValue] = [:]) -> PodInfo {
        var requests: [String: JSONValue] = [:]
        if let cpu { requests["cpu"] = .string(cpu) }
        if let memory { requests["memory"] = .string(memory) }
        var spec: JSONValue = ["containers": [["name": "c", "resources": ["requests": .object(requests)]]]]
        for (key, value) in extra { spec[key] = value }
        return PodInfo(["metadata": ["name": .string(name), "namespace": "default", "uid": .string("uid-\(name)")], "spec": spec])
    }

    @Test("NodeResourcesFit filters on what is left, naming each short resource")
    func fit() {
        var node = Self.node("n", cpu: "2", memory: "1Gi", pods: "2")
        node.add(Self.pod("a", cpu: "1500m"))
        let state = CycleState()
        #expect(NodeResourcesFit().filter(Self.pod(cpu: "500m"), node, state).isSuccess)
        #expect(NodeResourcesFit().filter(Self.pod(cpu: "600m", memory: "2Gi"), node, state).reasons == ["Insufficient cpu", "Insufficient memory"])
        node.add(Self.pod("b"))
        #expect(NodeResourcesFit().filter(Self.pod(), node, state).reasons == ["Too many pods"])
    }

    @Test("taints, cordons, node names and affinity filter with Kubernetes' wording")
    func filters() {
        let state = CycleState()
        let tainted = Self.node("t", taints: [["key": "dedicated", "value": "db", "effect": "NoSchedule"],
                                             ["key": "soft", "effect": "PreferNoSchedule"]])
        #expect(TaintTolerationPlugin().filter(Self.pod(), tainted, state).reasons == ["node(s) had untolerated taint {dedicated: db}"])
        #expect(TaintTolerationPlugin().filter(Self.pod(extra: ["tolerations": [["key": "dedicated", "operator": "Exists"]]]), tainted, state).isSuccess)
        #expect(NodeUnschedulablePlugin().filter(Self.pod(), Self.node("c", unschedulable: true), state).reasons == ["node(s) were unschedulable"])
        #expect(NodeNamePlugin().filter(Self.pod(extra: ["nodeName": "other"]), Self.node("n"), state).code == .unschedulableAndUnresolvable)
        let zoned = Self.node("z", labels: ["zone": "a"])
        #expect(NodeAffinityPlugin().filter(Self.pod(extra: ["nodeSelector": ["zone": "b"]]), zoned, state).reasons
            == ["node(s) didn't match Pod's node affinity/selector"])
        var withPort = Self.node("p")
        withPort.add(PodInfo(["metadata": ["name": "web", "namespace": "default"],
                              "spec": ["containers": [["ports": [["containerPort": 80, "hostPort": 8080]]]]]]))
        let wantsPort = PodInfo(["metadata": ["name": "web2", "namespace": "default"], "spec": ["containers": [["ports": [["containerPort": 80, "hostPort": 8080]]]]]])
        #expect(NodePortsPlugin().filter(wantsPort, withPort, state).code == .unschedulable)
    }

    @Test("scores: least allocated wins, balanced use wins, untolerated soft taints and unmet preferences lose")
    func scores() {
        let state = CycleState()
        var busy = Self.node("busy")
        busy.add(Self.pod("x", cpu: "3", memory: "6Gi"))
        let idle = Self.node("idle")
        let fit = NodeResourcesFit()
        #expect(fit.score(Self.pod(cpu: "100m"), idle, state) > fit.score(Self.pod(cpu: "100m"), busy, state))
        var lopsided = Self.node("lopsided")
        lopsided.add(Self.pod("y", cpu: "3"))
        #expect(BalancedAllocation().score(Self.pod(cpu: "1", memory: "2Gi"), idle, state)
            > BalancedAllocation().score(Self.pod(cpu: "1", memory: "2Gi"), lopsided, state))
        var counts: [Int64] = [0, 2, 1]
        TaintTolerationPlugin().normalize(&counts)
        #expect(counts == [100, 0, 50])
    }

    @Test("nodes to score: all of a small cluster, an adaptive share of a large one")
    func nodesToScore() {
        #expect(Scheduler.feasibleNodesToFind(50) == 50)
        #expect(Scheduler.feasibleNodesToFind(200) == 100)
        #expect(Scheduler.feasibleNodesToFind(1000) == 420)
        #expect(Scheduler.feasibleNodesToFind(5000) == 500)
    }
}

@Suite("Scheduling queue")
struct SchedulingQueueTests {
    static func pod(_ name: String, priority: Int64 = 0, created: String = "2026-01-01T00:00:00Z") -> PodInfo {
        PodInfo(["metadata": ["name": .string(name), "namespace": "default", "creationTimestamp": .string(created)],
                 "spec": ["priority": .integer(priority)]])
    }

    @Test("higher priority first, then older, then first queued")
    func order() async {
        let queue = SchedulingQueue()
        queue.add(Self.pod("late", created: "2026-01-02T00:00:00Z"))
        queue.add(Self.pod("early"))
        queue.add(Self.pod("urgent", priority: 1000, created: "2026-01-03T00:00:00Z"))
        queue.add(Self.pod("early-too"))
        var popped: [String] = []
        for _ in 0..<4 { popped.append(await queue.pop()?.pod.name ?? "") }
        #expect(popped == ["urgent", "early", "early-too", "late"])
    }

    @Test("unschedulable pods wait for a cluster event, then come back after their back-off")
    func unschedulable() async throws {
        let queue = SchedulingQueue(initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(40))
        let pod = Self.pod("stuck")
        queue.add(pod)
        _ = await queue.pop()
        queue.markUnschedulable(pod)
        #expect(queue.counts.unschedulable == 1 && queue.counts.active == 0)
        queue.moveAllUnschedulable()
        #expect(queue.counts.backoff == 1)
        let again = await queue.pop()
        #expect(again?.pod.name == "stuck")
        #expect(queue.backoff(1) == .milliseconds(10) && queue.backoff(2) == .milliseconds(20) && queue.backoff(5) == .milliseconds(40))
    }
}

@Suite("Scheduler against the fake API")
struct SchedulerDecisionTests {
    @Test("binds to the best node, counts assumed pods at once, and explains an unschedulable pod")
    func decisions() async throws {
        let api = FakeKubernetesAPI()
        let pods = Informer(client: api, resource: .pods, logger: InformerFixture.logger)
        let nodes = Informer(client: api, resource: .nodes, logger: InformerFixture.logger)
        let scheduler = Scheduler(client: api, pods: pods, nodes: nodes, events: nil, logger: InformerFixture.logger)
        for (name, taints) in [("small", [] as JSONValue), ("tainted", [["key": "gpu", "value": "yes", "effect": "NoSchedule"]])] {
            api.seed(.nodes, ["apiVersion": "v1", "kind": "Node", "metadata": ["name": .string(name)], "spec": ["taints": taints],
                              "status": ["allocatable": ["cpu": "1", "memory": "1Gi", "pods": "10"]]])
        }
        let pod = { (name: String, cpu: String) -> JSONValue in
            ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": "default"],
             "spec": ["containers": [["name": "c", "resources": ["requests": ["cpu": .string(cpu)]]]]]]
        }
        try await InformerFixture.run([pods, nodes]) {
            try await waitUntil("nodes cached") { scheduler.cache.nodeCount == 2 }
            api.seed(.pods, pod("first", "600m"))
            try await waitUntil("first queued") { pods.get("default/first") != nil }
            try #require(await scheduler.runOnce())
            let bindings = api.writes.filter { $0.subresource == "binding" }
            #expect(bindings.map(\.name) == ["first"])
            // The second does not fit beside the assumed first, and the tainted node is refused.
            api.seed(.pods, pod("second", "600m"))
            try await waitUntil("second queued") { pods.get("default/second") != nil }
            try #require(await scheduler.runOnce())
            try await waitUntil("reported") {
                api.stored(.pods, namespace: "default", name: "second")?["status"]?["conditions"] != nil
            }
            let condition = api.stored(.pods, namespace: "default", name: "second")?["status"]?["conditions"]?.arrayValue?.first
            #expect(condition?["reason"] == "Unschedulable")
            #expect(condition?["message"] == "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {gpu: yes}. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.")
        }
    }
}

@Suite("Pod topology spread")
struct TopologySpreadTests {
    func scheduler() -> Scheduler {
        let api = FakeKubernetesAPI()
        return Scheduler(client: api, pods: Informer(client: api, resource: .pods, logger: InformerFixture.logger),
            nodes: Informer(client: api, resource: .nodes, logger: InformerFixture.logger), events: nil, logger: InformerFixture.logger)
    }

    static func node(_ name: String, zone: String?) -> JSONValue {
        var labels: [String: JSONValue] = ["kubernetes.io/hostname": .string(name)]
        if let zone { labels["topology.kubernetes.io/zone"] = .string(zone) }
        return ["metadata": ["name": .string(name), "labels": .object(labels)],
                "status": ["allocatable": ["cpu": "8", "memory": "16Gi", "pods": "110"]]]
    }

    static func pod(_ name: String, node: String? = nil, when: String = "DoNotSchedule") -> JSONValue {
        var pod: JSONValue = ["metadata": ["name": .string(name), "namespace": "default", "labels": ["app": "web"]],
                              "spec": ["topologySpreadConstraints": [["maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                                                      "whenUnsatisfiable": .string(when),
                                                                      "labelSelector": ["matchLabels": ["app": "web"]]]]]]
        if let node { pod.setValue(.string(node), at: ["spec", "nodeName"]) }
        return pod
    }

    @Test("a DoNotSchedule constraint sends the pod to the emptier zone; ScheduleAnyway prefers it", arguments: ["DoNotSchedule", "ScheduleAnyway"])
    func spread(when: String) throws {
        let s = scheduler()
        for (name, zone) in [("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b")] { s.cache.setNode(Self.node(name, zone: zone)) }
        s.cache.addBound(Self.pod("x", node: "a1"))
        s.cache.addBound(Self.pod("y", node: "a2"))
        s.cache.addBound(Self.pod("z", node: "b1"))
        for _ in 0..<20 {
            let result = s.decide(PodInfo(Self.pod("new", when: when)), profile: .defaultProfile())
            guard case .success(let node) = result else { Issue.record("unschedulable: \(result)"); return }
            #expect(node.hasPrefix("b"), "zone a has 2, zone b 1: the pod goes to b")
        }
    }

    @Test("a node without the topology key cannot take a pod with a hard constraint, and the message says so")
    func missingLabel() {
        let s = scheduler()
        s.cache.setNode(Self.node("bare", zone: nil))
        guard case .failure(let diagnosis) = s.decide(PodInfo(Self.pod("new")), profile: .defaultProfile()) else {
            Issue.record("expected no fit")
            return
        }
        #expect(Scheduler.message(diagnosis).hasPrefix("0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label)."))
    }
}

@Suite("Scheduler configuration")
struct SchedulerConfigurationTests {
    @Test("profiles start from the defaults; disabled plugins go, enabled ones come with their weights")
    func profiles() throws {
        let config: JSONValue = [
            "apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
            "profiles": [
                ["schedulerName": "default-scheduler", "plugins": ["score": ["enabled": [["name": "NodeResourcesFit", "weight": 5]]]]],
                ["schedulerName": "tolerant", "plugins": ["multiPoint": ["disabled": [["name": "TaintToleration"]]]]],
                ["schedulerName": "bare", "plugins": ["score": ["disabled": [["name": "*"]]]]],
            ],
        ]
        let profiles = try SchedulerConfiguration.profiles(from: config)
        #expect(profiles.map(\.schedulerName) == ["default-scheduler", "tolerant", "bare"])
        #expect(profiles[0].scorers.first { $0.plugin.name == "NodeResourcesFit" }?.weight == 5)
        #expect(!profiles[1].filters.contains { $0.name == "TaintToleration" })
        #expect(!profiles[1].scorers.contains { $0.plugin.name == "TaintToleration" })
        #expect(profiles[1].filters.contains { $0.name == "NodeResourcesFit" })
        #expect(profiles[2].scorers.isEmpty && !profiles[2].filters.isEmpty)
    }

    @Test("unknown plugins, duplicate profiles and other kinds are refused", arguments: [
        ["kind": "KubeSchedulerConfiguration", "profiles": [["plugins": ["filter": ["enabled": [["name": "Nope"]]]]]]] as JSONValue,
        ["kind": "KubeSchedulerConfiguration", "profiles": [["schedulerName": "a"], ["schedulerName": "a"]]],
        ["kind": "Pod"],
    ])
    func invalid(config: JSONValue) {
        #expect(throws: SchedulerConfiguration.Invalid.self) { try SchedulerConfiguration.profiles(from: config) }
    }
}

@Suite("Inter-pod affinity")
struct InterPodAffinityTests {
    func scheduler(nodes: [String]) -> Scheduler {
        let api = FakeKubernetesAPI()
        let s = Scheduler(client: api, pods: Informer(client: api, resource: .pods, logger: InformerFixture.logger),
            nodes: Informer(client: api, resource: .nodes, logger: InformerFixture.logger), events: nil, logger: InformerFixture.logger)
        for name in nodes {
            s.cache.setNode(["metadata": ["name": .string(name), "labels": ["kubernetes.io/hostname": .string(name)]],
                             "status": ["allocatable": ["cpu": "8", "memory": "16Gi", "pods": "110"]]])
        }
        return s
    }

    static func pod(_ name: String, app: String, node: String? = nil, affinity: JSONValue? = nil) -> JSONValue {
        var pod: JSONValue = ["metadata": ["name": .string(name), "namespace": "default", "labels": ["app": .string(app)]], "spec": [:]]
        if let affinity { pod.setValue(affinity, at: ["spec", "affinity"]) }
        if let node { pod.setValue(.string(node), at: ["spec", "nodeName"]) }
        return pod
    }

    static func term(_ app: String) -> JSONValue {
        ["labelSelector": ["matchLabels": ["app": .string(app)]], "topologyKey": "kubernetes.io/hostname"]
    }

    @Test("required anti-affinity keeps replicas apart until no node is left")
    func antiAffinity() {
        let s = scheduler(nodes: ["n1", "n2", "n3"])
        let affinity: JSONValue = ["podAntiAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": [Self.term("web")]]]
        var used: Set<String> = []
        for i in 0..<3 {
            let pod = PodInfo(Self.pod("web-\(i)", app: "web", affinity: affinity))
            guard case .success(let node) = s.decide(pod, profile: .defaultProfile()) else { Issue.record("no node for web-\(i)"); return }
            #expect(used.insert(node).inserted, "one per node")
            s.cache.assume(pod, on: node)
        }
        guard case .failure(let diagnosis) = s.decide(PodInfo(Self.pod("web-3", app: "web", affinity: affinity)), profile: .defaultProfile()) else {
            Issue.record("a fourth replica must not fit")
            return
        }
        #expect(Scheduler.message(diagnosis).hasPrefix("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."))
    }

    @Test("required affinity follows the pods it names; the first of a group may go anywhere")
    func affinity() {
        let s = scheduler(nodes: ["n1", "n2", "n3"])
        s.cache.addBound(Self.pod("db", app: "db", node: "n2"))
        let withDB: JSONValue = ["podAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": [Self.term("db")]]]
        for _ in 0..<5 {
            guard case .success(let node) = s.decide(PodInfo(Self.pod("cache", app: "cache", affinity: withDB)), profile: .defaultProfile()) else {
                Issue.record("no node")
                return
            }
            #expect(node == "n2")
        }
        let selfGroup: JSONValue = ["podAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": [Self.term("group")]]]
        guard case .success = s.decide(PodInfo(Self.pod("first", app: "group", affinity: selfGroup)), profile: .defaultProfile()) else {
            Issue.record("the first pod of a group must fit")
            return
        }
    }

    @Test("an existing pod's anti-affinity keeps matching newcomers off its node")
    func existingAntiAffinity() {
        let s = scheduler(nodes: ["n1", "n2"])
        let noWeb: JSONValue = ["podAntiAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": [Self.term("web")]]]
        s.cache.addBound(Self.pod("loner", app: "loner", node: "n1", affinity: noWeb))
        for _ in 0..<5 {
            guard case .success(let node) = s.decide(PodInfo(Self.pod("web", app: "web")), profile: .defaultProfile()) else {
                Issue.record("no node")
                return
            }
            #expect(node == "n2")
        }
    }
}

@Suite("Preemption")
struct PreemptionTests {
    @Test("a higher-priority pod that fits nowhere evicts the fewest, least important pods; equals are never evicted")
    func plan() {
        let api = FakeKubernetesAPI()
        let s = Scheduler(client: api, pods: Informer(client: api, resource: .pods, logger: InformerFixture.logger),
            nodes: Informer(client: api, resource: .nodes, logger: InformerFixture.logger), events: nil, logger: InformerFixture.logger)
        for name in ["n1", "n2"] {
            s.cache.setNode(["metadata": ["name": .string(name)], "status": ["allocatable": ["cpu": "1", "memory": "4Gi", "pods": "10"]]])
        }
        let pod = { (name: String, node: String?, cpu: String, priority: Int64) -> JSONValue in
            var pod: JSONValue = ["metadata": ["name": .string(name), "namespace": "default", "uid": .string(name)],
                                  "spec": ["priority": .integer(priority), "containers": [["resources": ["requests": ["cpu": .string(cpu)]]]]]]
            if let node { pod.setValue(.string(node), at: ["spec", "nodeName"]) }
            return pod
        }
        // n1: two small low pods; n2: one big pod of middling priority.
        s.cache.addBound(pod("low-a", "n1", "400m", 0))
        s.cache.addBound(pod("low-b", "n1", "400m", 10))
        s.cache.addBound(pod("mid", "n2", "900m", 100))
        let urgent = PodInfo(pod("urgent", nil, "500m", 1000))
        guard case .failure = s.decide(urgent, profile: .defaultProfile()) else { Issue.record("must not fit as is"); return }
        let plan = DefaultPreemption().plan(for: urgent, profile: .defaultProfile(), handle: s.handle)
        #expect(plan?.node == "n1", "n1's victims matter less than n2's")
        #expect(plan?.victims.map(\.key) == ["default/low-a"], "evicting the lowest one is enough")
        #expect(DefaultPreemption().plan(for: PodInfo(pod("peer", nil, "500m", 0)), profile: .defaultProfile(), handle: s.handle) == nil)
    }
}

/// Records the extension points it is called at.
final class RecordingPlugin: ReservePlugin, PermitPlugin, PreBindPlugin, BindPlugin, PostBindPlugin, @unchecked Sendable {
    let name = "Recording"
    let calls = Mutex<[String]>([])
    func note(_ call: String) { calls.withLock { $0.append(call) } }

    func reserve(_ pod: PodInfo, node: String, _ state: CycleState) -> PluginStatus {
        note("reserve \(pod.pod.name ?? "")")
        return .success
    }
    func unreserve(_ pod: PodInfo, node: String, _ state: CycleState) { note("unreserve \(pod.pod.name ?? "")") }
    func permit(_ pod: PodInfo, node: String, _ state: CycleState) -> PermitDecision {
        note("permit \(pod.pod.name ?? "")")
        return pod.pod.name == "deny" ? .reject(.unschedulable("denied by test")) : .allow
    }
    func preBind(_ pod: PodInfo, node: String, _ state: CycleState) async -> PluginStatus {
        note("preBind \(pod.pod.name ?? "")")
        return .success
    }
    func bind(_ pod: PodInfo, node: String, _ state: CycleState, client: any KubernetesClient) async throws -> Bool {
        note("bind-skip \(pod.pod.name ?? "")")
        return false
    }
    func postBind(_ pod: PodInfo, node: String, _ state: CycleState) { note("postBind \(pod.pod.name ?? "")") }
}

@Suite("Scheduling framework extension points")
struct ExtensionPointTests {
    @Test("reserve, permit, pre-bind, bind (the first binder that does not skip) and post-bind run in order; a refusal unreserves")
    func order() async throws {
        let api = FakeKubernetesAPI()
        let pods = Informer(client: api, resource: .pods, logger: InformerFixture.logger)
        let nodes = Informer(client: api, resource: .nodes, logger: InformerFixture.logger)
        let recorder = RecordingPlugin()
        var profile = SchedulingProfile.defaultProfile()
        profile.reservers = [recorder]
        profile.permits = [recorder]
        profile.preBinds = [recorder]
        profile.binders = [recorder, DefaultBinder()]
        profile.postBinds = [recorder]
        let scheduler = Scheduler(client: api, pods: pods, nodes: nodes, profiles: [profile], events: nil, logger: InformerFixture.logger)
        api.seed(.nodes, ["apiVersion": "v1", "kind": "Node", "metadata": ["name": "n1"], "status": ["allocatable": ["cpu": "4", "memory": "4Gi", "pods": "10"]]])
        try await InformerFixture.run([pods, nodes]) {
            try await waitUntil("node cached") { scheduler.cache.nodeCount == 1 }
            for name in ["ok", "deny"] {
                api.seed(.pods, ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": "default"], "spec": ["containers": []]])
                try await waitUntil("queued") { pods.get("default/\(name)") != nil }
                try #require(await scheduler.runOnce())
            }
            #expect(recorder.calls.withLock { $0 } == ["reserve ok", "permit ok", "preBind ok", "bind-skip ok", "postBind ok",
                                                       "reserve deny", "permit deny", "unreserve deny"])
            #expect(api.writes.filter { $0.subresource == "binding" }.map(\.name) == ["ok"])
            #expect(!scheduler.cache.isPlaced("default/deny"))
        }
    }
}

@Suite("Scoring strategies, image locality and scheduling gates")
struct StrategyTests {
    @Test("MostAllocated packs, RequestedToCapacityRatio follows its shape, both from pluginConfig")
    func strategies() throws {
        let config: JSONValue = ["kind": "KubeSchedulerConfiguration", "profiles": [
            ["schedulerName": "pack", "pluginConfig": [["name": "NodeResourcesFit", "args": ["scoringStrategy": ["type": "MostAllocated"]]]]],
            ["schedulerName": "shape", "pluginConfig": [["name": "NodeResourcesFit", "args": ["scoringStrategy": [
                "type": "RequestedToCapacityRatio", "resources": [["name": "cpu", "weight": 1]],
                "requestedToCapacityRatio": ["shape": [["utilization": 0, "score": 0], ["utilization": 100, "score": 10]]]]]]]],
        ]]
        let profiles = try SchedulerConfiguration.profiles(from: config)
        let fits = profiles.map { $0.filters.compactMap { $0 as? NodeResourcesFit }.first! }
        #expect(fits[0].strategy == .mostAllocated)
        var busy = PluginTests.node("busy")
        busy.add(PluginTests.pod("x", cpu: "3", memory: "6Gi"))
        let idle = PluginTests.node("idle")
        let pod = PluginTests.pod(cpu: "100m", memory: "100Mi")
        #expect(fits[0].score(pod, busy, CycleState()) > fits[0].score(pod, idle, CycleState()))
        #expect(NodeResourcesFit.interpolate([(0, 0), (50, 10), (100, 0)], at: 25) == 5)
        #expect(NodeResourcesFit.interpolate([(0, 0), (50, 10), (100, 0)], at: 75) == 5)
        #expect(fits[1].score(pod, busy, CycleState()) == 77, "3.1 of 4 CPUs used: 77.5% → 77")
        #expect(throws: SchedulerConfiguration.Invalid.self) {
            try SchedulerConfiguration.profiles(from: ["profiles": [["pluginConfig": [["name": "NodeResourcesFit",
                "args": ["scoringStrategy": ["type": "Sideways"]]]]]]])
        }
    }

    @Test("image locality prefers the node holding the image")
    func imageLocality() {
        let with = NodeInfo(["metadata": ["name": "n"], "status": ["images": [["names": ["registry.example/big:1"], "sizeBytes": 536_870_912]]]])
        let without = NodeInfo(["metadata": ["name": "m"]])
        let pod = PodInfo(["metadata": ["name": "p", "namespace": "d"], "spec": ["containers": [["image": "registry.example/big:1"]]]])
        #expect(ImageLocalityPlugin().score(pod, with, CycleState()) == 50)
        #expect(ImageLocalityPlugin().score(pod, without, CycleState()) == 0)
    }

    @Test("a gated pod stays out of the queue until its gates are lifted")
    func gates() async throws {
        let api = FakeKubernetesAPI()
        let pods = Informer(client: api, resource: .pods, logger: InformerFixture.logger)
        let nodes = Informer(client: api, resource: .nodes, logger: InformerFixture.logger)
        let scheduler = Scheduler(client: api, pods: pods, nodes: nodes, events: nil, logger: InformerFixture.logger)
        api.seed(.pods, ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "gated", "namespace": "default"],
                         "spec": ["schedulingGates": [["name": "example.com/wait"]], "containers": []]])
        try await InformerFixture.run([pods, nodes]) {
            try await waitUntil("seen") { pods.get("default/gated") != nil }
            #expect(scheduler.queue.counts.active == 0)
            try await api.patch(.pods, namespace: "default", name: "gated", ["spec": ["schedulingGates": .null]])
            try await waitUntil("queued once the gate is lifted") { scheduler.queue.counts.active == 1 }
        }
    }
}
