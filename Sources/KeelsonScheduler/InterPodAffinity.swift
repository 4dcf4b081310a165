import KeelsonAPI

/// InterPodAffinity: pods placed relative to other pods by topology domain (`topologyKey` on nodes). A required
/// affinity term needs a matching pod in the node's domain (unless no pod matches anywhere and the pod matches its own
/// term: the first of a group); a required anti-affinity term forbids one; and existing pods' required anti-affinity
/// terms forbid the incoming pod their domains. Preferred terms add (affinity) or subtract (anti-affinity) their
/// weight for each matching pod in the node's domain.
public struct InterPodAffinityPlugin: PreFilterPlugin, FilterPlugin, ScorePlugin {
    public let name = "InterPodAffinity"
    public init() {}

    struct Term {
        var selector: LabelSelector
        var namespaces: Set<String>?  // nil: every namespace
        var topologyKey: String
        var weight: Int64

        init?(_ json: JSONValue, ownNamespace: String, weight: Int64 = 0) {
            guard let key = json["topologyKey"]?.stringValue, !key.isEmpty,
                let selector = try? LabelSelector.from(json["labelSelector"] ?? .null)
            else { return nil }
            self.selector = selector
            self.topologyKey = key
            self.weight = weight
            let listed = (json["namespaces"]?.arrayValue ?? []).compactMap(\.stringValue)
            if !listed.isEmpty {
                namespaces = Set(listed)
            } else if json["namespaceSelector"]?.objectValue?.isEmpty == true {
                namespaces = nil  // an empty namespaceSelector selects every namespace
            } else {
                namespaces = [ownNamespace]
            }
        }

        func matches(namespace: String, labels: [String: String]) -> Bool {
            (namespaces?.contains(namespace) ?? true) && selector.matches(labels)
        }
    }

    struct State {
        var affinity: [(term: Term, domains: [String: Int])] = []
        var antiAffinity: [(term: Term, domains: [String: Int])] = []
        /// Domains (`key=value`) existing pods' anti-affinity closes to this pod.
        var forbidden: Set<String> = []
        var preferred: [(term: Term, sign: Int64, domains: [String: Int])] = []
        var anyAffinityMatch: [Bool] = []
    }

    static let stateKey = "InterPodAffinity"

    public func preFilter(_ pod: PodInfo, _ nodes: [NodeInfo], _ state: CycleState) -> PluginStatus {
        let affinity = pod.spec["affinity"]
        let required = (affinity?["podAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"]?.arrayValue ?? [])
            .compactMap { Term($0, ownNamespace: pod.namespace) }
        let anti = pod.requiredAntiAffinity.compactMap { Term($0, ownNamespace: pod.namespace) }
        var preferred: [(Term, Int64)] = []
        for (key, sign) in [("podAffinity", Int64(1)), ("podAntiAffinity", -1)] {
            for entry in affinity?[key]?["preferredDuringSchedulingIgnoredDuringExecution"]?.arrayValue ?? [] {
                if let term = Term(entry["podAffinityTerm"] ?? .null, ownNamespace: pod.namespace, weight: entry["weight"]?.intValue ?? 1) {
                    preferred.append((term, sign))
                }
            }
        }
        let anyExistingAnti = state.existingAntiAffinity
        if required.isEmpty && anti.isEmpty && preferred.isEmpty && !anyExistingAnti { return .success }

        var result = State()
        result.affinity = required.map { ($0, [:]) }
        result.antiAffinity = anti.map { ($0, [:]) }
        result.preferred = preferred.map { ($0.0, $0.1, [:]) }
        result.anyAffinityMatch = required.map { _ in false }
        for node in nodes {
            for (namespace, terms) in node.podAntiAffinity.values {
                for term in terms.compactMap({ Term($0, ownNamespace: namespace) }) where term.matches(namespace: pod.namespace, labels: pod.labels) {
                    if let value = node.labels[term.topologyKey] { result.forbidden.insert("\(term.topologyKey)=\(value)") }
                }
            }
            for (namespace, labels) in node.podLabels.values {
                for i in result.affinity.indices where result.affinity[i].term.matches(namespace: namespace, labels: labels) {
                    result.anyAffinityMatch[i] = true
                    if let value = node.labels[result.affinity[i].term.topologyKey] { result.affinity[i].domains[value, default: 0] += 1 }
                }
                for i in result.antiAffinity.indices where result.antiAffinity[i].term.matches(namespace: namespace, labels: labels) {
                    if let value = node.labels[result.antiAffinity[i].term.topologyKey] { result.antiAffinity[i].domains[value, default: 0] += 1 }
                }
                for i in result.preferred.indices where result.preferred[i].term.matches(namespace: namespace, labels: labels) {
                    if let value = node.labels[result.preferred[i].term.topologyKey] { result.preferred[i].domains[value, default: 0] += 1 }
                }
            }
        }
        state.write(Self.stateKey, result)
        return .success
    }

    public func filter(_ pod: PodInfo, _ node: NodeInfo, _ cycle: CycleState) -> PluginStatus {
        guard pod.hasPodAffinity || cycle.existingAntiAffinity, let state = cycle.read(Self.stateKey, as: State.self) else { return .success }
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
        for (key, value) in node.labels where state.forbidden.contains("\(key)=\(value)") {
            return .unschedulable("node(s) didn't satisfy existing pods anti-affinity rules")
        }
        return .success
    }

    public func score(_ pod: PodInfo, _ node: NodeInfo, _ cycle: CycleState) -> Int64 {
        guard pod.hasPodAffinity, let state = cycle.read(Self.stateKey, as: State.self) else { return 0 }
        return state.preferred.reduce(0) { total, entry in
            guard let value = node.labels[entry.term.topologyKey] else { return total }
            return total + entry.sign * entry.term.weight * Int64(entry.domains[value, default: 0])
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
