import Foundation
import KeelsonAPI
import KeelsonClient
import Logging
import Synchronization

/// Runs Jobs to completion, as kube-controller-manager's job controller does: up to `parallelism` pods at a time
/// until `completions` succeed (or, without `completions`, until one succeeds and the rest finish); in Indexed mode
/// one pod per completion index. Failed pods count against `backoffLimit` and are replaced after an exponential
/// back-off (10 s doubling to 6 min); `activeDeadlineSeconds` and the pod failure policy (FailJob, Ignore, Count)
/// can fail the Job early; `suspend` removes active pods; `ttlSecondsAfterFinished` deletes a finished Job.
///
/// Finished pods are counted exactly once through the `batch.kubernetes.io/job-tracking` finalizer every pod is
/// created with: a pod is counted (its uid listed in `status.uncountedTerminatedPods` while the count is written),
/// then its finalizer is removed, then the uid is dropped — so a pod deleted early is never lost from the counts.
public struct JobController: Sendable {
    public static let name = "job-controller"
    static let trackingFinalizer = "batch.kubernetes.io/job-tracking"
    static let indexAnnotation = "batch.kubernetes.io/job-completion-index"
    static let kind = "Job"
    static let apiVersion = "batch/v1"

    let client: any KubernetesClient
    let jobs: Informer
    let pods: Informer
    let events: EventRecorder?
    let expectations = ControllerExpectations()
    let logger: Logger
    let now: @Sendable () -> Date

    /// `pods` must carry the `ownerUID` index.
    public init(client: any KubernetesClient, jobs: Informer, pods: Informer, events: EventRecorder?, logger: Logger,
        now: @escaping @Sendable () -> Date = Date.init)
    {
        self.client = client
        self.jobs = jobs
        self.pods = pods
        self.events = events
        self.logger = logger
        self.now = now
    }

    public func register(_ queue: WorkQueue<String>) {
        jobs.addHandler { event in
            switch event {
            case .added(let job), .updated(_, let job): queue.add(Informer.key(of: job))
            case .deleted(let job): expectations.delete(Informer.key(of: job))
            }
        }
        pods.addHandler { event in
            switch event {
            case .added(let pod):
                guard let key = jobKey(pod) else { return }
                expectations.creationObserved(key)
                queue.add(key)
            case .updated(_, let pod):
                if let key = jobKey(pod) {
                    queue.add(key)
                } else if pod.finalizers.contains(Self.trackingFinalizer) {
                    // Its Job is gone: nothing will count it, so let it go.
                    queue.add("orphan:\(Informer.key(of: pod))")
                }
            case .deleted(let pod):
                guard let key = jobKey(pod) else { return }
                expectations.deletionObserved(key, dependent: Informer.key(of: pod))
                queue.add(key)
            }
        }
    }

    private func jobKey(_ pod: JSONValue) -> String? {
        guard let ref = pod.controllerRef, ref.kind == Self.kind, ref.group == "batch", let namespace = pod.namespace,
            let job = jobs.get(namespace: namespace, name: ref.name), job.uid == ref.uid
        else { return nil }
        return "\(namespace)/\(ref.name)"
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        if key.hasPrefix("orphan:") {
            let podKey = String(key.dropFirst("orphan:".count))
            let (namespace, name) = Informer.split(key: podKey)
            if let pod = pods.get(podKey), pod.finalizers.contains(Self.trackingFinalizer), jobKey(pod) == nil {
                try await removeTrackingFinalizer(from: pod, namespace: namespace, name: name)
            }
            return .done
        }
        guard let job = jobs.get(key) else {
            expectations.delete(key)
            return .done
        }
        var state = JobState(job: job, pods: pods.byIndex(InformerIndex.ownerUID.name, job.uid ?? "").filter { $0.controllerRef?.uid == job.uid },
            now: now())
        try await count(&state)
        if state.finished {
            try await deleteActive(state)
            return try await expireIfDone(state)
        }
        var recheck: Duration?
        if let failure = state.failureReason() {
            state.finish(type: "Failed", reason: failure.reason, message: failure.message)
            events?.record(job, apiVersion: Self.apiVersion, kind: Self.kind, .warning, reason: failure.reason, message: failure.message)
        } else if state.isComplete {
            state.finish(type: "Complete", reason: nil, message: nil)
            events?.record(job, apiVersion: Self.apiVersion, kind: Self.kind, .normal, reason: "Completed", message: "Job completed")
        } else if expectations.satisfied(key) {
            recheck = try await manage(&state, key: key)
        }
        if let deadline = state.activeDeadlineRemaining, !state.finished {
            recheck = min(recheck ?? deadline, deadline)
        }
        try await writeStatus(&state)
        if state.finished {
            try await deleteActive(state)
            return try await expireIfDone(state)
        }
        return recheck.map { .requeue(after: $0) } ?? .done
    }

    // MARK: Counting

    /// Counts finished pods not yet counted, then releases them: status first, finalizers second.
    private func count(_ state: inout JobState) async throws {
        let newly = state.countTerminatedPods()
        if !newly.isEmpty {
            try await writeStatus(&state)
            for pod in newly {
                try await removeTrackingFinalizer(from: pod, namespace: pod.namespace, name: pod.name ?? "")
            }
        }
        // Uids whose pods have been released (or are gone) need no more tracking.
        if state.forgetReleasedUncounted() { try await writeStatus(&state) }
    }

    private func removeTrackingFinalizer(from pod: JSONValue, namespace: String?, name: String) async throws {
        let remaining = pod.finalizers.filter { $0 != Self.trackingFinalizer }
        do {
            try await client.patch(.pods, namespace: namespace, name: name, [
                "metadata": ["finalizers": remaining.isEmpty ? .null : .array(remaining.map(JSONValue.string)),
                             "resourceVersion": .string(pod.resourceVersion ?? "")],
            ])
        } catch let error as APIError where error.isNotFound {}
    }

    // MARK: Pods

    /// Creates or deletes pods toward the wanted number of active ones; returns when to look again (back-off).
    private func manage(_ state: inout JobState, key: String) async throws -> Duration? {
        if state.suspended {
            try await delete(state.active, key: key, job: state.job)
            return nil
        }
        let surplus = state.active.count - state.wantedActive
        if surplus > 0 {
            try await delete(Array(state.active.sorted(by: PodState.deletionOrder).prefix(surplus)), key: key, job: state.job)
            return nil
        }
        if let wait = state.backoffRemaining { return wait }
        let indexes = state.indexesToCreate()
        guard !indexes.isEmpty else { return nil }
        expectations.expect(key, adds: indexes.count)
        let job = state.job
        let template = job["spec"]?["template"] ?? [:]
        let owner = OwnerReference(apiVersion: Self.apiVersion, kind: Self.kind, name: job.name ?? "", uid: job.uid ?? "",
            controller: true, blockOwnerDeletion: true)
        let queue = IndexQueue(indexes)
        do {
            try await SlowStart.run(indexes.count) {
                let index = queue.next()
                let pod = Self.pod(template: template, job: job, owner: owner, index: index)
                let created = try await client.create(.pods, namespace: job.namespace, pod)
                events?.record(job, apiVersion: Self.apiVersion, kind: Self.kind, .normal, reason: "SuccessfulCreate",
                    message: "Created pod: \(created.name ?? "")")
            }
        } catch let error as SlowStart.Failure {
            expectations.lowerAdds(key, by: indexes.count - error.succeeded)
            events?.record(job, apiVersion: Self.apiVersion, kind: Self.kind, .warning, reason: "FailedCreate",
                message: "Error creating: \(ReplicaSetController.message(of: error.underlying))")
            throw error.underlying
        }
        return nil
    }

    /// A pod of the Job: the template with the tracking finalizer, and for Indexed Jobs the completion index as
    /// annotation, label, hostname and the `JOB_COMPLETION_INDEX` variable.
    static func pod(template: JSONValue, job: JSONValue, owner: OwnerReference, index: Int?) -> JSONValue {
        var prefix = "\(job.name ?? "")-"
        if let index { prefix += "\(index)-" }
        var pod = PodState.fromTemplate(template, generateName: prefix, owner: owner)
        pod.finalizers = pod.finalizers + [trackingFinalizer]
        guard let index else { return pod }
        var annotations = pod["metadata"]?["annotations"]?.objectValue ?? [:]
        annotations[indexAnnotation] = .string(String(index))
        pod.setMetadataField("annotations", .object(annotations))
        var labels = pod["metadata"]?["labels"]?.objectValue ?? [:]
        labels[indexAnnotation] = .string(String(index))
        pod.setMetadataField("labels", .object(labels))
        pod.setValue(.string("\(job.name ?? "")-\(index)"), at: ["spec", "hostname"])
        let variable: JSONValue = ["name": "JOB_COMPLETION_INDEX",
                                   "valueFrom": ["fieldRef": ["fieldPath": .string("metadata.annotations['\(indexAnnotation)']")]]]
        for field in ["containers", "initContainers"] {
            guard let containers = pod["spec"]?[field]?.arrayValue else { continue }
            pod.setValue(.array(containers.map { container in
                var container = container
                container["env"] = .array((container["env"]?.arrayValue ?? []) + [variable])
                return container
            }), at: ["spec", field])
        }
        return pod
    }

    private func delete(_ victims: [JSONValue], key: String, job: JSONValue) async throws {
        guard !victims.isEmpty else { return }
        expectations.expect(key, deletes: Set(victims.map(Informer.key(of:))))
        for pod in victims {
            do {
                try await deleteUncounted(pod)
                events?.record(job, apiVersion: Self.apiVersion, kind: Self.kind, .normal, reason: "SuccessfulDelete",
                    message: "Deleted pod: \(pod.name ?? "")")
            } catch let error as APIError where error.isNotFound || error.isConflict {
                expectations.deletionObserved(key, dependent: Informer.key(of: pod))
            }
        }
    }

    private func deleteActive(_ state: JobState) async throws {
        for pod in state.active {
            do {
                try await deleteUncounted(pod)
            } catch let error as APIError where error.isNotFound || error.isConflict {}
        }
    }

    /// Deletes a pod the controller itself no longer wants (suspension, lower parallelism, the Job's end) and
    /// releases it at once: such a pod is not a failure and must not be counted as one.
    private func deleteUncounted(_ pod: JSONValue) async throws {
        let deleted = try await client.delete(.pods, namespace: pod.namespace, name: pod.name ?? "", uid: pod.uid ?? "")
        if deleted.finalizers.contains(Self.trackingFinalizer) && deleted.deletionTimestamp != nil {
            try await removeTrackingFinalizer(from: deleted, namespace: pod.namespace, name: pod.name ?? "")
        }
    }

    /// `ttlSecondsAfterFinished`: the TTL-after-finished controller's job, folded in here.
    private func expireIfDone(_ state: JobState) async throws -> ReconcileResult {
        guard let ttl = state.job["spec"]?["ttlSecondsAfterFinished"]?.intValue, let finishedAt = state.finishedAt else { return .done }
        let expiry = finishedAt.addingTimeInterval(TimeInterval(ttl))
        if expiry > state.now {
            return .requeue(after: .milliseconds(Int64(expiry.timeIntervalSince(state.now) * 1000) + 1))
        }
        do {
            try await client.delete(.jobs, namespace: state.job.namespace, name: state.job.name ?? "", uid: state.job.uid ?? "",
                propagationPolicy: "Background")
        } catch let error as APIError where error.isNotFound || error.isConflict {}
        return .done
    }

    private func writeStatus(_ state: inout JobState) async throws {
        state.job = try await StatusWriter.write(state.status, to: state.job, resource: .jobs, client: client)
        state.status = state.job["status"] ?? state.status
    }
}

/// Hands out completion indexes to concurrent creates (nil entries for NonIndexed Jobs).
final class IndexQueue: Sendable {
    private let remaining: Mutex<[Int?]>
    init(_ indexes: [Int?]) { remaining = Mutex(indexes) }
    func next() -> Int? { remaining.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
}
