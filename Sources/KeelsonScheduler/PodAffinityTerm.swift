import KeelsonAPI

/// One pod (anti-)affinity term, parsed once when its pod is read: which pods it selects (label selector and
/// namespaces) and over which node label (`topologyKey`) they count as near. `weight` is the preferred term's weight,
/// negative for anti-affinity; 0 for required terms.
public struct PodAffinityTerm: Sendable, Hashable {
    public var selector: LabelSelector
    /// nil: every namespace.
    public var namespaces: Set<String>?
    public var topologyKey: String
    public var weight: Int64

    public init?(_ json: JSONValue, ownNamespace: String, weight: Int64 = 0) {
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

    public func matches(namespace: String, labels: [String: String]) -> Bool {
        (namespaces?.contains(namespace) ?? true) && selector.matches(labels)
    }

    /// The key under which the scheduler cache counts this term's pods (`NodeInfo.countKey`), when the term is one
    /// namespace and one label value (most terms); nil when pods must be matched one by one.
    var countKey: String? {
        guard let namespaces, namespaces.count == 1, let namespace = namespaces.first else { return nil }
        return NodeInfo.countKey(namespace: namespace, selector)
    }

    /// Matching pods on a node, one by one (terms with a `countKey` are counted from the cache's index instead).
    func count(on node: NodeInfo) -> Int {
        var count = 0
        for placed in node.podLabels.values where matches(namespace: placed.namespace, labels: placed.labels) { count += 1 }
        return count
    }

    /// The terms of a pod spec's `affinity`: required affinity, required anti-affinity, and preferred terms of both
    /// (anti-affinity weights negated).
    static func terms(of spec: JSONValue?, namespace: String) -> (affinity: [PodAffinityTerm], antiAffinity: [PodAffinityTerm], preferred: [PodAffinityTerm]) {
        let affinity = spec?["affinity"]
        let required = (affinity?["podAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"]?.arrayValue ?? [])
            .compactMap { PodAffinityTerm($0, ownNamespace: namespace) }
        let anti = (affinity?["podAntiAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"]?.arrayValue ?? [])
            .compactMap { PodAffinityTerm($0, ownNamespace: namespace) }
        var preferred: [PodAffinityTerm] = []
        for (key, sign) in [("podAffinity", Int64(1)), ("podAntiAffinity", -1)] {
            for entry in affinity?[key]?["preferredDuringSchedulingIgnoredDuringExecution"]?.arrayValue ?? [] {
                if let term = PodAffinityTerm(entry["podAffinityTerm"] ?? .null, ownNamespace: namespace, weight: sign * (entry["weight"]?.intValue ?? 1)) {
                    preferred.append(term)
                }
            }
        }
        return (required, anti, preferred)
    }
}
