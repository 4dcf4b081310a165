import KeelsonAPI
import Testing

@testable import KeelsonScheduler

/// Table-driven cases for the default filter and score plugins, each row a behaviour the Kubernetes scheduler
/// documents (or its plugin code shows): how requests are counted, how taints are tolerated, which node
/// expressions match, which host ports collide, and the exact scores of the resource scorers.
@Suite("Scheduler plugins, case by case")
struct PluginTableTests {
    static func node(cpu: String = "4", memory: String = "10000Mi", pods: String = "110", extra: [String: String] = [:],
        labels: [String: String] = [:], name: String = "n") -> NodeInfo
    {
        var allocatable: [String: JSONValue] = ["cpu": .string(cpu), "memory": .string(memory), "pods": .string(pods)]
        for (key, value) in extra { allocatable[key] = .string(value) }
        return NodeInfo(["metadata": ["name": .string(name), "labels": .object(labels.mapValues(JSONValue.string))],
                         "status": ["allocatable": .object(allocatable)]])
    }

    static func container(_ requests: [String: String]) -> JSONValue {
        requests.isEmpty ? ["name": "c"] : ["name": "c", "resources": ["requests": .object(requests.mapValues(JSONValue.string))]]
    }

    static func pod(_ name: String = "p", containers: [[String: String]] = [[:]], spec: [String: JSONValue] = [:]) -> PodInfo {
        var podSpec: [String: JSONValue] = ["containers": .array(containers.map(container))]
        for (key, value) in spec { podSpec[key] = value }
        return PodInfo(["metadata": ["name": .string(name), "namespace": "default"], "spec": .object(podSpec)])
    }

    // MARK: NodeResourcesFit filter

    struct FitCase: Sendable, CustomTestStringConvertible {
        let name: String
        let node: [String: String]
        let placed: [[String: String]]
        let containers: [[String: String]]
        let spec: [String: JSONValue]
        let reasons: [String]
        var testDescription: String { name }
    }

    static let fitCases: [FitCase] = [
        FitCase(name: "exactly what is left fits", node: [:], placed: [["cpu": "3", "memory": "5000Mi"]],
                containers: [["cpu": "1", "memory": "5000Mi"]], spec: [:], reasons: []),
        FitCase(name: "a pod asking for nothing fits a fully requested node", node: [:], placed: [["cpu": "4", "memory": "10000Mi"]],
                containers: [[:]], spec: [:], reasons: []),
        FitCase(name: "an init container larger than the containers decides", node: [:], placed: [["cpu": "2"]],
                containers: [["cpu": "500m"]], spec: ["initContainers": [container(["cpu": "3"])]], reasons: ["Insufficient cpu"]),
        FitCase(name: "init containers run one at a time: the largest counts, not their sum", node: [:], placed: [["cpu": "2"]],
                containers: [["cpu": "500m"]], spec: ["initContainers": [container(["cpu": "2"]), container(["cpu": "2"])]], reasons: []),
        FitCase(name: "a sidecar (restartPolicy Always) adds to the containers", node: [:], placed: [["cpu": "2"]],
                containers: [["cpu": "1"]],
                spec: ["initContainers": [["name": "s", "restartPolicy": "Always", "resources": ["requests": ["cpu": "1500m"]]]]],
                reasons: ["Insufficient cpu"]),
        FitCase(name: "the pod's overhead adds", node: [:], placed: [["cpu": "2"]],
                containers: [["cpu": "1900m"]], spec: ["overhead": ["cpu": "200m"]], reasons: ["Insufficient cpu"]),
        FitCase(name: "an extended resource the node lacks", node: [:], placed: [],
                containers: [["example.com/gpu": "1"]], spec: [:], reasons: ["Insufficient example.com/gpu"]),
        FitCase(name: "an extended resource already taken", node: ["example.com/gpu": "2"], placed: [["example.com/gpu": "2"]],
                containers: [["example.com/gpu": "1"]], spec: [:], reasons: ["Insufficient example.com/gpu"]),
        FitCase(name: "an extended resource still free", node: ["example.com/gpu": "2"], placed: [["example.com/gpu": "1"]],
                containers: [["example.com/gpu": "1"]], spec: [:], reasons: []),
        FitCase(name: "ephemeral storage", node: ["ephemeral-storage": "10Gi"], placed: [],
                containers: [["ephemeral-storage": "20Gi"]], spec: [:], reasons: ["Insufficient ephemeral-storage"]),
        FitCase(name: "every short resource is named, in Kubernetes' order", node: [:], placed: [["cpu": "4", "memory": "10000Mi"]],
                containers: [["cpu": "1", "memory": "1Mi", "example.com/gpu": "1"]], spec: [:],
                reasons: ["Insufficient cpu", "Insufficient memory", "Insufficient example.com/gpu"]),
    ]

    @Test("NodeResourcesFit counts requests as Kubernetes does", arguments: fitCases)
    func fit(_ row: FitCase) {
        let node = Self.node(extra: row.node)
        for (index, requests) in row.placed.enumerated() { node.add(Self.pod("placed-\(index)", containers: [requests])) }
        let status = NodeResourcesFit().filter(Self.pod(containers: row.containers, spec: row.spec), node, CycleState())
        #expect(status.reasons == row.reasons)
        #expect(status.isSuccess == row.reasons.isEmpty)
    }

    @Test("a node at its pod capacity is full whatever the requests")
    func podCapacity() {
        let node = Self.node(pods: "1")
        node.add(Self.pod("one"))
        #expect(NodeResourcesFit().filter(Self.pod(), node, CycleState()).reasons == ["Too many pods"])
    }

    // MARK: resource scores

    struct ScoreCase: Sendable, CustomTestStringConvertible {
        let name: String
        let strategy: String
        let node: (cpu: String, memory: String)
        let placed: [[[String: String]]]
        let containers: [[String: String]]
        let score: Int64
        var testDescription: String { name }
    }

    static let scoreCases: [ScoreCase] = [
        // (4000 − 1000) · 100 / 4000 = 75 for CPU, (10000 − 2000) · 100 / 10000 = 80 for memory, averaged: 77.
        ScoreCase(name: "LeastAllocated: the free share, averaged over cpu and memory", strategy: "least", node: ("4", "10000Mi"),
                  placed: [], containers: [["cpu": "1", "memory": "2000Mi"]], score: 77),
        ScoreCase(name: "LeastAllocated counts placed pods", strategy: "least", node: ("4", "10000Mi"),
                  placed: [[["cpu": "1", "memory": "3000Mi"]]], containers: [["cpu": "1", "memory": "2000Mi"]], score: 50),
        ScoreCase(name: "LeastAllocated: more than the node has scores 0, not below", strategy: "least", node: ("4", "10000Mi"),
                  placed: [[["cpu": "4", "memory": "10000Mi"]]], containers: [["cpu": "1", "memory": "1Mi"]], score: 0),
        // A best-effort pod counts as 100m and 200Mi: 90 on an empty 1-CPU, 2000Mi node.
        ScoreCase(name: "a best-effort pod counts as 100m CPU and 200Mi", strategy: "least", node: ("1", "2000Mi"),
                  placed: [], containers: [[:]], score: 90),
        ScoreCase(name: "best-effort pods already placed count the same way", strategy: "least", node: ("1", "2000Mi"),
                  placed: [[[:]], [[:]]], containers: [[:]], score: 70),
        ScoreCase(name: "the defaults are per container", strategy: "least", node: ("1", "2000Mi"),
                  placed: [], containers: [[:], [:]], score: 80),
        // CPU 500m of 1000m → 50; memory defaults to 200Mi of 2000Mi → 90.
        ScoreCase(name: "a container naming only CPU gets the memory default", strategy: "least", node: ("1", "2000Mi"),
                  placed: [], containers: [["cpu": "500m"]], score: 70),
        ScoreCase(name: "MostAllocated: the used share", strategy: "most", node: ("4", "10000Mi"),
                  placed: [], containers: [["cpu": "1", "memory": "2000Mi"]], score: 22),
        // |0.25 − 0.5| / 2 = 0.125 → (1 − 0.125) · 100 = 87.
        ScoreCase(name: "BalancedAllocation: one minus the spread of the cpu and memory shares", strategy: "balanced",
                  node: ("4", "10000Mi"), placed: [], containers: [["cpu": "1", "memory": "5000Mi"]], score: 87),
        ScoreCase(name: "BalancedAllocation: equal shares score 100", strategy: "balanced",
                  node: ("4", "10000Mi"), placed: [[["cpu": "1", "memory": "2500Mi"]]], containers: [["cpu": "1", "memory": "2500Mi"]], score: 100),
    ]

    @Test("resource scores follow upstream's formulas", arguments: scoreCases)
    func score(_ row: ScoreCase) {
        let node = Self.node(cpu: row.node.cpu, memory: row.node.memory)
        for (index, containers) in row.placed.enumerated() { node.add(Self.pod("placed-\(index)", containers: containers)) }
        let pod = Self.pod(containers: row.containers)
        let score: Int64 = switch row.strategy {
        case "least": NodeResourcesFit().score(pod, node, CycleState())
        case "most": NodeResourcesFit(strategy: .mostAllocated).score(pod, node, CycleState())
        default: BalancedAllocation().score(pod, node, CycleState())
        }
        #expect(score == row.score)
    }

    @Test("an extended resource the pod does not ask for is left out of the score, not scored as free")
    func unrequestedExtendedResource() {
        let node = Self.node(cpu: "4", memory: "10000Mi", extra: ["example.com/gpu": "4"])
        let fit = NodeResourcesFit(resources: [("cpu", 1), ("memory", 1), ("example.com/gpu", 1)])
        #expect(fit.score(Self.pod(containers: [["cpu": "1", "memory": "2000Mi"]]), node, CycleState()) == 77)
        // Asked for, it counts: (75 + 80 + 75) / 3 = 76.
        #expect(fit.score(Self.pod(containers: [["cpu": "1", "memory": "2000Mi", "example.com/gpu": "1"]]), node, CycleState()) == 76)
    }

    // MARK: TaintToleration

    struct TolerationCase: Sendable, CustomTestStringConvertible {
        let name: String
        let taint: JSONValue
        let toleration: JSONValue
        let tolerated: Bool
        var testDescription: String { name }
    }

    static let tolerationCases: [TolerationCase] = [
        TolerationCase(name: "Equal with the same value", taint: ["key": "k", "value": "v", "effect": "NoSchedule"],
                       toleration: ["key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"], tolerated: true),
        TolerationCase(name: "Equal with another value", taint: ["key": "k", "value": "v", "effect": "NoSchedule"],
                       toleration: ["key": "k", "operator": "Equal", "value": "w", "effect": "NoSchedule"], tolerated: false),
        TolerationCase(name: "no operator means Equal", taint: ["key": "k", "value": "v", "effect": "NoSchedule"],
                       toleration: ["key": "k", "value": "v"], tolerated: true),
        TolerationCase(name: "Exists ignores the value", taint: ["key": "k", "value": "v", "effect": "NoSchedule"],
                       toleration: ["key": "k", "operator": "Exists"], tolerated: true),
        TolerationCase(name: "an empty key with Exists tolerates every taint", taint: ["key": "k", "value": "v", "effect": "NoExecute"],
                       toleration: ["operator": "Exists"], tolerated: true),
        TolerationCase(name: "another key", taint: ["key": "k", "effect": "NoSchedule"],
                       toleration: ["key": "other", "operator": "Exists"], tolerated: false),
        TolerationCase(name: "another effect", taint: ["key": "k", "effect": "NoExecute"],
                       toleration: ["key": "k", "operator": "Exists", "effect": "NoSchedule"], tolerated: false),
        TolerationCase(name: "an empty effect matches every effect", taint: ["key": "k", "effect": "NoExecute"],
                       toleration: ["key": "k", "operator": "Exists"], tolerated: true),
    ]

    @Test("TaintToleration: which toleration tolerates which taint", arguments: tolerationCases)
    func toleration(_ row: TolerationCase) {
        let node = NodeInfo(["metadata": ["name": "n"], "spec": ["taints": [row.taint]]])
        let pod = Self.pod(spec: ["tolerations": [row.toleration]])
        #expect(TaintTolerationPlugin().filter(pod, node, CycleState()).isSuccess == row.tolerated)
    }

    @Test("TaintToleration: PreferNoSchedule never filters; untolerated ones are counted and reversed into scores")
    func preferNoSchedule() {
        let taints: [JSONValue] = [["key": "a", "effect": "PreferNoSchedule"], ["key": "b", "effect": "PreferNoSchedule"],
                                   ["key": "c", "effect": "PreferNoSchedule"]]
        let plugin = TaintTolerationPlugin()
        let nodes = [0, 1, 3].map { NodeInfo(["metadata": ["name": .string("n\($0)")], "spec": ["taints": .array(Array(taints.prefix($0)))]]) }
        let pod = Self.pod(spec: ["tolerations": [["key": "x", "operator": "Exists", "effect": "NoSchedule"]]])
        #expect(nodes.allSatisfy { plugin.filter(pod, $0, CycleState()).isSuccess })
        var scores = nodes.map { plugin.score(pod, $0, CycleState()) }
        #expect(scores == [0, 1, 3])
        plugin.normalize(&scores)
        #expect(scores == [100, 67, 0])  // 100 − 1·100/3 = 67, as upstream's DefaultNormalizeScore rounds
        // A NoSchedule-only toleration does not count against PreferNoSchedule taints; an empty effect does.
        let tolerant = Self.pod(spec: ["tolerations": [["key": "a", "operator": "Exists"]]])
        #expect(plugin.score(tolerant, nodes[2], CycleState()) == 2)
    }

    // MARK: NodeAffinity

    struct AffinityCase: Sendable, CustomTestStringConvertible {
        let name: String
        let spec: [String: JSONValue]
        let matches: Bool
        var testDescription: String { name }
    }

    static func required(_ terms: JSONValue) -> [String: JSONValue] {
        ["affinity": ["nodeAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": ["nodeSelectorTerms": terms]]]]
    }

    static func expression(_ key: String, _ op: String, _ values: [String] = []) -> JSONValue {
        ["key": .string(key), "operator": .string(op), "values": .array(values.map(JSONValue.string))]
    }

    // The node: labels zone=a, disk=ssd, cores=8; name n.
    static let affinityCases: [AffinityCase] = [
        AffinityCase(name: "nodeSelector: every label must be there", spec: ["nodeSelector": ["zone": "a", "disk": "ssd"]], matches: true),
        AffinityCase(name: "nodeSelector: one label differs", spec: ["nodeSelector": ["zone": "a", "disk": "hdd"]], matches: false),
        AffinityCase(name: "In", spec: required([["matchExpressions": [expression("zone", "In", ["a", "b"])]]]), matches: true),
        AffinityCase(name: "In, label missing", spec: required([["matchExpressions": [expression("gpu", "In", ["yes"])]]]), matches: false),
        AffinityCase(name: "NotIn", spec: required([["matchExpressions": [expression("zone", "NotIn", ["a"])]]]), matches: false),
        AffinityCase(name: "NotIn, label missing", spec: required([["matchExpressions": [expression("gpu", "NotIn", ["yes"])]]]), matches: true),
        AffinityCase(name: "Exists", spec: required([["matchExpressions": [expression("disk", "Exists")]]]), matches: true),
        AffinityCase(name: "DoesNotExist", spec: required([["matchExpressions": [expression("disk", "DoesNotExist")]]]), matches: false),
        AffinityCase(name: "Gt", spec: required([["matchExpressions": [expression("cores", "Gt", ["4"])]]]), matches: true),
        AffinityCase(name: "Lt", spec: required([["matchExpressions": [expression("cores", "Lt", ["4"])]]]), matches: false),
        AffinityCase(name: "Gt on a label that is not a number", spec: required([["matchExpressions": [expression("zone", "Gt", ["1"])]]]),
                     matches: false),
        AffinityCase(name: "matchFields on metadata.name", spec: required([["matchFields": [expression("metadata.name", "In", ["n"])]]]),
                     matches: true),
        AffinityCase(name: "expressions in one term are ANDed",
                     spec: required([["matchExpressions": [expression("zone", "In", ["a"]), expression("disk", "In", ["hdd"])]]]), matches: false),
        AffinityCase(name: "terms are ORed",
                     spec: required([["matchExpressions": [expression("zone", "In", ["b"])]], ["matchExpressions": [expression("disk", "In", ["ssd"])]]]),
                     matches: true),
        AffinityCase(name: "an empty term matches nothing", spec: required([[:]]), matches: false),
        AffinityCase(name: "nodeSelector and required affinity must both hold",
                     spec: ["nodeSelector": ["zone": "b"]].merging(required([["matchExpressions": [expression("disk", "Exists")]]])) { a, _ in a },
                     matches: false),
    ]

    @Test("NodeAffinity: selectors and required terms", arguments: affinityCases)
    func nodeAffinity(_ row: AffinityCase) {
        let node = Self.node(labels: ["zone": "a", "disk": "ssd", "cores": "8"])
        #expect(NodeAffinityPlugin().filter(Self.pod(spec: row.spec), node, CycleState()).isSuccess == row.matches)
    }

    @Test("NodeAffinity: preferred terms add their weights, normalized to 100 for the best node")
    func preferredNodeAffinity() {
        let preferred: JSONValue = [
            ["weight": 80, "preference": ["matchExpressions": [Self.expression("zone", "In", ["a"])]]],
            ["weight": 20, "preference": ["matchExpressions": [Self.expression("disk", "In", ["ssd"])]]],
        ]
        let pod = Self.pod(spec: ["affinity": ["nodeAffinity": ["preferredDuringSchedulingIgnoredDuringExecution": preferred]]])
        let nodes = [["zone": "a", "disk": "ssd"], ["zone": "a"], ["disk": "ssd"], [:]].enumerated().map { Self.node(labels: $1, name: "n\($0)") }
        let plugin = NodeAffinityPlugin()
        var scores = nodes.map { plugin.score(pod, $0, CycleState()) }
        #expect(scores == [100, 80, 20, 0])
        scores = [40, 20, 0]
        plugin.normalize(&scores)
        #expect(scores == [100, 50, 0])
    }

    // MARK: NodePorts

    struct PortCase: Sendable, CustomTestStringConvertible {
        let name: String
        let placed: JSONValue
        let wanted: JSONValue
        let conflict: Bool
        var testDescription: String { name }
    }

    static let portCases: [PortCase] = [
        PortCase(name: "same port, protocol and address", placed: ["hostPort": 80], wanted: ["hostPort": 80], conflict: true),
        PortCase(name: "another port", placed: ["hostPort": 80], wanted: ["hostPort": 8080], conflict: false),
        PortCase(name: "another protocol", placed: ["hostPort": 53, "protocol": "UDP"], wanted: ["hostPort": 53, "protocol": "TCP"], conflict: false),
        PortCase(name: "an unset protocol is TCP", placed: ["hostPort": 53, "protocol": "TCP"], wanted: ["hostPort": 53], conflict: true),
        PortCase(name: "two specific addresses", placed: ["hostPort": 80, "hostIP": "10.0.0.1"], wanted: ["hostPort": 80, "hostIP": "10.0.0.2"],
                 conflict: false),
        PortCase(name: "a wildcard wanted where a specific address is used", placed: ["hostPort": 80, "hostIP": "10.0.0.1"],
                 wanted: ["hostPort": 80], conflict: true),
        PortCase(name: "a specific address wanted where the wildcard is used", placed: ["hostPort": 80, "hostIP": "0.0.0.0"],
                 wanted: ["hostPort": 80, "hostIP": "10.0.0.1"], conflict: true),
        PortCase(name: "an empty host IP is the wildcard", placed: ["hostPort": 80, "hostIP": ""], wanted: ["hostPort": 80, "hostIP": "10.0.0.1"],
                 conflict: true),
        PortCase(name: "a container port without a host port takes nothing", placed: ["containerPort": 80], wanted: ["hostPort": 80], conflict: false),
    ]

    @Test("NodePorts: which host ports collide", arguments: portCases)
    func nodePorts(_ row: PortCase) {
        func pod(_ name: String, _ port: JSONValue) -> PodInfo {
            var port = port
            port["containerPort"] = port["containerPort"] ?? 80
            return Self.pod(name, spec: ["containers": [["name": "c", "ports": [port]]]])
        }
        let node = Self.node()
        node.add(pod("placed", row.placed))
        let status = NodePortsPlugin().filter(pod("wanted", row.wanted), node, CycleState())
        #expect(status.isSuccess == !row.conflict)
        if row.conflict { #expect(status.reasons == ["node(s) didn't have free ports for the requested pod ports"]) }
    }

    // MARK: NodeUnschedulable and NodeName

    @Test("a cordoned node takes a pod that tolerates the unschedulable taint; NodeName is unresolvable elsewhere")
    func cordonAndNodeName() {
        let cordoned = NodeInfo(["metadata": ["name": "c"], "spec": ["unschedulable": true]])
        let tolerant = Self.pod(spec: ["tolerations": [["key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"]]])
        #expect(NodeUnschedulablePlugin().filter(tolerant, cordoned, CycleState()).isSuccess)
        #expect(NodeUnschedulablePlugin().filter(Self.pod(), cordoned, CycleState()).code == .unschedulableAndUnresolvable)
        #expect(NodeNamePlugin().filter(Self.pod(spec: ["nodeName": "c"]), cordoned, CycleState()).isSuccess)
    }
}
