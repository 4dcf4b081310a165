import KeelsonAPI

/// kube-apiserver's `DefaultTolerationSeconds` admission plugin: every new pod tolerates the `not-ready` and
/// `unreachable` NoExecute taints for a while (300 s by default) unless it says otherwise, so a node's brief
/// outage does not evict everything on it at once, but a dead node's pods move elsewhere.
public struct DefaultTolerationSeconds: Sendable {
    public var notReadySeconds: Int64
    public var unreachableSeconds: Int64

    public init(notReadySeconds: Int64 = 300, unreachableSeconds: Int64 = 300) {
        self.notReadySeconds = notReadySeconds
        self.unreachableSeconds = unreachableSeconds
    }

    func admit(_ pod: inout JSONValue) {
        var tolerations = pod["spec"]?["tolerations"]?.arrayValue ?? []
        var changed = false
        for (key, seconds) in [("node.kubernetes.io/not-ready", notReadySeconds), ("node.kubernetes.io/unreachable", unreachableSeconds)] {
            // A toleration that already covers the taint (same key, or any key with Exists; NoExecute or any effect) wins.
            let covered = tolerations.contains { t in
                let tKey = t["key"]?.stringValue ?? ""
                let effect = t["effect"]?.stringValue ?? ""
                return (tKey == key || (tKey.isEmpty && t["operator"]?.stringValue == "Exists")) && (effect.isEmpty || effect == "NoExecute")
            }
            if covered { continue }
            tolerations.append(["key": .string(key), "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": .integer(seconds)])
            changed = true
        }
        if changed { pod.setValue(.array(tolerations), at: ["spec", "tolerations"]) }
    }
}
