import Foundation
import KeelsonAPI

/// PodTopologySpread: `topologySpreadConstraints` keep matching pods evenly spread over topology domains (zones,
/// nodes, …). A DoNotSchedule constraint filters out nodes where placing the pod would make the domain's count
/// exceed the least populated domain's by more than `maxSkew` (`minDomains` counts missing domains as empty);
/// ScheduleAnyway constraints prefer the least populated domains. Domains are the values of `topologyKey` on the
/// nodes the pod's node selector and affinity allow (nodeAffinityPolicy Honor).
///
/// A pod without constraints of its own gets the cluster's default constraints (kube-scheduler's `System`
/// defaulting: ScheduleAnyway, maxSkew 3 over nodes and 5 over zones), selecting the pods of the same Services,
/// ReplicaSets and StatefulSets; a pod that belongs to none is not spread.
public struct PodTopologySpreadPlugin: PreFilterPlugin, FilterPlugin, ScorePlugin {
    public let name = "PodTopologySpread"
    public static let hostnameKey = "kubernetes.io/hostname"

    /// A constraint before a selector is known: the cluster defaults.
    public struct DefaultConstraint: Sendable, Equatable {
        public var maxSkew: Int
        public var topologyKey: String
        public var hard: Bool

        public init(maxSkew: Int, topologyKey: String, hard: Bool) {
            self.maxSkew = maxSkew
            self.topologyKey = topologyKey
            self.hard = hard
        }
    }

    /// kube-scheduler's `defaultingType: System`.
    public static let systemDefaults = [
        DefaultConstraint(maxSkew: 3, topologyKey: hostnameKey, hard: false),
        DefaultConstraint(maxSkew: 5, topologyKey: "topology.kubernetes.io/zone", hard: false),
    ]

    public let defaultConstraints: [DefaultConstraint]

    /// Whether a default constraint filters (DoNotSchedule), so Filter must look for pods without their own.
    let hardDefaults: Bool

    public init(defaultConstraints: [DefaultConstraint] = Self.systemDefaults) {
        self.defaultConstraints = defaultConstraints
        self.hardDefaults = defaultConstraints.contains { $0.hard }
    }

    struct Constraint {
        var maxSkew: Int
        var topologyKey: String
        var hard: Bool
        var selector: LabelSelector
        var minDomains: Int
        /// Matching pods per domain (not kept for the hostname key: a node's own pods are its domain).
        var counts: [String: Int]
        var selfMatch: Int
        var minCount: Int { counts.count < minDomains ? 0 : (counts.values.min() ?? 0) }
        var perNode: Bool { topologyKey == PodTopologySpreadPlugin.hostnameKey }
        /// `NodeInfo.labelCounts` key when the selector is one label value.
        var countKey: String?

        init(maxSkew: Int, topologyKey: String, hard: Bool, selector: LabelSelector, minDomains: Int, namespace: String, selfMatch: Int) {
            self.maxSkew = maxSkew
            self.topologyKey = topologyKey
            self.hard = hard
            self.selector = selector
            self.minDomains = minDomains
            self.counts = [:]
            self.selfMatch = selfMatch
            self.countKey = NodeInfo.countKey(namespace: namespace, selector)
        }

        /// Pods of the namespace this constraint selects on a node.
        func count(on node: NodeInfo, namespace: String) -> Int {
            if let countKey { return node.labelCounts[countKey] ?? 0 }
            var count = 0
            for placed in node.podLabels.values where placed.namespace == namespace && selector.matches(placed.labels) { count += 1 }
            return count
        }
    }

    final class State {
        let constraints: [Constraint]
        /// Nodes lacking a key of the pod's own constraints are not scored (kube-scheduler's requireAllTopologies);
        /// for defaulted constraints they are scored on the keys they have.
        let requireAllTopologies: Bool
        /// Per soft constraint, log(domains + 2): spreading over many domains weighs more than over few.
        let weights: [Double]

        init(constraints: [Constraint], requireAllTopologies: Bool, weights: [Double]) {
            self.constraints = constraints
            self.requireAllTopologies = requireAllTopologies
            self.weights = weights
        }
    }


    public func preFilter(_ pod: PodInfo, _ nodes: [NodeInfo], _ state: CycleState) -> PluginStatus {
        var constraints: [Constraint] = []
        let own = pod.spec["topologySpreadConstraints"]?.arrayValue ?? []
        if !own.isEmpty {
            for spec in own {
                guard let key = spec["topologyKey"]?.stringValue,
                    let selector = try? LabelSelector.from(spec["labelSelector"] ?? [:])
                else { continue }
                constraints.append(Constraint(maxSkew: Int(spec["maxSkew"]?.intValue ?? 1), topologyKey: key,
                    hard: (spec["whenUnsatisfiable"]?.stringValue ?? "DoNotSchedule") == "DoNotSchedule", selector: selector,
                    minDomains: Int(spec["minDomains"]?.intValue ?? 1), namespace: pod.namespace, selfMatch: selector.matches(pod.labels) ? 1 : 0))
            }
        } else if let selector = pod.defaultSpreadSelector, !defaultConstraints.isEmpty {
            constraints = defaultConstraints.map {
                Constraint(maxSkew: $0.maxSkew, topologyKey: $0.topologyKey, hard: $0.hard, selector: selector, minDomains: 1,
                    namespace: pod.namespace, selfMatch: selector.matches(pod.labels) ? 1 : 0)
            }
        }
        guard !constraints.isEmpty else { return .success }
        var counted = constraints.indices.filter { !constraints[$0].perNode || constraints[$0].hard }
        if !pod.hasNodeConstraints {
            // Every node is eligible: the domains are known, and only nodes holding matching pods need a look.
            let snapshot = state.snapshot
            for i in counted where constraints[i].countKey != nil && snapshot.nodes.count == nodes.count {
                constraints[i].counts = snapshot.domains(of: constraints[i].topologyKey).mapValues { _ in 0 }
                for (name, count) in snapshot.podsByLabel[constraints[i].countKey!] ?? [:] {
                    guard let n = snapshot.index[name], let domain = nodes[n].labels[constraints[i].topologyKey] else { continue }
                    constraints[i].counts[domain, default: 0] += count
                }
                counted.removeAll { $0 == i }
            }
        }
        if !counted.isEmpty {
            for node in nodes where !pod.hasNodeConstraints || NodeAffinity.matches(podSpec: pod.spec, node: node.node) {
                for i in counted {
                    guard let domain = node.labels[constraints[i].topologyKey] else { continue }
                    constraints[i].counts[domain, default: 0] += constraints[i].count(on: node, namespace: pod.namespace)
                }
            }
        }
        let weights = constraints.map { $0.hard ? 0 : log(Double(($0.perNode ? nodes.count : $0.counts.count) + 2)) }
        state.write(State(constraints: constraints, requireAllTopologies: !own.isEmpty, weights: weights))
        return .success
    }


    public func filter(_ pod: PodInfo, _ node: NodeInfo, _ cycle: CycleState) -> PluginStatus {
        guard pod.hasTopologySpread || (pod.defaultSpreadSelector != nil && hardDefaults),
            let state = cycle.read(State.self)
        else { return .success }
        for constraint in state.constraints where constraint.hard {
            guard let domain = node.labels[constraint.topologyKey] else {
                return .unresolvable("node(s) didn't match pod topology spread constraints (missing required label)")
            }
            let skew = (constraint.counts[domain] ?? 0) + constraint.selfMatch - constraint.minCount
            if skew > constraint.maxSkew { return .unschedulable("node(s) didn't match pod topology spread constraints") }
        }
        return .success
    }

    /// Per soft constraint, the matching pods already in the node's domain, weighted, plus maxSkew - 1 (so a larger
    /// skew allowance flattens the preference); fewer is better. -1 marks a node not to score.
    public func score(_ pod: PodInfo, _ node: NodeInfo, _ cycle: CycleState) -> Int64 {
        guard pod.hasTopologySpread || pod.defaultSpreadSelector != nil, let state = cycle.read(State.self) else { return 0 }
        var total = 0.0
        for (i, constraint) in state.constraints.enumerated() where !constraint.hard {
            guard let domain = node.labels[constraint.topologyKey] else {
                if state.requireAllTopologies { return -1 }
                continue
            }
            let count = constraint.perNode ? constraint.count(on: node, namespace: pod.namespace) : constraint.counts[domain] ?? 0
            total += Double(count) * state.weights[i] + Double(constraint.maxSkew - 1)
        }
        return Int64(total.rounded())
    }

    /// kube-scheduler's normalisation: 100 × (max + min − score) / max over the scored nodes; unscored nodes get 0.
    public func normalize(_ scores: inout [Int64]) {
        let scored = scores.filter { $0 >= 0 }
        guard let highest = scored.max(), let lowest = scored.min() else { return }
        scores = scores.map { score in
            if score < 0 { return 0 }
            if highest == 0 { return 100 }
            return 100 * (highest + lowest - score) / highest
        }
    }
}
