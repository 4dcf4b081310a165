import KeelsonAPI

/// NodeUnschedulable: cordoned nodes take no pods, unless the pod tolerates the `unschedulable` taint.
public struct NodeUnschedulablePlugin: FilterPlugin {
    public let name = "NodeUnschedulable"
    public init() {}

    public func filter(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> PluginStatus {
        guard node.unschedulable else { return .success }
        let taint: JSONValue = ["key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"]
        if Taints.toleration(for: taint, in: pod.tolerations) != nil { return .success }
        return .unresolvable("node(s) were unschedulable")
    }
}

/// NodeName: a pod naming a node in `spec.nodeName` fits only there.
public struct NodeNamePlugin: FilterPlugin {
    public let name = "NodeName"
    public init() {}

    public func filter(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> PluginStatus {
        guard let wanted = pod.requestedNode, wanted != node.name else { return .success }
        return .unresolvable("node(s) didn't match the requested node name")
    }
}

/// TaintToleration: NoSchedule and NoExecute taints must be tolerated; untolerated PreferNoSchedule taints lower
/// the score.
public struct TaintTolerationPlugin: FilterPlugin, ScorePlugin {
    public let name = "TaintToleration"
    public init() {}

    public func filter(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> PluginStatus {
        for taint in node.taints where taint["effect"]?.stringValue != "PreferNoSchedule" {
            if Taints.toleration(for: taint, in: pod.tolerations) == nil {
                return .unresolvable("node(s) had untolerated taint {\(taint["key"]?.stringValue ?? ""): \(taint["value"]?.stringValue ?? "")}")
            }
        }
        return .success
    }

    public func score(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> Int64 {
        if node.taints.isEmpty { return 0 }
        let tolerations = pod.tolerations.filter { ($0["effect"]?.stringValue ?? "").isEmpty || $0["effect"] == "PreferNoSchedule" }
        return Int64(node.taints.filter {
            $0["effect"]?.stringValue == "PreferNoSchedule" && Taints.toleration(for: $0, in: tolerations) == nil
        }.count)
    }

    /// Fewer untolerated taints is better: the count is scaled to 0…100 and reversed, rounding as upstream's
    /// `DefaultNormalizeScore` does.
    public func normalize(_ scores: inout [Int64]) {
        let highest = scores.max() ?? 0
        scores = scores.map { highest == 0 ? 100 : 100 - $0 * 100 / highest }
    }
}

/// NodeAffinity: `nodeSelector` and required node affinity filter; preferred terms add their weights to the score.
public struct NodeAffinityPlugin: FilterPlugin, ScorePlugin {
    public let name = "NodeAffinity"
    public init() {}

    public func filter(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> PluginStatus {
        guard pod.hasNodeConstraints else { return .success }
        return NodeAffinity.matches(podSpec: pod.spec, node: node.node) ? .success : .unresolvable("node(s) didn't match Pod's node affinity/selector")
    }

    public func score(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> Int64 {
        guard pod.spec["affinity"]?["nodeAffinity"]?["preferredDuringSchedulingIgnoredDuringExecution"] != nil else { return 0 }
        let preferred = pod.spec["affinity"]?["nodeAffinity"]?["preferredDuringSchedulingIgnoredDuringExecution"]?.arrayValue ?? []
        return preferred.reduce(0) { total, term in
            guard let preference = term["preference"], NodeAffinity.matches(terms: [preference], node: node.node) else { return total }
            return total + (term["weight"]?.intValue ?? 0)
        }
    }

    public func normalize(_ scores: inout [Int64]) {
        let highest = scores.max() ?? 0
        guard highest > 0 else { return }
        scores = scores.map { $0 * 100 / highest }
    }
}

/// NodePorts: a `hostPort` can be used by one pod per node (per protocol and host IP).
public struct NodePortsPlugin: FilterPlugin {
    public let name = "NodePorts"
    public init() {}

    public func filter(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> PluginStatus {
        if pod.hostPorts.isEmpty || node.usedPorts.isEmpty { return .success }
        for port in pod.hostPorts {
            let parts = port.split(separator: "/", omittingEmptySubsequences: false)
            let wildcard = "\(parts[0])/0.0.0.0/\(parts[2])"
            // A wildcard host IP conflicts with every IP on the same port and protocol, and the other way round.
            let conflict = node.usedPorts[port] != nil || node.usedPorts[wildcard] != nil
                || (parts[1] == "0.0.0.0" && node.usedPorts.keys.contains { $0.hasPrefix("\(parts[0])/") && $0.hasSuffix("/\(parts[2])") })
            if conflict { return .unschedulable("node(s) didn't have free ports for the requested pod ports") }
        }
        return .success
    }
}

/// NodeResourcesFit: the pod's requests (cpu, memory, ephemeral storage, extended resources, and one pod slot)
/// must fit in what the node has left; scoring follows the configured strategy — LeastAllocated (the default:
/// spread), MostAllocated (pack), or RequestedToCapacityRatio (a piecewise-linear shape over utilisation).
public struct NodeResourcesFit: PreFilterPlugin, FilterPlugin, ScorePlugin {
    public enum Strategy: Sendable, Equatable {
        case leastAllocated
        case mostAllocated
        /// Points of (utilisation %, score 0…10), as `requestedToCapacityRatio.shape`.
        case requestedToCapacityRatio(shape: [(utilization: Int64, score: Int64)])

        public static func == (a: Strategy, b: Strategy) -> Bool {
            switch (a, b) {
            case (.leastAllocated, .leastAllocated), (.mostAllocated, .mostAllocated): true
            case (.requestedToCapacityRatio(let x), .requestedToCapacityRatio(let y)): x.map(\.utilization) == y.map(\.utilization) && x.map(\.score) == y.map(\.score)
            default: false
            }
        }
    }

    public let name = "NodeResourcesFit"
    public var strategy: Strategy
    /// Resources scored, with their weights (cpu and memory, 1 each, by default).
    public var resources: [(name: String, weight: Int64)]

    public init(strategy: Strategy = .leastAllocated, resources: [(name: String, weight: Int64)] = [("cpu", 1), ("memory", 1)]) {
        self.strategy = strategy
        self.resources = resources
    }

    public func preFilter(_ pod: PodInfo, _ nodes: [NodeInfo], _ state: CycleState) -> PluginStatus { .success }

    public func filter(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> PluginStatus {
        let requests = pod.requests, allocatable = node.allocatable, requested = node.requested
        let podsFit = Int64(node.podCount + 1) * 1000 <= allocatable.pods
        if podsFit && requests.cpu <= allocatable.cpu - requested.cpu && requests.memory <= allocatable.memory - requested.memory
            && requests.other.isEmpty
        {
            return .success
        }
        var reasons: [String] = []
        if !podsFit { reasons.append("Too many pods") }
        if requests.cpu > 0 && requests.cpu > allocatable.cpu - requested.cpu { reasons.append("Insufficient cpu") }
        if requests.memory > 0 && requests.memory > allocatable.memory - requested.memory { reasons.append("Insufficient memory") }
        for (resource, request) in requests.other.sorted(by: { $0.key < $1.key }) where request > allocatable[resource] - requested[resource] {
            reasons.append("Insufficient \(resource)")
        }
        return reasons.isEmpty ? .success : PluginStatus(code: .unschedulable, reasons: reasons)
    }

    /// What scoring counts as requested on the node once the pod is there: CPU and memory with the non-zero
    /// defaults for containers that name none (upstream's `NonZeroRequested`); other resources as requested.
    static func scoredRequest(_ pod: PodInfo, _ node: NodeInfo, _ resource: String) -> Int64 {
        switch resource {
        case "cpu": node.scoringRequested.cpu + pod.scoringRequests.cpu
        case "memory": node.scoringRequested.memory + pod.scoringRequests.memory
        default: node.requested[resource] + pod.requests[resource]
        }
    }

    public func score(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> Int64 {
        var total: Int64 = 0, weights: Int64 = 0
        for (resource, weight) in resources {
            let capacity = node.allocatable[resource]
            // An extended resource (or huge pages) the pod does not ask for is not scored, as upstream skips it.
            // (Byte-wise: String.contains(String) goes through Foundation's locale-aware search, a tenth of a
            // decision's time at a thousand nodes.)
            let scalar = resource != "cpu" && resource != "memory"
                && (resource.utf8.contains(UInt8(ascii: "/")) || resource.hasPrefix("hugepages-"))
            guard capacity > 0, !scalar || pod.requests[resource] > 0 else { continue }
            let requested = min(Self.scoredRequest(pod, node, resource), capacity)
            let used = Double(requested) * 100 / Double(capacity)
            let score: Double
            switch strategy {
            case .leastAllocated: score = 100 - used
            case .mostAllocated: score = used
            case .requestedToCapacityRatio(let shape): score = Self.interpolate(shape, at: used) * 10
            }
            total += Int64(score.rounded(.down)) * weight
            weights += weight
        }
        return weights == 0 ? 0 : total / weights
    }

    /// The shape's score (0…10) at a utilisation, linear between points and flat beyond the ends.
    static func interpolate(_ shape: [(utilization: Int64, score: Int64)], at utilization: Double) -> Double {
        guard let first = shape.first, let last = shape.last else { return 0 }
        if utilization <= Double(first.utilization) { return Double(first.score) }
        if utilization >= Double(last.utilization) { return Double(last.score) }
        for (a, b) in zip(shape, shape.dropFirst()) where utilization <= Double(b.utilization) {
            let span = Double(b.utilization - a.utilization)
            return Double(a.score) + (utilization - Double(a.utilization)) / span * Double(b.score - a.score)
        }
        return Double(last.score)
    }
}

/// ImageLocality: prefers nodes that already have the pod's images (`status.images`), weighted by image size, so
/// pods start without pulling.
public struct ImageLocalityPlugin: ScorePlugin {
    public let name = "ImageLocality"
    public init() {}

    public func score(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> Int64 {
        let present = node.images
        guard !present.isEmpty else { return 0 }
        // Upstream scales by the image's spread over nodes; here the summed size, capped at 1 GiB → 100.
        let bytes = pod.images.reduce(Int64(0)) { $0 + (present[$1] ?? present[$1 + ":latest"] ?? 0) }
        return min(bytes * 100 / (1 << 30), 100)
    }
}

/// SchedulingGates (PreEnqueue): a pod with `spec.schedulingGates` is not queued until they are all removed.
public struct SchedulingGatesPlugin: PreEnqueuePlugin {
    public let name = "SchedulingGates"
    public init() {}

    public func preEnqueue(_ pod: PodInfo) -> PluginStatus {
        let gates = (pod.spec["schedulingGates"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        return gates.isEmpty ? .success : .unresolvable("waiting for scheduling gates: \(gates)")
    }
}

/// NodeResourcesBalancedAllocation: prefers nodes whose CPU and memory would be used in similar proportions.
public struct BalancedAllocation: ScorePlugin {
    public let name = "NodeResourcesBalancedAllocation"
    public init() {}

    public func score(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> Int64 {
        guard node.allocatable.cpu > 0, node.allocatable.memory > 0 else { return 0 }
        let cpu = min(Double(node.requested.cpu + pod.requests.cpu) / Double(node.allocatable.cpu), 1)
        let memory = min(Double(node.requested.memory + pod.requests.memory) / Double(node.allocatable.memory), 1)
        let deviation = abs(cpu - memory) / 2
        return Int64(((1 - deviation) * 100).rounded(.down))
    }
}
