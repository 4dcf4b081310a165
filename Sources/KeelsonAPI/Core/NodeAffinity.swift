/// Node selection as pods express it — `nodeSelector` and required node affinity — matched against a Node, as
/// `k8s.io/component-helpers/scheduling/corev1/nodeaffinity` does; shared by the DaemonSet controller and the
/// scheduler.
public enum NodeAffinity {
    /// `spec.nodeSelector` and `requiredDuringSchedulingIgnoredDuringExecution` of a pod spec both hold for `node`.
    public static func matches(podSpec spec: JSONValue, node: JSONValue) -> Bool {
        let labels = (node["metadata"]?["labels"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        for (key, value) in (spec["nodeSelector"]?.objectValue ?? [:]) where labels[key] != value.stringValue {
            return false
        }
        guard let terms = spec["affinity"]?["nodeAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"]?["nodeSelectorTerms"]?.arrayValue
        else { return true }
        return matches(terms: terms, node: node)
    }

    /// Terms are ORed; within a term, expressions and fields are ANDed; an empty term matches nothing.
    public static func matches(terms: [JSONValue], node: JSONValue) -> Bool {
        let labels = (node["metadata"]?["labels"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        let fields = ["metadata.name": node["metadata"]?["name"]?.stringValue ?? ""]
        return terms.contains { term in
            let expressions = term["matchExpressions"]?.arrayValue ?? []
            let fieldExpressions = term["matchFields"]?.arrayValue ?? []
            if expressions.isEmpty && fieldExpressions.isEmpty { return false }
            return expressions.allSatisfy { requirement($0, labels) } && fieldExpressions.allSatisfy { requirement($0, fields) }
        }
    }

    static func requirement(_ expression: JSONValue, _ values: [String: String]) -> Bool {
        let key = expression["key"]?.stringValue ?? ""
        let wanted = (expression["values"]?.arrayValue ?? []).compactMap(\.stringValue)
        let actual = values[key]
        switch expression["operator"]?.stringValue {
        case "In": return actual.map(wanted.contains) ?? false
        case "NotIn": return actual.map { !wanted.contains($0) } ?? true
        case "Exists": return actual != nil
        case "DoesNotExist": return actual == nil
        case "Gt": return actual.flatMap { Int64($0) }.flatMap { a in wanted.first.flatMap { Int64($0) }.map { a > $0 } } ?? false
        case "Lt": return actual.flatMap { Int64($0) }.flatMap { a in wanted.first.flatMap { Int64($0) }.map { a < $0 } } ?? false
        default: return false
        }
    }
}
