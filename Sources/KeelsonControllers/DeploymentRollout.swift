import Foundation
import KeelsonAPI

/// One Deployment's rollout as a sync sees it: the parsed spec, its ReplicaSets split into new and old, and the
/// arithmetic of `pkg/controller/deployment/util` (surge and unavailability bounds, the new ReplicaSet's next size,
/// proportional shares). Pure values, so the decisions are testable without an API.
struct Rollout {
    var deployment: JSONValue
    let replicas: Int
    let selector: LabelSelector
    let strategy: String
    let maxSurge: Int
    let maxUnavailable: Int
    let paused: Bool
    let revisionHistoryLimit: Int
    let progressDeadlineSeconds: Int?
    var newRS: JSONValue?
    /// Oldest first.
    var oldRSs: [JSONValue] = []
    /// A condition reason this sync earned (`NewReplicaSetCreated`, `FoundNewReplicaSet`), if any.
    var progressNote: (reason: String, message: String)?
    var recheckAfter: Duration?

    init(deployment d: JSONValue) throws {
        deployment = d
        let spec = d["spec"] ?? [:]
        replicas = Int(spec["replicas"]?.intValue ?? 1)
        selector = try LabelSelector.from(spec["selector"])
        strategy = spec["strategy"]?["type"]?.stringValue ?? "RollingUpdate"
        paused = spec["paused"]?.boolValue ?? false
        revisionHistoryLimit = Int(spec["revisionHistoryLimit"]?.intValue ?? 10)
        progressDeadlineSeconds = spec["progressDeadlineSeconds"].map { Int($0.intValue ?? 600) } ?? 600
        if strategy == "RollingUpdate" {
            let rolling = spec["strategy"]?["rollingUpdate"]
            var surge = Self.resolve(rolling?["maxSurge"] ?? "25%", of: replicas, roundUp: true)
            var unavailable = Self.resolve(rolling?["maxUnavailable"] ?? "25%", of: replicas, roundUp: false)
            if surge == 0 && unavailable == 0 { unavailable = 1 }  // a rollout must be able to move
            surge = max(surge, 0)
            unavailable = min(max(unavailable, 0), replicas)
            maxSurge = surge
            maxUnavailable = unavailable
        } else {
            maxSurge = 0
            maxUnavailable = 0
        }
    }

    /// An IntOrString of the API: an integer, or a percentage of `total` rounded as asked.
    static func resolve(_ value: JSONValue, of total: Int, roundUp: Bool) -> Int {
        if let n = value.intValue { return Int(n) }
        guard let text = value.stringValue, text.hasSuffix("%"), let percent = Double(text.dropLast()) else { return 0 }
        let exact = percent * Double(total) / 100
        return Int(roundUp ? exact.rounded(.up) : exact.rounded(.down))
    }

    // MARK: ReplicaSets

    /// Splits owned ReplicaSets: the oldest one whose template equals the Deployment's is new, the rest old.
    mutating func classify(_ owned: [JSONValue]) {
        let sorted = owned.sorted(by: Self.olderFirst)
        let template = deployment["spec"]?["template"] ?? [:]
        newRS = sorted.first { Self.templateEqualIgnoringHash($0["spec"]?["template"] ?? [:], template) }
        oldRSs = sorted.filter { $0.uid != newRS?.uid }
    }

    static func olderFirst(_ a: JSONValue, _ b: JSONValue) -> Bool {
        let ca = a.creationTimestamp ?? "", cb = b.creationTimestamp ?? ""
        return ca != cb ? ca < cb : (a.name ?? "") < (b.name ?? "")
    }

    /// Template equality as Go's semantic equality sees it: the hash label aside, a null, an empty object and an
    /// empty list are the same as an absent field (`creationTimestamp: null`, which kubectl sends in templates,
    /// must not make `rollout undo` create a new ReplicaSet).
    static func templateEqualIgnoringHash(_ rsTemplate: JSONValue, _ template: JSONValue) -> Bool {
        var rsTemplate = rsTemplate
        if var labels = rsTemplate["metadata"]?["labels"]?.objectValue {
            labels[DeploymentController.hashLabel] = nil
            rsTemplate.setValue(.object(labels), at: ["metadata", "labels"])
        }
        return semanticForm(rsTemplate) == semanticForm(template)
    }

    static func semanticForm(_ value: JSONValue) -> JSONValue? {
        switch value {
        case .null:
            return nil
        case .object(let members):
            let kept = members.compactMapValues(semanticForm)
            return kept.isEmpty ? nil : .object(kept)
        case .array(let items):
            return items.isEmpty ? nil : .array(items.map { semanticForm($0) ?? .null })
        default:
            return value
        }
    }

    var all: [JSONValue] { (newRS.map { [$0] } ?? []) + oldRSs }

    static func specReplicas(_ rs: JSONValue) -> Int { Int(rs["spec"]?["replicas"]?.intValue ?? 1) }
    static func statusCount(_ rs: JSONValue, _ field: String) -> Int { Int(rs["status"]?[field]?.intValue ?? 0) }
    static func revision(_ rs: JSONValue) -> Int { Int(rs.annotations[DeploymentController.revisionAnnotation] ?? "") ?? 0 }

    var maxOldRevision: Int { oldRSs.map(Self.revision).max() ?? 0 }

    /// Some ReplicaSet with replicas was sized for another `spec.replicas`: the user scaled, not rolled out.
    var isScalingEvent: Bool {
        all.contains { rs in
            Self.specReplicas(rs) > 0
                && rs.annotations[DeploymentController.desiredReplicasAnnotation].flatMap { Int($0) }.map { $0 != replicas } ?? false
        }
    }

    // MARK: Rolling update arithmetic

    /// The new ReplicaSet's size for this step of a rolling update — `NewRSNewReplicas`.
    func newReplicaSetTarget(current: Int) -> Int {
        guard strategy == "RollingUpdate" else { return replicas }
        let total = all.map(Self.specReplicas).reduce(0, +)
        let maxTotal = replicas + maxSurge
        if total >= maxTotal { return current }
        return current + min(maxTotal - total, max(replicas - current, 0))
    }

    var availableReplicas: Int { all.map { Self.statusCount($0, "availableReplicas") }.reduce(0, +) }

    /// Every pod of the new ReplicaSet is updated, available and alone.
    var isComplete: Bool {
        guard let newRS else { return replicas == 0 && oldRSs.allSatisfy { Self.statusCount($0, "replicas") == 0 } }
        return Self.statusCount(newRS, "replicas") == replicas && Self.statusCount(newRS, "availableReplicas") >= replicas
            && Self.specReplicas(newRS) == replicas
            && oldRSs.allSatisfy { Self.statusCount($0, "replicas") == 0 && Self.specReplicas($0) == 0 }
    }

    /// How a change of `spec.replicas` is spread over the ReplicaSets that have pods — `getProportion`: each gets
    /// its share of the new size relative to the size it was last given (`max-replicas`), the rounding leftover
    /// going to the largest. Returns new sizes by uid.
    func proportionalSizes() -> [String: Int] {
        let active = all.filter { Self.specReplicas($0) > 0 }
        let current = active.map(Self.specReplicas).reduce(0, +)
        let allowed = replicas + (strategy == "RollingUpdate" ? maxSurge : 0)
        let toAdd = allowed - current
        guard toAdd != 0, !active.isEmpty else { return [:] }
        // Larger first; newer first when scaling up, older first when scaling down.
        let ordered = active.sorted { a, b in
            let sa = Self.specReplicas(a), sb = Self.specReplicas(b)
            if sa != sb { return sa > sb }
            return toAdd > 0 ? Self.olderFirst(b, a) : Self.olderFirst(a, b)
        }
        var sizes: [String: Int] = [:]
        var added = 0
        for rs in ordered {
            let size = Self.specReplicas(rs)
            let annotated = rs.annotations[DeploymentController.maxReplicasAnnotation].flatMap { Int($0) } ?? current
            var share = 0
            if replicas == 0 {
                share = -size
            } else if annotated > 0 {
                share = Int((Double(size) * Double(allowed) / Double(annotated)).rounded()) - size
            }
            let remaining = toAdd - added
            share = toAdd > 0 ? min(share, remaining) : max(share, remaining)
            sizes[rs.uid ?? ""] = size + share
            added += share
        }
        if added != toAdd, let first = ordered.first, let uid = first.uid {
            sizes[uid] = max((sizes[uid] ?? 0) + toAdd - added, 0)
        }
        return sizes
    }

    // MARK: Naming

    /// The new ReplicaSet's `pod-template-hash`: FNV-1a of the template's canonical JSON and the collision count,
    /// spelled with the API server's safe alphabet as upstream spells its hash.
    static func templateHash(_ template: JSONValue, collisionCount: Int64?) -> String {
        var hash: UInt32 = 2_166_136_261
        var bytes = template.encoded()
        if let collisionCount { bytes += Array(String(collisionCount).utf8) }
        for byte in bytes {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String(String(hash).utf8.map { alphabet[Int($0) % alphabet.count] })
    }
}
