/// Node taints and pod tolerations, as `k8s.io/api/core/v1`'s helpers match them; shared by the node lifecycle
/// controller (NoExecute eviction) and the scheduler (TaintToleration).
public enum Taints {
    /// Whether one toleration tolerates one taint: same key (or an empty key with `Exists`, which tolerates
    /// everything), same effect (or an empty effect), and `Exists` or an equal value.
    public static func tolerates(_ toleration: JSONValue, _ taint: JSONValue) -> Bool {
        let effect = toleration["effect"]?.stringValue ?? ""
        if !effect.isEmpty && effect != taint["effect"]?.stringValue { return false }
        let key = toleration["key"]?.stringValue ?? ""
        let op = toleration["operator"]?.stringValue ?? "Equal"
        if key.isEmpty { return op == "Exists" }
        if key != taint["key"]?.stringValue { return false }
        switch op {
        case "Exists": return true
        case "Equal", "": return (toleration["value"]?.stringValue ?? "") == (taint["value"]?.stringValue ?? "")
        default: return false
        }
    }

    /// The first of `tolerations` that tolerates `taint`.
    public static func toleration(for taint: JSONValue, in tolerations: [JSONValue]) -> JSONValue? {
        tolerations.first { tolerates($0, taint) }
    }

    /// A pod's tolerations.
    public static func tolerations(of pod: JSONValue) -> [JSONValue] { pod["spec"]?["tolerations"]?.arrayValue ?? [] }

    /// A node's taints.
    public static func taints(of node: JSONValue) -> [JSONValue] { node["spec"]?["taints"]?.arrayValue ?? [] }
}
