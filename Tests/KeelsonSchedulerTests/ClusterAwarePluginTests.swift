import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Synchronization
import Testing

@testable import KeelsonScheduler

/// A scheduler over a fake API with every cluster-object informer, for the plugins that read them.
struct ClusterFixture {
    let api = FakeKubernetesAPI()
    let pods: Informer
    let nodes: Informer
    let cluster: ClusterObjects
    let scheduler: Scheduler

    init(profiles: [SchedulingProfile] = [.defaultProfile()]) {
        pods = Informer(client: api, resource: .pods, logger: InformerFixture.logger)
        nodes = Informer(client: api, resource: .nodes, logger: InformerFixture.logger)
        cluster = ClusterObjects.watching(api, logger: InformerFixture.logger)
        scheduler = Scheduler(client: api, pods: pods, nodes: nodes, cluster: cluster, profiles: profiles, events: nil,
            logger: InformerFixture.logger)
    }

    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await InformerFixture.run([pods, nodes] + cluster.informers, body)
    }

    static func node(_ name: String, zone: String = "z", cpu: String = "8") -> JSONValue {
        ["apiVersion": "v1", "kind": "Node",
         "metadata": ["name": .string(name), "labels": ["kubernetes.io/hostname": .string(name), "topology.kubernetes.io/zone": .string(zone)]],
         "status": ["allocatable": ["cpu": .string(cpu), "memory": "16Gi", "pods": "110"]]]
    }

    static func pod(_ name: String, labels: [String: String] = [:], node: String? = nil, spec extra: [String: JSONValue] = [:],
        owner: JSONValue? = nil) -> JSONValue
    {
        var pod: JSONValue = ["apiVersion": "v1", "kind": "Pod",
                              "metadata": ["name": .string(name), "namespace": "default", "uid": .string("uid-\(name)"),
                                           "labels": .object(labels.mapValues(JSONValue.string))],
                              "spec": ["containers": [["name": "c", "image": "i"]]]]
        for (key, value) in extra { pod.setValue(value, at: ["spec", key]) }
        if let node { pod.setValue(.string(node), at: ["spec", "nodeName"]) }
        if let owner { pod.setValue([owner], at: ["metadata", "ownerReferences"]) }
        return pod
    }

    /// Seeds a pod and schedules it once, returning the node it was bound to (nil: not bound).
    func schedule(_ pod: JSONValue) async throws -> String? {
        let name = pod.name ?? ""
        api.seed(.pods, pod)
        try await waitUntil("\(name) cached") { pods.get("default/\(name)") != nil }
        try #require(await scheduler.runOnce())
        return api.stored(.pods, namespace: "default", name: name)?["spec"]?["nodeName"]?.stringValue
    }
}

@Suite("Default topology spreading")
struct DefaultSpreadingTests {
    static let owner: JSONValue = ["apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs-uid", "controller": true]

    @Test("a ReplicaSet's pods without constraints of their own spread over nodes by the cluster defaults")
    func spreadsReplicas() async throws {
        let f = ClusterFixture()
        f.api.seed(.nodes, ClusterFixture.node("a"))
        f.api.seed(.nodes, ClusterFixture.node("b"))
        f.api.seed(.replicaSets, ["apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": ["name": "web", "namespace": "default", "uid": "rs-uid"],
                                  "spec": ["selector": ["matchLabels": ["app": "web"]]]])
        try await f.run {
            try await waitUntil("cached") { f.scheduler.cache.nodeCount == 2 && f.cluster.replicaSets?.get("default/web") != nil }
            for i in 0..<4 { f.scheduler.cache.addBound(ClusterFixture.pod("old\(i)", labels: ["app": "web"], node: "a", owner: Self.owner)) }
            let info = PodInfo(ClusterFixture.pod("new", labels: ["app": "web"], owner: Self.owner))
            #expect(f.cluster.defaultSpreadSelector(for: info)?.description == "app=web")
            for _ in 0..<10 {
                guard case .success(let node) = f.scheduler.decide(info, profile: .defaultProfile()) else { Issue.record("no fit"); return }
                #expect(node == "b", "four replicas on a, none on b")
            }
            // A pod nothing selects has no default constraints; it may still go to a, once b holds as many pods
            // (resource scoring counts each best-effort pod as 100m and 200Mi, so until then b scores higher).
            let loner = PodInfo(ClusterFixture.pod("loner", labels: ["app": "other"]))
            #expect(f.cluster.defaultSpreadSelector(for: loner) == nil)
            for i in 0..<4 { f.scheduler.cache.addBound(ClusterFixture.pod("other\(i)", labels: ["app": "other"], node: "b")) }
            var chosen = Set<String>()
            for _ in 0..<40 {
                if case .success(let node) = f.scheduler.decide(loner, profile: .defaultProfile()) { chosen.insert(node) }
            }
            #expect(chosen == ["a", "b"], "equal nodes, no spreading: both win ties")
        }
    }

    @Test("a Service selecting the pod contributes its selector")
    func serviceSelector() async throws {
        let f = ClusterFixture()
        f.api.seed(.services, ["apiVersion": "v1", "kind": "Service", "metadata": ["name": "front", "namespace": "default"],
                               "spec": ["selector": ["tier": "front"]]])
        f.api.seed(.services, ["apiVersion": "v1", "kind": "Service", "metadata": ["name": "other", "namespace": "default"],
                               "spec": ["selector": ["tier": "back"]]])
        try await f.run {
            try await waitUntil("cached") { f.cluster.services?.list().count == 2 }
            let pod = PodInfo(ClusterFixture.pod("p", labels: ["tier": "front", "x": "y"]))
            #expect(f.cluster.defaultSpreadSelector(for: pod)?.description == "tier=front")
        }
    }

    @Test("PodTopologySpreadArgs: List defaults replace the system ones; bad ones are refused")
    func configuration() throws {
        let config: JSONValue = ["kind": "KubeSchedulerConfiguration", "profiles": [[
            "pluginConfig": [["name": "PodTopologySpread", "args": [
                "defaultingType": "List",
                "defaultConstraints": [["maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"]],
            ]]],
        ]]]
        let profile = try #require(try SchedulerConfiguration.profiles(from: config).first)
        let spread = try #require(profile.filters.first { $0.name == "PodTopologySpread" } as? PodTopologySpreadPlugin)
        #expect(spread.defaultConstraints == [.init(maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", hard: true)])
        for bad: JSONValue in [["defaultingType": "System", "defaultConstraints": [["maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable": "DoNotSchedule"]]],
                               ["defaultConstraints": [["maxSkew": 0, "topologyKey": "k", "whenUnsatisfiable": "DoNotSchedule"]]],
                               ["defaultConstraints": [["maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable": "Sometimes"]]],
                               ["defaultConstraints": [["maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable": "DoNotSchedule",
                                                        "labelSelector": ["matchLabels": ["a": "b"]]]]]]
        {
            let config: JSONValue = ["profiles": [["pluginConfig": [["name": "PodTopologySpread", "args": bad]]]]]
            #expect(throws: SchedulerConfiguration.Invalid.self) { try SchedulerConfiguration.profiles(from: config) }
        }
    }

    @Test("a hard default constraint filters pods that have no constraints of their own")
    func hardDefaults() async throws {
        var profile = SchedulingProfile.defaultProfile()
        let spread = PodTopologySpreadPlugin(defaultConstraints: [.init(maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", hard: true)])
        profile.preFilters = profile.preFilters.map { $0.name == spread.name ? spread : $0 }
        profile.filters = profile.filters.map { $0.name == spread.name ? spread : $0 }
        let f = ClusterFixture(profiles: [profile])
        f.api.seed(.nodes, ClusterFixture.node("a", zone: "one"))
        f.api.seed(.nodes, ClusterFixture.node("b", zone: "two"))
        f.api.seed(.replicaSets, ["apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": ["name": "web", "namespace": "default", "uid": "rs-uid"],
                                  "spec": ["selector": ["matchLabels": ["app": "web"]]]])
        try await f.run {
            try await waitUntil("cached") { f.scheduler.cache.nodeCount == 2 && f.cluster.replicaSets?.get("default/web") != nil }
            f.scheduler.cache.addBound(ClusterFixture.pod("old", labels: ["app": "web"], node: "a", owner: Self.owner))
            f.scheduler.cache.addBound(ClusterFixture.pod("old2", labels: ["app": "web"], node: "a", owner: Self.owner))
            let info = PodInfo(ClusterFixture.pod("new", labels: ["app": "web"], owner: Self.owner))
            guard case .success(let node) = f.scheduler.decide(info, profile: profile) else { Issue.record("no fit"); return }
            #expect(node == "b")
            f.scheduler.cache.setNode(["metadata": ["name": "b", "labels": ["topology.kubernetes.io/zone": "two"]],
                                       "spec": ["unschedulable": true], "status": ["allocatable": ["cpu": "8", "memory": "16Gi", "pods": "110"]]])
            guard case .failure(let diagnosis) = f.scheduler.decide(info, profile: profile) else { Issue.record("must not fit"); return }
            #expect(diagnosis.reasons["node(s) didn't match pod topology spread constraints"] == 1)
        }
    }
}

@Suite("Preemption and disruption budgets")
struct BudgetAwarePreemptionTests {
    @Test("victims protected by a PodDisruptionBudget are avoided when another node needs none")
    func avoidsProtectedVictims() async throws {
        let f = ClusterFixture()
        f.api.seed(.podDisruptionBudgets, ["apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                                           "metadata": ["name": "db", "namespace": "default"],
                                           "spec": ["selector": ["matchLabels": ["app": "db"]]], "status": ["disruptionsAllowed": 0]])
        try await f.run {
            try await waitUntil("cached") { f.cluster.podDisruptionBudgets?.list().count == 1 }
            for name in ["n1", "n2"] { f.scheduler.cache.setNode(ClusterFixture.node(name, cpu: "1")) }
            let requests: JSONValue = [["name": "c", "resources": ["requests": ["cpu": "800m"]]]]
            // The protected pod has the lower priority: without budgets, n1 would be the cheaper node.
            f.scheduler.cache.addBound(ClusterFixture.pod("db", labels: ["app": "db"], node: "n1", spec: ["priority": 1, "containers": requests]))
            f.scheduler.cache.addBound(ClusterFixture.pod("batch", labels: ["app": "batch"], node: "n2", spec: ["priority": 5, "containers": requests]))
            let urgent = PodInfo(ClusterFixture.pod("urgent", spec: ["priority": 100, "containers": requests]))
            let plan = try #require(DefaultPreemption().plan(for: urgent, profile: .defaultProfile(), handle: f.scheduler.handle))
            #expect(plan.node == "n2")
            #expect(plan.victims.map(\.key) == ["default/batch"])
            #expect(plan.budgetViolations == 0)
        }
    }

    @Test("budgets are spent pod by pod: the second matching victim violates a budget allowing one")
    func spendsAllowance() {
        let budgets = DisruptionBudgets([["metadata": ["name": "b", "namespace": "default"],
                                          "spec": ["selector": ["matchLabels": ["app": "x"]]], "status": ["disruptionsAllowed": 1]]])
        let pods = ["p1", "p2", "q"].map { PodInfo(ClusterFixture.pod($0, labels: ["app": $0 == "q" ? "y" : "x"])) }
        let (violating, fine) = budgets.partition(pods)
        #expect(violating.map(\.key) == ["default/p2"])
        #expect(fine.map(\.key) == ["default/p1", "default/q"])
    }
}

@Suite("Volume binding")
struct VolumeBindingTests {
    static func claim(_ name: String, volume: String? = nil, storageClass: String? = nil) -> JSONValue {
        var claim: JSONValue = ["apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": ["name": .string(name), "namespace": "default", "uid": .string("uid-\(name)")],
                                "spec": ["accessModes": ["ReadWriteOnce"], "resources": ["requests": ["storage": "1Gi"]]],
                                "status": ["phase": "Pending"]]
        if let volume {
            claim.setValue(.string(volume), at: ["spec", "volumeName"])
            claim.setValue("Bound", at: ["status", "phase"])
        }
        if let storageClass { claim.setValue(.string(storageClass), at: ["spec", "storageClassName"]) }
        return claim
    }

    static func volume(_ name: String, node: String, storageClass: String? = nil, size: String = "2Gi") -> JSONValue {
        var volume: JSONValue = ["apiVersion": "v1", "kind": "PersistentVolume", "metadata": ["name": .string(name)],
                                 "spec": ["capacity": ["storage": .string(size)], "accessModes": ["ReadWriteOnce"], "local": ["path": "/mnt"],
                                          "nodeAffinity": ["required": ["nodeSelectorTerms": [["matchExpressions": [
                                              ["key": "kubernetes.io/hostname", "operator": "In", "values": [.string(node)]]]]]]]],
                                 "status": ["phase": "Available"]]
        if let storageClass { volume.setValue(.string(storageClass), at: ["spec", "storageClassName"]) }
        return volume
    }

    static func user(_ name: String, claim: String) -> JSONValue {
        ClusterFixture.pod(name, spec: ["volumes": [["name": "data", "persistentVolumeClaim": ["claimName": .string(claim)]]]])
    }

    @Test("missing, deleting and unbound immediate claims keep the pod off every node, with Kubernetes' words")
    func unusableClaims() async throws {
        let f = ClusterFixture()
        f.api.seed(.nodes, ClusterFixture.node("n1"))
        var deleting = Self.claim("going", volume: "pv")
        deleting.setValue("2026-01-01T00:00:00Z", at: ["metadata", "deletionTimestamp"])
        f.api.seed(.persistentVolumeClaims, deleting)
        f.api.seed(.persistentVolumeClaims, Self.claim("unbound"))
        try await f.run {
            try await waitUntil("cached") { f.scheduler.cache.nodeCount == 1 && f.cluster.persistentVolumeClaims?.list().count == 2 }
            for (claim, message) in [("absent", "persistentvolumeclaim \"absent\" not found"),
                                     ("going", "persistentvolumeclaim \"going\" is being deleted"),
                                     ("unbound", "pod has unbound immediate PersistentVolumeClaims")]
            {
                guard case .failure(let diagnosis) = f.scheduler.decide(PodInfo(Self.user("p", claim: claim)), profile: .defaultProfile()) else {
                    Issue.record("\(claim): must not fit")
                    continue
                }
                #expect(Scheduler.message(diagnosis)
                    == "0/1 nodes are available: \(message). preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
            }
        }
    }

    @Test("a bound claim's volume decides the node")
    func boundVolumeAffinity() async throws {
        let f = ClusterFixture()
        for name in ["n1", "n2", "n3"] { f.api.seed(.nodes, ClusterFixture.node(name)) }
        f.api.seed(.persistentVolumes, Self.volume("pv-n2", node: "n2"))
        f.api.seed(.persistentVolumeClaims, Self.claim("data", volume: "pv-n2"))
        f.api.seed(.persistentVolumeClaims, Self.claim("lost", volume: "pv-gone"))
        try await f.run {
            try await waitUntil("cached") { f.scheduler.cache.nodeCount == 3 && f.cluster.persistentVolumes?.list().count == 1 }
            for _ in 0..<5 {
                guard case .success(let node) = f.scheduler.decide(PodInfo(Self.user("p", claim: "data")), profile: .defaultProfile()) else {
                    Issue.record("no fit")
                    return
                }
                #expect(node == "n2")
            }
            guard case .failure(let diagnosis) = f.scheduler.decide(PodInfo(Self.user("p", claim: "lost")), profile: .defaultProfile()) else {
                Issue.record("must not fit")
                return
            }
            #expect(diagnosis.reasons["node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"] == 3)
        }
    }

    @Test("WaitForFirstConsumer: the node with an available volume is chosen, the volume claimed, and binding waits for the claim to be bound")
    func delayedStaticBinding() async throws {
        let f = ClusterFixture()
        for name in ["n1", "n2"] { f.api.seed(.nodes, ClusterFixture.node(name)) }
        f.api.seed(.storageClasses, ["apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": ["name": "local"],
                                     "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"])
        f.api.seed(.persistentVolumes, Self.volume("small", node: "n1", storageClass: "local", size: "512Mi"))
        f.api.seed(.persistentVolumes, Self.volume("fits", node: "n2", storageClass: "local"))
        f.api.seed(.persistentVolumeClaims, Self.claim("data", storageClass: "local"))
        f.api.seed(.persistentVolumeClaims, Self.claim("more", storageClass: "local"))
        try await f.run {
            try await waitUntil("cached") {
                f.scheduler.cache.nodeCount == 2 && f.cluster.persistentVolumes?.list().count == 2 && f.cluster.persistentVolumeClaims?.list().count == 2
                    && f.cluster.storageClasses?.list().count == 1
            }
            // The binding cycle waits for the claim; the test plays the volume controller once the volume is claimed.
            async let bound = f.schedule(Self.user("p", claim: "data"))
            try await waitUntil("volume claimed") { f.api.stored(.persistentVolumes, name: "fits")?["spec"]?["claimRef"]?["name"] == "data" }
            #expect(f.api.writes.filter { $0.subresource == "binding" }.isEmpty, "no binding before the claim is bound")
            var claim = try #require(f.api.stored(.persistentVolumeClaims, namespace: "default", name: "data"))
            claim.setValue("fits", at: ["spec", "volumeName"])
            claim.setValue("Bound", at: ["status", "phase"])
            f.api.seed(.persistentVolumeClaims, claim)
            #expect(try await bound == "n2")
            // The other claim finds no volume left that is large enough on either node.
            guard case .failure(let diagnosis) = f.scheduler.decide(PodInfo(Self.user("q", claim: "more")), profile: .defaultProfile()) else {
                Issue.record("must not fit")
                return
            }
            #expect(diagnosis.reasons["node(s) didn't find available persistent volumes to bind"] == 2)
        }
    }

    @Test("WaitForFirstConsumer with a provisioner: the claim is annotated with the chosen node")
    func delayedProvisioning() async throws {
        let f = ClusterFixture()
        f.api.seed(.nodes, ClusterFixture.node("n1", zone: "east"))
        f.api.seed(.nodes, ClusterFixture.node("n2", zone: "west"))
        f.api.seed(.storageClasses, ["apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": ["name": "fast"],
                                     "provisioner": "example.com/fast", "volumeBindingMode": "WaitForFirstConsumer",
                                     "allowedTopologies": [["matchLabelExpressions": [["key": "topology.kubernetes.io/zone", "values": ["west"]]]]]])
        f.api.seed(.persistentVolumeClaims, Self.claim("data", storageClass: "fast"))
        try await f.run {
            try await waitUntil("cached") { f.scheduler.cache.nodeCount == 2 && f.cluster.storageClasses?.list().count == 1
                && f.cluster.persistentVolumeClaims?.list().count == 1 }
            async let bound = f.schedule(Self.user("p", claim: "data"))
            try await waitUntil("claim annotated") {
                f.api.stored(.persistentVolumeClaims, namespace: "default", name: "data")?.annotations[VolumeBindingPlugin.selectedNodeAnnotation] == "n2"
            }
            var claim = try #require(f.api.stored(.persistentVolumeClaims, namespace: "default", name: "data"))
            claim.setValue("pvc-provisioned", at: ["spec", "volumeName"])
            claim.setValue("Bound", at: ["status", "phase"])
            f.api.seed(.persistentVolumeClaims, claim)
            #expect(try await bound == "n2")
        }
    }
}

/// Holds pods at Permit until `size` pods of a group wait, then lets them all go (gang scheduling).
final class GangPlugin: PermitPlugin, @unchecked Sendable {
    let name = "Gang"
    let size: Int
    let timeout: Duration

    init(size: Int, timeout: Duration) {
        self.size = size
        self.timeout = timeout
    }

    func permit(_ pod: PodInfo, node: String, _ state: CycleState) -> PermitDecision {
        let waiting = state.handle.waitingPods.all
        if waiting.count + 1 >= size {
            for entry in waiting { state.handle.waitingPods.allow(entry.key, plugin: name) }
            return .allow
        }
        return .wait(timeout: timeout)
    }
}

@Suite("Permit")
struct PermitTests {
    @Test("a pod held at Permit binds only when its plugin allows it; the gang goes together")
    func gang() async throws {
        var profile = SchedulingProfile.defaultProfile()
        profile.permits = [GangPlugin(size: 2, timeout: .seconds(30))]
        let f = ClusterFixture(profiles: [profile])
        f.api.seed(.nodes, ClusterFixture.node("n1"))
        try await f.run {
            try await waitUntil("cached") { f.scheduler.cache.nodeCount == 1 }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try await f.schedule(ClusterFixture.pod("first")) }
                try await waitUntil("first waits") { f.scheduler.handle.waitingPods.isWaiting("default/first") }
                #expect(f.scheduler.cache.isPlaced("default/first"), "a waiting pod keeps its place")
                #expect(f.api.writes.filter { $0.subresource == "binding" }.isEmpty)
                _ = try await f.schedule(ClusterFixture.pod("second"))
                try await group.waitForAll()
            }
            #expect(Set(f.api.writes.filter { $0.subresource == "binding" }.map(\.name)) == ["first", "second"])
        }
    }

    @Test("a pod still waiting at its timeout is rejected: unreserved, forgotten, and back in the queue")
    func timeout() async throws {
        var profile = SchedulingProfile.defaultProfile()
        profile.permits = [GangPlugin(size: 3, timeout: .milliseconds(50))]
        let f = ClusterFixture(profiles: [profile])
        f.api.seed(.nodes, ClusterFixture.node("n1"))
        try await f.run {
            try await waitUntil("cached") { f.scheduler.cache.nodeCount == 1 }
            #expect(try await f.schedule(ClusterFixture.pod("alone")) == nil)
            #expect(!f.scheduler.cache.isPlaced("default/alone"))
            #expect(!f.scheduler.handle.waitingPods.isWaiting("default/alone"))
            #expect(f.scheduler.queue.counts.backoff + f.scheduler.queue.counts.active == 1)
        }
    }
}

@Suite("Scheduler cache indexes")
struct CacheIndexTests {
    @Test("pods by label value and placed anti-affinity terms follow placements, moves and removals; snapshots keep what they saw")
    func indexes() throws {
        let cache = SchedulerCache()
        for name in ["a", "b"] { cache.setNode(ClusterFixture.node(name, zone: name == "a" ? "east" : "west")) }
        let anti: JSONValue = ["podAntiAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": [
            ["topologyKey": "kubernetes.io/hostname", "labelSelector": ["matchLabels": ["app": "web"]]]]]]
        let web = ClusterFixture.pod("web", labels: ["app": "web"], spec: ["affinity": anti])
        cache.assume(PodInfo(web), on: "a")
        let key = NodeInfo.countKey(namespace: "default", label: "app", value: "web")
        let before = cache.snapshot()
        #expect(before.podsByLabel[key] == ["a": 1])
        #expect(before.placedAntiAffinity.values.map { $0 } == [["a": 1]])
        #expect(before.domains(of: "topology.kubernetes.io/zone") == ["east": 1, "west": 1])
        // Bound elsewhere than assumed: it moves.
        var bound = web
        bound.setValue("b", at: ["spec", "nodeName"])
        cache.addBound(bound)
        let moved = cache.snapshot()
        #expect(moved.podsByLabel[key] == ["b": 1])
        #expect(moved.placedAntiAffinity.values.map { $0 } == [["b": 1]])
        #expect(moved.nodes[moved.index["a"]!].labelCounts.isEmpty)
        #expect(moved.nodes[moved.index["b"]!].labelCounts[key] == 1)
        #expect(before.nodes[before.index["a"]!].labelCounts[key] == 1, "an earlier snapshot is not changed")
        cache.remove(key: "default/web")
        let after = cache.snapshot()
        #expect(after.podsByLabel.isEmpty && after.placedAntiAffinity.isEmpty)
        cache.setNode(ClusterFixture.node("c", zone: "north"))
        #expect(cache.snapshot().domains(of: "topology.kubernetes.io/zone") == ["east": 1, "west": 1, "north": 1])
    }
}

/// Orders the queue by name, records PreScore calls, and nominates a fixed node at PostFilter.
final class OrderingPlugin: QueueSortPlugin, PreScorePlugin, PostFilterPlugin, @unchecked Sendable {
    let name = "Ordering"
    let calls = Mutex<[String]>([])

    func less(_ a: QueuedPod, _ b: QueuedPod) -> Bool { (a.pod.pod.name ?? "") < (b.pod.pod.name ?? "") }

    func preScore(_ pod: PodInfo, _ feasible: [NodeInfo], _ state: CycleState) -> PluginStatus {
        calls.withLock { $0.append("preScore \(pod.pod.name ?? "") \(feasible.map(\.name).sorted())") }
        return .success
    }

    func postFilter(_ pod: PodInfo, _ diagnosis: Diagnosis, profile: SchedulingProfile, _ state: CycleState) -> PostFilterResult? {
        calls.withLock { $0.append("postFilter \(pod.pod.name ?? "") \(diagnosis.reasons)") }
        return PostFilterResult(nominatedNode: "n1") { self.calls.withLock { $0.append("followUp") } }
    }
}

@Suite("QueueSort, PreScore and PostFilter")
struct MoreExtensionPointTests {
    @Test("a QueueSort plugin orders the queue")
    func queueSort() async {
        let queue = SchedulingQueue(sort: OrderingPlugin())
        for name in ["c", "a", "b"] {
            queue.add(PodInfo(ClusterFixture.pod(name, spec: ["priority": .integer(name == "c" ? 100 : 0)])))
        }
        var order: [String] = []
        for _ in 0..<3 { order.append(await queue.pop()?.pod.name ?? "") }
        #expect(order == ["a", "b", "c"], "by name, not by priority")
    }

    @Test("PreScore sees the feasible nodes (and is skipped when one is feasible); PostFilter runs when none is, and its follow-up after")
    func preScoreAndPostFilter() async throws {
        let plugin = OrderingPlugin()
        var profile = SchedulingProfile.defaultProfile()
        profile.preScores = [plugin]
        profile.postFilters = [plugin]
        let f = ClusterFixture(profiles: [profile])
        f.api.seed(.nodes, ClusterFixture.node("n1", cpu: "1"))
        f.api.seed(.nodes, ClusterFixture.node("n2", cpu: "2"))
        try await f.run {
            try await waitUntil("cached") { f.scheduler.cache.nodeCount == 2 }
            let asking = { (name: String, cpu: String) in
                ClusterFixture.pod(name, spec: ["containers": [["name": "c", "resources": ["requests": ["cpu": .string(cpu)]]]]])
            }
            #expect(try await f.schedule(asking("small", "100m")) != nil)
            #expect(try await f.schedule(asking("big", "1500m")) == "n2")
            #expect(try await f.schedule(asking("huge", "3")) == nil)
            try await waitUntil("follow-up ran") { plugin.calls.withLock { $0.last } == "followUp" }
            #expect(f.api.stored(.pods, namespace: "default", name: "huge")?["status"]?["nominatedNodeName"] == "n1",
                "the scheduler nominates the node PostFilter named, before its follow-up")
            #expect(plugin.calls.withLock { $0 } == ["preScore small [\"n1\", \"n2\"]", "postFilter huge [\"Insufficient cpu\": 2]", "followUp"])
        }
    }

    @Test("postFilter and preScore plugins can be disabled and enabled from the configuration")
    func configured() throws {
        let config: JSONValue = ["profiles": [["plugins": ["postFilter": ["disabled": [["name": "DefaultPreemption"]]],
                                                           "preScore": ["disabled": [["name": "*"]]]]]]]
        let profile = try #require(try SchedulerConfiguration.profiles(from: config).first)
        #expect(profile.postFilters.isEmpty && profile.preScores.isEmpty)
        #expect(SchedulingProfile.defaultProfile().postFilters.map(\.name) == ["DefaultPreemption"])
        #expect(SchedulingProfile.defaultProfile().preScores.map(\.name) == ["InterPodAffinity"])
    }
}
