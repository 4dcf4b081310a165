import Foundation
import KeelsonAPI

/// One Job as a sync sees it: its spec, the pods it owns, and the status being computed. Pure decisions (what to
/// count, how many pods to want, whether it is complete or failed), so they are testable without an API.
struct JobState {
    var job: JSONValue
    var status: JSONValue
    let pods: [JSONValue]
    let now: Date

    init(job: JSONValue, pods: [JSONValue], now: Date) {
        self.job = job
        self.pods = pods
        self.now = now
        var status = job["status"] ?? [:]
        if status["startTime"] == nil && job["spec"]?["suspend"]?.boolValue != true {
            status["startTime"] = .string(Timestamp.format(now))
        }
        self.status = status
        refreshActive()
    }

    var spec: JSONValue { job["spec"] ?? [:] }
    var parallelism: Int { Int(spec["parallelism"]?.intValue ?? 1) }
    var completions: Int? { spec["completions"]?.intValue.map(Int.init) }
    var indexed: Bool { spec["completionMode"]?.stringValue == "Indexed" }
    var suspended: Bool { spec["suspend"]?.boolValue ?? false }
    var succeeded: Int { Int(status["succeeded"]?.intValue ?? 0) }
    var failed: Int { Int(status["failed"]?.intValue ?? 0) }

    /// Pods that count as running: not finished, not being deleted.
    var active: [JSONValue] { pods.filter(PodState.isActive) }

    // MARK: Conditions

    private func condition(_ type: String) -> JSONValue? {
        (status["conditions"]?.arrayValue ?? []).first { $0["type"]?.stringValue == type && $0["status"]?.stringValue == "True" }
    }

    var finished: Bool { condition("Complete") != nil || condition("Failed") != nil }

    var finishedAt: Date? {
        if let completion = status["completionTime"]?.stringValue { return Timestamp.parse(completion) }
        return condition("Failed")?["lastTransitionTime"]?.stringValue.flatMap(Timestamp.parse)
    }

    mutating func addCondition(type: String, reason: String?, message: String?) {
        var conditions = status["conditions"]?.arrayValue ?? []
        let stamp = JSONValue.string(Timestamp.format(now))
        var condition: JSONValue = ["type": .string(type), "status": "True", "lastProbeTime": stamp, "lastTransitionTime": stamp]
        if let reason { condition["reason"] = .string(reason) }
        if let message { condition["message"] = .string(message) }
        conditions.append(condition)
        status["conditions"] = .array(conditions)
    }

    mutating func finish(type: String, reason: String?, message: String?) {
        addCondition(type: type, reason: reason, message: message)
        if type == "Complete" { status["completionTime"] = .string(Timestamp.format(now)) }
        refreshActive()
    }

    // MARK: Counting

    /// Counts the finished pods still carrying the tracking finalizer that are not counted yet, recording their
    /// uids as uncounted; returns them, to be released. A pod deleted by someone else before it succeeded counts as
    /// failed (the controller releases the pods it deletes itself); a failure the pod failure policy ignores is
    /// released uncounted.
    mutating func countTerminatedPods() -> [JSONValue] {
        var uncountedSucceeded = (status["uncountedTerminatedPods"]?["succeeded"]?.arrayValue ?? []).compactMap(\.stringValue)
        var uncountedFailed = (status["uncountedTerminatedPods"]?["failed"]?.arrayValue ?? []).compactMap(\.stringValue)
        var completed = Set(Self.parseIndexes(status["completedIndexes"]?.stringValue ?? ""))
        var newly: [JSONValue] = []
        for pod in pods where pod.finalizers.contains(JobController.trackingFinalizer) {
            let uid = pod.uid ?? ""
            if uncountedSucceeded.contains(uid) || uncountedFailed.contains(uid) { continue }
            let phase = PodState.phase(pod)
            if phase == "Succeeded" {
                if indexed, let index = Self.index(of: pod) {
                    guard let completions, index < completions, completed.insert(index).inserted else {
                        newly.append(pod)  // a second success of one index counts once
                        continue
                    }
                }
                uncountedSucceeded.append(uid)
                status["succeeded"] = .integer(Int64(succeeded + 1))
                newly.append(pod)
            } else if phase == "Failed" || pod.deletionTimestamp != nil {
                switch failurePolicyAction(for: pod) {
                case .ignore:
                    newly.append(pod)
                    continue
                case .failJob(let message):
                    if condition("FailureTarget") == nil { addCondition(type: "FailureTarget", reason: "PodFailurePolicy", message: message) }
                case .count:
                    break
                }
                uncountedFailed.append(uid)
                status["failed"] = .integer(Int64(failed + 1))
                newly.append(pod)
            }
        }
        setUncounted(succeeded: uncountedSucceeded, failed: uncountedFailed)
        if indexed { status["completedIndexes"] = completed.isEmpty ? nil : .string(Self.formatIndexes(completed)) }
        return newly
    }

    /// Drops uncounted uids whose pods no longer carry the finalizer (or are gone). True if anything changed.
    mutating func forgetReleasedUncounted() -> Bool {
        let tracked = Set(pods.filter { $0.finalizers.contains(JobController.trackingFinalizer) }.compactMap(\.uid))
        let succeeded = (status["uncountedTerminatedPods"]?["succeeded"]?.arrayValue ?? []).compactMap(\.stringValue)
        let failed = (status["uncountedTerminatedPods"]?["failed"]?.arrayValue ?? []).compactMap(\.stringValue)
        let keptSucceeded = succeeded.filter(tracked.contains), keptFailed = failed.filter(tracked.contains)
        guard keptSucceeded.count != succeeded.count || keptFailed.count != failed.count else { return false }
        setUncounted(succeeded: keptSucceeded, failed: keptFailed)
        return true
    }

    private mutating func setUncounted(succeeded: [String], failed: [String]) {
        var uncounted: JSONValue = [:]
        if !succeeded.isEmpty { uncounted["succeeded"] = .array(succeeded.map(JSONValue.string)) }
        if !failed.isEmpty { uncounted["failed"] = .array(failed.map(JSONValue.string)) }
        status["uncountedTerminatedPods"] = uncounted
    }

    mutating func refreshActive() {
        let running = finished ? [] : active
        status["active"] = running.isEmpty ? nil : .integer(Int64(running.count))
        let ready = running.filter(PodState.isReady).count
        status["ready"] = .integer(Int64(ready))
    }

    // MARK: Decisions

    /// How many pods should be running now.
    var wantedActive: Int {
        if suspended || finished { return 0 }
        if indexed, let completions {
            return max(0, min(completions - Self.parseIndexes(status["completedIndexes"]?.stringValue ?? "").count, parallelism))
        }
        if let completions { return max(0, min(completions - succeeded, parallelism)) }
        // Without completions, the first success means no new pods: the running ones finish.
        return succeeded > 0 ? active.count : parallelism
    }

    /// The pods to create now: nil entries for NonIndexed Jobs, the lowest missing indexes for Indexed ones.
    func indexesToCreate() -> [Int?] {
        let missing = wantedActive - active.count
        guard missing > 0 else { return [] }
        guard indexed, let completions else { return Array(repeating: nil, count: missing) }
        let done = Set(Self.parseIndexes(status["completedIndexes"]?.stringValue ?? ""))
        let running = Set(active.compactMap(Self.index(of:)))
        return (0..<completions).filter { !done.contains($0) && !running.contains($0) }.prefix(missing).map { $0 }
    }

    var isComplete: Bool {
        if indexed, let completions { return Self.parseIndexes(status["completedIndexes"]?.stringValue ?? "").count >= completions }
        if let completions { return succeeded >= completions }
        return succeeded > 0 && active.isEmpty
    }

    /// Why the Job fails now, if it does: the pod failure policy, the back-off limit, or the deadline.
    func failureReason() -> (reason: String, message: String)? {
        if let target = condition("FailureTarget") {
            return (target["reason"]?.stringValue ?? "PodFailurePolicy", target["message"]?.stringValue ?? "")
        }
        if failed > Int(spec["backoffLimit"]?.intValue ?? 6) {
            return ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        }
        if let remaining = activeDeadlineRemaining, remaining <= .zero {
            return ("DeadlineExceeded", "Job was active longer than specified deadline")
        }
        return nil
    }

    var activeDeadlineRemaining: Duration? {
        guard let deadline = spec["activeDeadlineSeconds"]?.intValue, !suspended,
            let start = status["startTime"]?.stringValue.flatMap(Timestamp.parse)
        else { return nil }
        let left = start.addingTimeInterval(TimeInterval(deadline)).timeIntervalSince(now)
        return .milliseconds(Int64((left * 1000).rounded(.up)))
    }

    /// After failures, replacements wait 10 s doubling per failure up to 6 min, from the newest failure.
    var backoffRemaining: Duration? {
        guard failed > 0 else { return nil }
        let lastFailure = pods.filter { PodState.phase($0) == "Failed" }.compactMap(Self.finishTime).max()
        guard let lastFailure else { return nil }
        let delay = min(10 * pow(2, Double(min(failed - 1, 10))), 360)
        let left = lastFailure.addingTimeInterval(delay).timeIntervalSince(now)
        return left > 0 ? .milliseconds(Int64((left * 1000).rounded(.up))) : nil
    }

    static func finishTime(_ pod: JSONValue) -> Date? {
        let finished = (pod["status"]?["containerStatuses"]?.arrayValue ?? [])
            .compactMap { $0["state"]?["terminated"]?["finishedAt"]?.stringValue.flatMap(Timestamp.parse) }
        if let latest = finished.max() { return latest }
        let transitions = (pod["status"]?["conditions"]?.arrayValue ?? []).compactMap { $0["lastTransitionTime"]?.stringValue.flatMap(Timestamp.parse) }
        return transitions.max() ?? pod.creationTimestamp.flatMap(Timestamp.parse)
    }

    // MARK: Pod failure policy

    enum FailureAction: Equatable {
        case failJob(String)
        case ignore
        case count
    }

    /// The action of the first `podFailurePolicy` rule matching a failed pod — exit codes of its containers, or
    /// its conditions — or `count` when none matches.
    func failurePolicyAction(for pod: JSONValue) -> FailureAction {
        let rules = spec["podFailurePolicy"]?["rules"]?.arrayValue ?? []
        let statuses = (pod["status"]?["initContainerStatuses"]?.arrayValue ?? []) + (pod["status"]?["containerStatuses"]?.arrayValue ?? [])
        for (index, rule) in rules.enumerated() {
            var matched: String?
            if let onExitCodes = rule["onExitCodes"] {
                let values = Set((onExitCodes["values"]?.arrayValue ?? []).compactMap(\.intValue))
                let notIn = onExitCodes["operator"]?.stringValue == "NotIn"
                for status in statuses {
                    if let name = onExitCodes["containerName"]?.stringValue, status["name"]?.stringValue != name { continue }
                    guard let code = status["state"]?["terminated"]?["exitCode"]?.intValue, code != 0 || !notIn else { continue }
                    if values.contains(code) != notIn {
                        matched = "Container \(status["name"]?.stringValue ?? "") for pod \(pod.namespace ?? "")/\(pod.name ?? "") failed with exit code \(code) matching FailJob rule at index \(index)"
                        break
                    }
                }
            } else if let patterns = rule["onPodConditions"]?.arrayValue {
                let conditions = pod["status"]?["conditions"]?.arrayValue ?? []
                for pattern in patterns {
                    let status = pattern["status"]?.stringValue ?? "True"
                    if let c = conditions.first(where: { $0["type"] == pattern["type"] && $0["status"]?.stringValue == status }) {
                        matched = "Pod \(pod.namespace ?? "")/\(pod.name ?? "") has condition \(c["type"]?.stringValue ?? "") matching FailJob rule at index \(index)"
                        break
                    }
                }
            }
            guard let message = matched else { continue }
            switch rule["action"]?.stringValue {
            case "FailJob": return .failJob(message)
            case "Ignore": return .ignore
            default: return .count
            }
        }
        return .count
    }

    // MARK: Indexes

    static func index(of pod: JSONValue) -> Int? {
        pod.annotations[JobController.indexAnnotation].flatMap { Int($0) }
    }

    /// `1,3-5,7` → [1, 3, 4, 5, 7].
    static func parseIndexes(_ text: String) -> [Int] {
        text.split(separator: ",").flatMap { part -> [Int] in
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            if bounds.count == 2, bounds[0] <= bounds[1] { return Array(bounds[0]...bounds[1]) }
            return bounds.count == 1 ? bounds : []
        }
    }

    /// The compact form of `status.completedIndexes`: sorted, every run of consecutive indexes written `a-b`.
    static func formatIndexes(_ indexes: Set<Int>) -> String {
        var parts: [String] = []
        var sorted = indexes.sorted()[...]
        while let first = sorted.first {
            var last = first
            sorted = sorted.dropFirst()
            while let next = sorted.first, next == last + 1 {
                last = next
                sorted = sorted.dropFirst()
            }
            parts.append(first == last ? String(first) : "\(first)-\(last)")
        }
        return parts.joined(separator: ",")
    }
}
