import KeelsonAPI

/// PodTopologySpread: `topologySpreadConstraints` keep matching pods evenly spread over topology domains (zones,
/// nodes, …). A DoNotSchedule constraint filters out nodes where placing the pod would make the domain's count
/// exceed the least populated domain's by more than `maxSkew` (`minDomains` counts missing domains as empty);
/// ScheduleAnyway constraints prefer the least populated domains. Domains are the values of `topologyKey` on the
/// nodes the pod's node selector and affinity allow (nodeAffinityPolicy Honor).
public struct PodTopologySpreadPlugin: PreFilterPlugin, FilterPlugin, ScorePlugin {
    public let name = "PodTopologySpread"
    public init() {}

    struct Constraint {
        var maxSkew: Int
        var topologyKey: String
        var hard: Bool
        var selector: LabelSelector
        var minDomains: Int
        /// Matching pods per domain.
        var counts: [String: Int]
        var selfMatch: Int
        var minCount: Int { counts.count < minDomains ? 0 : (counts.values.min() ?? 0) }
    }

    static let stateKey = "PodTopologySpread"

    public func preFilter(_ pod: PodInfo, _ nodes: [NodeInfo], _ state: CycleState) -> PluginStatus {
        let specs = pod.spec["topologySpreadConstraints"]?.arrayValue ?? []
        guard !specs.isEmpty else { return .success }
        var constraints: [Constraint] = []
        for spec in specs {
            guard let key = spec["topologyKey"]?.stringValue,
                let selector = try? LabelSelector.from(spec["labelSelector"] ?? [:])
            else { continue }
            constraints.append(Constraint(maxSkew: Int(spec["maxSkew"]?.intValue ?? 1), topologyKey: key,
                hard: (spec["whenUnsatisfiable"]?.stringValue ?? "DoNotSchedule") == "DoNotSchedule", selector: selector,
                minDomains: Int(spec["minDomains"]?.intValue ?? 1), counts: [:], selfMatch: selector.matches(pod.labels) ? 1 : 0))
        }
        for node in nodes where !pod.hasNodeConstraints || NodeAffinity.matches(podSpec: pod.spec, node: node.node) {
            for i in constraints.indices {
                guard let domain = node.labels[constraints[i].topologyKey] else { continue }
                let matching = node.podLabels.values.filter { $0.namespace == pod.namespace && constraints[i].selector.matches($0.labels) }.count
                constraints[i].counts[domain, default: 0] += matching
            }
        }
        state.write(Self.stateKey, constraints)
        return .success
    }

    public func filter(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> PluginStatus {
        guard pod.hasTopologySpread, let constraints = state.read(Self.stateKey, as: [Constraint].self) else { return .success }
        for constraint in constraints where constraint.hard {
            guard let domain = node.labels[constraint.topologyKey] else {
                return .unresolvable("node(s) didn't match pod topology spread constraints (missing required label)")
            }
            let skew = (constraint.counts[domain] ?? 0) + constraint.selfMatch - constraint.minCount
            if skew > constraint.maxSkew { return .unschedulable("node(s) didn't match pod topology spread constraints") }
        }
        return .success
    }

    /// The matching pods already in the node's domains, for the soft constraints; fewer is better.
    public func score(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> Int64 {
        guard pod.hasTopologySpread, let constraints = state.read(Self.stateKey, as: [Constraint].self) else { return 0 }
        return constraints.filter { !$0.hard }.reduce(0) { total, constraint in
            total + Int64(node.labels[constraint.topologyKey].map { constraint.counts[$0] ?? 0 } ?? 0)
        }
    }

    public func normalize(_ scores: inout [Int64]) {
        guard let highest = scores.max(), let lowest = scores.min(), highest > lowest else {
            scores = scores.map { _ in 100 }
            return
        }
        scores = scores.map { (highest - $0) * 100 / (highest - lowest) }
    }
}
