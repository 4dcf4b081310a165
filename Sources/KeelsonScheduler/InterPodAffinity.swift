import KeelsonAPI

/// InterPodAffinity: pods placed relative to other pods by topology domain (`topologyKey` on nodes). A required
/// affinity term needs a matching pod in the node's domain (unless no pod matches anywhere and the pod matches its own
/// term: the first of a group); a required anti-affinity term forbids one; and existing pods' required anti-affinity
/// terms forbid the incoming pod their domains. Preferred terms add (affinity) or subtract (anti-affinity) their
/// weight for each matching pod in the node's domain.
public struct InterPodAffinityPlugin: PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin {
    public let name = "InterPodAffinity"
    public init() {}

    final class State {
        var affinity: [(term: PodAffinityTerm, domains: [String: Int])] = []
        var antiAffinity: [(term: PodAffinityTerm, domains: [String: Int])] = []
        /// Domains existing pods' anti-affinity closes to this pod: topology key → values.
        var forbidden: [String: Set<String>] = [:]
        var anyAffinityMatch: [Bool] = []
    }

    /// The preferred terms with their matching pods per domain, for scoring.
    final class ScoreState {
        var preferred: [(term: PodAffinityTerm, domains: [String: Int])] = []
    }

    public func preFilter(_ pod: PodInfo, _ nodes: [NodeInfo], _ state: CycleState) -> PluginStatus {
        let required = pod.requiredAffinity
        let anti = pod.requiredAntiAffinity
        if required.isEmpty && anti.isEmpty && !state.existingAntiAffinity { return .success }

        let result = State()
        result.affinity = required.map { ($0, [:]) }
        result.antiAffinity = anti.map { ($0, [:]) }
        result.anyAffinityMatch = required.map { _ in false }
        for (term, placedOn) in state.snapshot.placedAntiAffinity where term.matches(namespace: pod.namespace, labels: pod.labels) {
            for name in placedOn.keys {
                guard let i = state.snapshot.index[name], i < nodes.count, let value = nodes[i].labels[term.topologyKey] else { continue }
                result.forbidden[term.topologyKey, default: []].insert(value)
            }
        }
        for i in result.affinity.indices { (result.affinity[i].domains, result.anyAffinityMatch[i]) = Self.domains(of: result.affinity[i].term, nodes, state) }
        for i in result.antiAffinity.indices { result.antiAffinity[i].domains = Self.domains(of: result.antiAffinity[i].term, nodes, state).domains }
        state.write(result)
        return .success
    }

    /// Counts the pods matching the preferred terms, over all nodes (a domain may reach beyond the feasible ones).
    public func preScore(_ pod: PodInfo, _ feasible: [NodeInfo], _ state: CycleState) -> PluginStatus {
        guard !pod.preferredAffinity.isEmpty else { return .success }
        let result = ScoreState()
        result.preferred = pod.preferredAffinity.map { ($0, Self.domains(of: $0, state.snapshot.nodes, state).domains) }
        state.write(result)
        return .success
    }

    /// Matching pods per domain of the term's topology key, and whether any matching pod exists at all.
    static func domains(of term: PodAffinityTerm, _ nodes: [NodeInfo], _ state: CycleState) -> (domains: [String: Int], any: Bool) {
        let snapshot = state.snapshot
        var domains: [String: Int] = [:]
        var any = false
        if snapshot.nodes.count == nodes.count, let key = term.countKey {
            for (name, count) in snapshot.podsByLabel[key] ?? [:] {
                any = true
                guard let i = snapshot.index[name], let value = nodes[i].labels[term.topologyKey] else { continue }
                domains[value, default: 0] += count
            }
            return (domains, any)
        }
        for node in nodes where node.podCount > 0 {
            let count = term.count(on: node)
            guard count > 0 else { continue }
            any = true
            if let value = node.labels[term.topologyKey] { domains[value, default: 0] += count }
        }
        return (domains, any)
    }

    public func filter(_ pod: PodInfo, _ node: NodeInfo, _ cycle: CycleState) -> PluginStatus {
        guard pod.hasPodAffinity || cycle.existingAntiAffinity, let state = cycle.read(State.self) else { return .success }
        for (i, entry) in state.affinity.enumerated() {
            guard let value = node.labels[entry.term.topologyKey] else { return .unresolvable("node(s) didn't match pod affinity rules") }
            if entry.domains[value, default: 0] > 0 { continue }
            // The first pod of a group that matches its own term may go anywhere with the key.
            if !state.anyAffinityMatch[i] && entry.term.matches(namespace: pod.namespace, labels: pod.labels) { continue }
            return .unresolvable("node(s) didn't match pod affinity rules")
        }
        for entry in state.antiAffinity {
            if let value = node.labels[entry.term.topologyKey], entry.domains[value, default: 0] > 0 {
                return .unschedulable("node(s) didn't match pod anti-affinity rules")
            }
        }
        // Checked last, as upstream does, so the pod's own rules are what its message names first.
        for (key, values) in state.forbidden {
            if let value = node.labels[key], values.contains(value) {
                return .unschedulable("node(s) didn't satisfy existing pods anti-affinity rules")
            }
        }
        return .success
    }

    public func score(_ pod: PodInfo, _ node: NodeInfo, _ cycle: CycleState) -> Int64 {
        guard !pod.preferredAffinity.isEmpty, let state = cycle.read(ScoreState.self) else { return 0 }
        return state.preferred.reduce(0) { total, entry in
            guard let value = node.labels[entry.term.topologyKey] else { return total }
            return total + entry.term.weight * Int64(entry.domains[value, default: 0])
        }
    }

    public func normalize(_ scores: inout [Int64]) {
        guard let highest = scores.max(), let lowest = scores.min(), highest > lowest else {
            scores = scores.map { _ in 0 }
            return
        }
        scores = scores.map { ($0 - lowest) * 100 / (highest - lowest) }
    }
}
