import Foundation
import KeelsonAPI

/// How controllers read a pod's state, as `k8s.io/kubernetes/pkg/api/v1/pod` and the controller utilities do.
enum PodState {
    static func phase(_ pod: JSONValue) -> String { pod["status"]?["phase"]?.stringValue ?? "Pending" }

    /// Succeeded or Failed: the pod will never run again.
    static func isTerminal(_ pod: JSONValue) -> Bool {
        let phase = phase(pod)
        return phase == "Succeeded" || phase == "Failed"
    }

    /// Counts toward a controller's replicas: not finished and not being deleted.
    static func isActive(_ pod: JSONValue) -> Bool { !isTerminal(pod) && pod.deletionTimestamp == nil }

    static func readyCondition(_ pod: JSONValue) -> JSONValue? {
        (pod["status"]?["conditions"]?.arrayValue ?? []).first { $0["type"]?.stringValue == "Ready" }
    }

    static func isReady(_ pod: JSONValue) -> Bool { readyCondition(pod)?["status"]?.stringValue == "True" }

    /// Since when the pod has been Ready, if it is.
    static func readySince(_ pod: JSONValue) -> Date? {
        guard let condition = readyCondition(pod), condition["status"]?.stringValue == "True" else { return nil }
        return condition["lastTransitionTime"]?.stringValue.flatMap(Timestamp.parse) ?? .distantPast
    }

    /// Ready for at least `minReadySeconds` (a pod with no transition time counts as ready long enough).
    static func isAvailable(_ pod: JSONValue, minReadySeconds: Int, now: Date) -> Bool {
        guard let since = readySince(pod) else { return false }
        return minReadySeconds == 0 || since.addingTimeInterval(TimeInterval(minReadySeconds)) <= now
    }

    static func restarts(_ pod: JSONValue) -> Int64 {
        (pod["status"]?["containerStatuses"]?.arrayValue ?? []).reduce(0) { $0 + ($1["restartCount"]?.intValue ?? 0) }
    }

    /// The order in which a controller scaling down deletes pods, first to last — `ActivePods`' ranking: unassigned
    /// before assigned, Pending before Unknown before Running, not ready before ready, recently ready before long
    /// ready, more restarts before fewer, newer before older.
    static func deletionOrder(_ a: JSONValue, _ b: JSONValue) -> Bool {
        let nodeA = a["spec"]?["nodeName"]?.stringValue ?? "", nodeB = b["spec"]?["nodeName"]?.stringValue ?? ""
        if nodeA.isEmpty != nodeB.isEmpty { return nodeA.isEmpty }
        let rank = ["Pending": 0, "Unknown": 1, "Running": 2]
        let phaseA = rank[phase(a)] ?? 1, phaseB = rank[phase(b)] ?? 1
        if phaseA != phaseB { return phaseA < phaseB }
        if isReady(a) != isReady(b) { return !isReady(a) }
        if let sinceA = readySince(a), let sinceB = readySince(b), sinceA != sinceB { return sinceA > sinceB }
        if restarts(a) != restarts(b) { return restarts(a) > restarts(b) }
        let createdA = a.creationTimestamp ?? "", createdB = b.creationTimestamp ?? ""
        if createdA != createdB { return createdA > createdB }
        return (a.name ?? "") < (b.name ?? "")
    }

    /// A new pod from a controller's `spec.template`, owned by the controller — `GetPodFromTemplate`: the template's
    /// labels, annotations and finalizers, its spec untouched, a generated name, and the controller reference.
    static func fromTemplate(_ template: JSONValue, generateName: String, owner: OwnerReference) -> JSONValue {
        var pod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["generateName": .string(generateName)]]
        for field in ["labels", "annotations", "finalizers"] {
            if let value = template["metadata"]?[field] { pod.setMetadataField(field, value) }
        }
        pod.ownerReferences = [owner]
        pod["spec"] = template["spec"] ?? [:]
        return pod
    }
}
