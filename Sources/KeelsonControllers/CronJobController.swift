import Foundation
import KeelsonAPI
import KeelsonClient
import Logging

/// Creates Jobs on CronJobs' schedules, as kube-controller-manager's cronjob controller (v2) does: at each scheduled
/// time (in `spec.timeZone`, UTC by default) a Job named `NAME-<minutes since the epoch>` from the job template —
/// the name makes creation idempotent; a time missed by more than `startingDeadlineSeconds` is skipped; of several
/// missed times only the latest runs. `concurrencyPolicy` Forbid skips a run while a Job is active, Replace deletes
/// the active ones first. Finished Jobs beyond the history limits are deleted, oldest first; `status.active`,
/// `lastScheduleTime` and `lastSuccessfulTime` are kept up to date. Each sync asks to be woken at the next time.
public struct CronJobController: Sendable {
    public static let name = "cronjob-controller"
    static let scheduledAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"

    let client: any KubernetesClient
    let cronJobs: Informer
    let jobs: Informer
    let events: EventRecorder?
    let logger: Logger
    let now: @Sendable () -> Date

    /// `jobs` must carry the `ownerUID` index.
    public init(client: any KubernetesClient, cronJobs: Informer, jobs: Informer, events: EventRecorder?, logger: Logger,
        now: @escaping @Sendable () -> Date = Date.init)
    {
        self.client = client
        self.cronJobs = cronJobs
        self.jobs = jobs
        self.events = events
        self.logger = logger
        self.now = now
    }

    public func register(_ queue: WorkQueue<String>) {
        cronJobs.addHandler { event in
            switch event {
            case .added(let cj), .updated(_, let cj): queue.add(Informer.key(of: cj))
            case .deleted: break
            }
        }
        jobs.addHandler { event in
            switch event {
            case .added(let job), .deleted(let job), .updated(_, let job):
                guard let ref = job.controllerRef, ref.kind == "CronJob", let namespace = job.namespace else { return }
                queue.add("\(namespace)/\(ref.name)")
            }
        }
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        guard let cj = cronJobs.get(key), cj.deletionTimestamp == nil else { return .done }
        let now = now()
        let spec = cj["spec"] ?? [:]
        let owned = jobs.byIndex(InformerIndex.ownerUID.name, cj.uid ?? "").filter { $0.controllerRef?.uid == cj.uid }
        var status = cj["status"] ?? [:]
        var active = owned.filter { !Self.isFinished($0) }

        let schedule: CronSchedule
        do {
            let zone = try spec["timeZone"]?.stringValue.map { name -> TimeZone in
                guard let zone = TimeZone(identifier: name) else { throw CronSchedule.Invalid(description: "unknown time zone \(name)") }
                return zone
            } ?? TimeZone(identifier: "UTC")!
            schedule = try CronSchedule(spec["schedule"]?.stringValue ?? "", timeZone: zone)
        } catch {
            events?.record(cj, apiVersion: "batch/v1", kind: "CronJob", .warning, reason: "UnparseableSchedule", message: "unparseable schedule: \(error)")
            return .done
        }

        try await cleanUpHistory(owned, spec: spec)
        if let latest = owned.filter({ Self.condition($0, "Complete") }).compactMap({ $0["status"]?["completionTime"]?.stringValue }).max() {
            if (status["lastSuccessfulTime"]?.stringValue ?? "") < latest { status["lastSuccessfulTime"] = .string(latest) }
        }

        let last = status["lastScheduleTime"]?.stringValue.flatMap(Timestamp.parse) ?? cj.creationTimestamp.flatMap(Timestamp.parse) ?? now
        var due: Date?
        var missed = 0
        var cursor = last
        while let next = schedule.next(after: cursor), next <= now {
            due = next
            cursor = next
            missed += 1
            if missed > 100_000 { break }
        }
        if missed > 100 {
            events?.record(cj, apiVersion: "batch/v1", kind: "CronJob", .warning, reason: "TooManyMissedTimes",
                message: "too many missed start times: \(missed). Set or decrease .spec.startingDeadlineSeconds or check clock skew")
        }

        if let scheduled = due, spec["suspend"]?.boolValue != true {
            let deadline = spec["startingDeadlineSeconds"]?.intValue
            if let deadline, scheduled.addingTimeInterval(TimeInterval(deadline)) < now {
                events?.record(cj, apiVersion: "batch/v1", kind: "CronJob", .warning, reason: "MissSchedule",
                    message: "Missed scheduled time to start a job: \(Timestamp.format(scheduled))")
                status["lastScheduleTime"] = .string(Timestamp.format(scheduled))
            } else {
                let policy = spec["concurrencyPolicy"]?.stringValue ?? "Allow"
                if policy == "Forbid" && !active.isEmpty {
                    // Skipped, and not recorded as scheduled: it runs once the active Job is done, if still in time.
                } else {
                    if policy == "Replace" {
                        for job in active {
                            do {
                                try await client.delete(.jobs, namespace: job.namespace, name: job.name ?? "", uid: job.uid ?? "",
                                    propagationPolicy: "Background")
                                events?.record(cj, apiVersion: "batch/v1", kind: "CronJob", .normal, reason: "SuccessfulDelete",
                                    message: "Deleted job \(job.name ?? "")")
                            } catch let error as APIError where error.isNotFound || error.isConflict {}
                        }
                        active = []
                    }
                    if let created = try await createJob(cj, scheduled: scheduled) { active.append(created) }
                    status["lastScheduleTime"] = .string(Timestamp.format(scheduled))
                }
            }
        }

        status["active"] = active.isEmpty ? nil : .array(active.sorted { ($0.name ?? "") < ($1.name ?? "") }.map { job in
            ["kind": "Job", "apiVersion": "batch/v1", "namespace": .string(job.namespace ?? ""), "name": .string(job.name ?? ""),
             "uid": .string(job.uid ?? ""), "resourceVersion": .string(job.resourceVersion ?? "")]
        })
        _ = try await StatusWriter.write(status, to: cj, resource: .cronJobs, client: client)
        guard let next = schedule.next(after: now) else { return .done }
        // Wake at the next time, but look again at least every 10 s: schedules follow the wall clock, which can
        // jump, and a missed wake-up must not cost a whole period.
        return .requeue(after: min(.milliseconds(Int64(next.timeIntervalSince(now) * 1000) + 100), .seconds(10)))
    }

    /// The Job for one scheduled time; nil if it already exists (a previous sync made it).
    private func createJob(_ cj: JSONValue, scheduled: Date) async throws -> JSONValue? {
        let template = cj["spec"]?["jobTemplate"] ?? [:]
        let name = "\(cj.name ?? "")-\(Int64(scheduled.timeIntervalSince1970) / 60)"
        var job: JSONValue = ["apiVersion": "batch/v1", "kind": "Job", "metadata": ["name": .string(name)], "spec": template["spec"] ?? [:]]
        if let labels = template["metadata"]?["labels"] { job.setMetadataField("labels", labels) }
        var annotations = template["metadata"]?["annotations"]?.objectValue ?? [:]
        annotations[Self.scheduledAnnotation] = .string(Timestamp.format(scheduled))
        job.setMetadataField("annotations", .object(annotations))
        job.ownerReferences = [OwnerReference(apiVersion: "batch/v1", kind: "CronJob", name: cj.name ?? "", uid: cj.uid ?? "",
            controller: true, blockOwnerDeletion: true)]
        do {
            let created = try await client.create(.jobs, namespace: cj.namespace, job)
            events?.record(cj, apiVersion: "batch/v1", kind: "CronJob", .normal, reason: "SuccessfulCreate", message: "Created job \(name)")
            return created
        } catch let error as APIError where error.isAlreadyExists {
            return nil
        }
    }

    /// Deletes finished Jobs beyond `successfulJobsHistoryLimit` (3) and `failedJobsHistoryLimit` (1), oldest first.
    private func cleanUpHistory(_ owned: [JSONValue], spec: JSONValue) async throws {
        for (type, limit) in [("Complete", spec["successfulJobsHistoryLimit"]?.intValue ?? 3), ("Failed", spec["failedJobsHistoryLimit"]?.intValue ?? 1)] {
            let finished = owned.filter { Self.condition($0, type) && $0.deletionTimestamp == nil }
                .sorted { ($0["status"]?["startTime"]?.stringValue ?? $0.creationTimestamp ?? "") < ($1["status"]?["startTime"]?.stringValue ?? $1.creationTimestamp ?? "") }
            for job in finished.dropLast(Int(max(limit, 0))) {
                do {
                    try await client.delete(.jobs, namespace: job.namespace, name: job.name ?? "", uid: job.uid ?? "", propagationPolicy: "Background")
                } catch let error as APIError where error.isNotFound || error.isConflict {}
            }
        }
    }

    static func condition(_ job: JSONValue, _ type: String) -> Bool {
        (job["status"]?["conditions"]?.arrayValue ?? []).contains { $0["type"]?.stringValue == type && $0["status"]?.stringValue == "True" }
    }

    static func isFinished(_ job: JSONValue) -> Bool { condition(job, "Complete") || condition(job, "Failed") }
}
