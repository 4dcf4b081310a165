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

    /// Fewer untolerated taints is better: the count is reversed into 0…100.
    public func normalize(_ scores: inout [Int64]) {
        let highest = scores.max() ?? 0
        scores = scores.map { highest == 0 ? 100 : (highest - $0) * 100 / highest }
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
/// must fit in what the node has left; scoring prefers the least allocated nodes.
public struct NodeResourcesFit: PreFilterPlugin, FilterPlugin, ScorePlugin {
    public let name = "NodeResourcesFit"
    public init() {}

    public func preFilter(_ pod: PodInfo, _ nodes: [NodeInfo], _ state: CycleState) -> PluginStatus { .success }

    public func filter(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> PluginStatus {
        var reasons: [String] = []
        if let pods = node.allocatable["pods"], Int64(node.podCount + 1) * 1000 > pods.milli { reasons.append("Too many pods") }
        for (resource, request) in pod.sortedRequests {
            let free = (node.allocatable[resource] ?? .zero) - (node.requested[resource] ?? .zero)
            if request > free { reasons.append("Insufficient \(resource)") }
        }
        return reasons.isEmpty ? .success : PluginStatus(code: .unschedulable, reasons: reasons)
    }

    /// Requests used for scoring: a pod asking for nothing still counts as 100m CPU and 200Mi, as upstream's
    /// non-zero defaults make best-effort pods spread.
    static func scoringRequest(_ pod: PodInfo, _ resource: String) -> Int64 {
        let value = pod.requests[resource]?.milli ?? 0
        if value > 0 { return value }
        return resource == "cpu" ? 100 : 200 * 1024 * 1024 * 1000
    }

    /// LeastAllocated over cpu and memory, equally weighted.
    public func score(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> Int64 {
        var total: Int64 = 0
        for resource in ["cpu", "memory"] {
            let capacity = node.allocatable[resource]?.milli ?? 0
            guard capacity > 0 else { continue }
            let requested = (node.requested[resource]?.milli ?? 0) + Self.scoringRequest(pod, resource)
            if requested > capacity { continue }
            total += Int64((Double(capacity - requested) * 100 / Double(capacity)).rounded(.down))
        }
        return total / 2
    }
}

/// NodeResourcesBalancedAllocation: prefers nodes whose CPU and memory would be used in similar proportions.
public struct BalancedAllocation: ScorePlugin {
    public let name = "NodeResourcesBalancedAllocation"
    public init() {}

    public func score(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> Int64 {
        var fractions: [Double] = []
        for resource in ["cpu", "memory"] {
            let capacity = Double(node.allocatable[resource]?.milli ?? 0)
            guard capacity > 0 else { continue }
            let requested = Double((node.requested[resource]?.milli ?? 0) + (pod.requests[resource]?.milli ?? 0))
            fractions.append(min(requested / capacity, 1))
        }
        guard fractions.count == 2 else { return 0 }
        let deviation = abs(fractions[0] - fractions[1]) / 2
        return Int64(((1 - deviation) * 100).rounded(.down))
    }
}
