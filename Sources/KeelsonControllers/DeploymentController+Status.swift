import Foundation
import KeelsonAPI
import KeelsonClient

extension DeploymentController {
    /// Writes the counts and the Available and Progressing conditions — `syncRolloutStatus`. Progressing is True
    /// while the rollout moves (its `lastUpdateTime` marks the last move), False with `ProgressDeadlineExceeded` once
    /// it has not moved for `progressDeadlineSeconds`, and reason `NewReplicaSetAvailable` when complete.
    func writeStatus(_ r: inout Rollout) async throws {
        let d = r.deployment
        let old = d["status"] ?? [:]
        let now = now()
        let stamp = Timestamp.format(now)
        var status = old
        let all = r.all
        let count = { (field: String) in Int64(all.map { Rollout.statusCount($0, field) }.reduce(0, +)) }
        status["observedGeneration"] = .integer(d.generation ?? 0)
        status["replicas"] = .integer(count("replicas"))
        status["updatedReplicas"] = .integer(Int64(r.newRS.map { Rollout.statusCount($0, "replicas") } ?? 0))
        status["readyReplicas"] = .integer(count("readyReplicas"))
        status["availableReplicas"] = .integer(count("availableReplicas"))
        status["unavailableReplicas"] = .integer(max(Int64(r.replicas) - count("availableReplicas"), 0))
        for field in ["replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"] where status[field] == .integer(0) {
            status[field] = nil
        }

        var conditions = old["conditions"]?.arrayValue ?? []
        let minAvailable = r.replicas - r.maxUnavailable
        if count("availableReplicas") >= Int64(minAvailable) {
            Self.setCondition(&conditions, type: "Available", status: "True", reason: "MinimumReplicasAvailable",
                message: "Deployment has minimum availability.", now: stamp)
        } else {
            Self.setCondition(&conditions, type: "Available", status: "False", reason: "MinimumReplicasUnavailable",
                message: "Deployment does not have minimum availability.", now: stamp)
        }

        if let deadline = r.progressDeadlineSeconds {
            let progressing = conditions.first { $0["type"]?.stringValue == "Progressing" }
            let newName = r.newRS?.name ?? ""
            if r.paused {
                Self.setCondition(&conditions, type: "Progressing", status: "Unknown", reason: "DeploymentPaused",
                    message: "Deployment is paused", now: stamp)
            } else if progressing?["reason"]?.stringValue == "DeploymentPaused" {
                Self.setCondition(&conditions, type: "Progressing", status: "Unknown", reason: "DeploymentResumed",
                    message: "Deployment is resumed", now: stamp)
            } else if r.isComplete, r.newRS != nil {
                Self.setCondition(&conditions, type: "Progressing", status: "True", reason: "NewReplicaSetAvailable",
                    message: "ReplicaSet \"\(newName)\" has successfully progressed.", now: stamp)
            } else if let note = r.progressNote, note.reason == "NewReplicaSetCreated" {
                Self.setCondition(&conditions, type: "Progressing", status: "True", reason: note.reason, message: note.message, now: stamp)
            } else if Self.moved(from: old, to: status) || progressing == nil {
                Self.setCondition(&conditions, type: "Progressing", status: "True", reason: "ReplicaSetUpdated",
                    message: "ReplicaSet \"\(newName)\" is progressing.", now: stamp)
            } else if let progressing, progressing["reason"]?.stringValue != "ProgressDeadlineExceeded",
                progressing["status"]?.stringValue != "False"
            {
                let since = progressing["lastUpdateTime"]?.stringValue.flatMap(Timestamp.parse) ?? now
                let expires = since.addingTimeInterval(TimeInterval(deadline))
                if expires <= now {
                    Self.setCondition(&conditions, type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded",
                        message: "ReplicaSet \"\(newName)\" has timed out progressing.", now: stamp)
                    events?.record(d, apiVersion: Self.apiVersion, kind: Self.kind, .warning, reason: "ProgressDeadlineExceeded",
                        message: "ReplicaSet \"\(newName)\" has timed out progressing.")
                } else {
                    r.recheckAfter = .milliseconds(Int64(expires.timeIntervalSince(now) * 1000) + 1000)
                }
            }
        }
        status["conditions"] = .array(conditions)
        r.deployment = try await StatusWriter.write(status, to: d, resource: .deployments, client: client)
    }

    /// The rollout moved: more updated, ready or available pods, or fewer old ones — `DeploymentProgressing`.
    static func moved(from old: JSONValue, to new: JSONValue) -> Bool {
        let value = { (s: JSONValue, f: String) in s[f]?.intValue ?? 0 }
        let oldOld = value(old, "replicas") - value(old, "updatedReplicas")
        let newOld = value(new, "replicas") - value(new, "updatedReplicas")
        return value(new, "updatedReplicas") > value(old, "updatedReplicas") || newOld < oldOld
            || value(new, "readyReplicas") > value(old, "readyReplicas")
            || value(new, "availableReplicas") > value(old, "availableReplicas")
    }

    /// Sets a condition: `lastTransitionTime` changes only with the status, `lastUpdateTime` with anything.
    static func setCondition(_ conditions: inout [JSONValue], type: String, status: String, reason: String, message: String, now: String) {
        let index = conditions.firstIndex { $0["type"]?.stringValue == type }
        let existing = index.map { conditions[$0] }
        if let existing, existing["status"]?.stringValue == status, existing["reason"]?.stringValue == reason,
            existing["message"]?.stringValue == message, type != "Progressing" || reason != "ReplicaSetUpdated"
        {
            return
        }
        let transition = existing?["status"]?.stringValue == status ? (existing?["lastTransitionTime"] ?? .string(now)) : .string(now)
        let condition: JSONValue = ["type": .string(type), "status": .string(status), "reason": .string(reason),
                                    "message": .string(message), "lastUpdateTime": .string(now), "lastTransitionTime": transition]
        if let index { conditions[index] = condition } else { conditions.append(condition) }
    }
}
