import Foundation
import KeelsonAPI
import KeelsonClient
import Logging

/// Keeps `spec.replicas` pods running for each ReplicaSet, as kube-controller-manager's replicaset controller does:
/// adopts matching orphans and releases pods that stopped matching, creates missing pods in slow-start batches
/// (1, 2, 4, … at most `burstReplicas` per sync), deletes surplus pods in `ActivePods` order, and reports
/// replicas, fullyLabeledReplicas, readyReplicas, availableReplicas and observedGeneration in the status.
///
/// Expectations keep a sync from acting on a cache that has not yet seen the pods the previous sync created or
/// deleted; the status is still written.
public struct ReplicaSetController: Sendable {
    public static let name = "replicaset-controller"
    static let kind = "ReplicaSet"
    static let apiVersion = "apps/v1"

    let client: any KubernetesClient
    let replicaSets: Informer
    let pods: Informer
    let expectations: ControllerExpectations
    let events: EventRecorder?
    let burstReplicas: Int
    let logger: Logger
    let now: @Sendable () -> Date

    /// `pods` must carry the `ownerUID` index.
    public init(client: any KubernetesClient, replicaSets: Informer, pods: Informer, events: EventRecorder?, logger: Logger,
        burstReplicas: Int = 500, expectations: ControllerExpectations = ControllerExpectations(), now: @escaping @Sendable () -> Date = Date.init)
    {
        self.client = client
        self.replicaSets = replicaSets
        self.pods = pods
        self.events = events
        self.logger = logger
        self.burstReplicas = burstReplicas
        self.expectations = expectations
        self.now = now
    }

    public func register(_ queue: WorkQueue<String>) {
        replicaSets.addHandler { event in
            switch event {
            case .added(let rs), .updated(_, let rs):
                queue.add(Informer.key(of: rs))
            case .deleted(let rs):
                expectations.delete(Informer.key(of: rs))
            }
        }
        pods.addHandler { event in
            switch event {
            case .added(let pod):
                if let owner = owningReplicaSet(pod) {
                    expectations.creationObserved(owner)
                    queue.add(owner)
                } else {
                    // An orphan: every ReplicaSet that selects it may adopt it.
                    for key in selectingReplicaSets(pod) { queue.add(key) }
                }
            case .updated(let old, let new):
                if new.deletionTimestamp != nil && old.deletionTimestamp == nil, let owner = owningReplicaSet(new) {
                    // A graceful delete counts as observed at once, as upstream does, so the replacement is not delayed.
                    expectations.deletionObserved(owner, dependent: Informer.key(of: new))
                }
                var keys = Set<String>()
                if let owner = owningReplicaSet(new) { keys.insert(owner) }
                if let owner = owningReplicaSet(old) { keys.insert(owner) }
                if new.controllerRef == nil && (old.labels != new.labels || old.controllerRef != nil) {
                    keys.formUnion(selectingReplicaSets(new))
                }
                for key in keys { queue.add(key) }
            case .deleted(let pod):
                if let owner = owningReplicaSet(pod) {
                    expectations.deletionObserved(owner, dependent: Informer.key(of: pod))
                    queue.add(owner)
                }
            }
        }
    }

    /// The key of the ReplicaSet controlling `pod`, if it still exists with that uid.
    private func owningReplicaSet(_ pod: JSONValue) -> String? {
        guard let ref = pod.controllerRef, ref.kind == Self.kind, ref.group == "apps", let namespace = pod.namespace,
            let rs = replicaSets.get(namespace: namespace, name: ref.name), rs.uid == ref.uid
        else { return nil }
        return "\(namespace)/\(ref.name)"
    }

    private func selectingReplicaSets(_ pod: JSONValue) -> [String] {
        guard let namespace = pod.namespace else { return [] }
        return replicaSets.list(namespace: namespace).compactMap { rs in
            guard rs.deletionTimestamp == nil, let selector = try? LabelSelector.from(rs["spec"]?["selector"]),
                !selector.isEverything, selector.matches(pod.labels)
            else { return nil }
            return Informer.key(of: rs)
        }
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        guard let rs = replicaSets.get(key) else {
            expectations.delete(key)
            return .done
        }
        let satisfied = expectations.satisfied(key)
        let selector = try LabelSelector.from(rs["spec"]?["selector"])
        let owned = try await claimPods(rs, selector: selector)
        let active = owned.filter(PodState.isActive)

        var manageError: (any Error)?
        if satisfied && rs.deletionTimestamp == nil {
            do {
                try await manageReplicas(rs, key: key, active: active)
            } catch {
                manageError = error
            }
        }
        let minReadySeconds = Int(rs["spec"]?["minReadySeconds"]?.intValue ?? 0)
        let updated = try await updateStatus(rs, active: active, minReadySeconds: minReadySeconds, failure: manageError)
        if let manageError { throw manageError }
        let desired = Int(rs["spec"]?["replicas"]?.intValue ?? 1)
        if minReadySeconds > 0, let status = updated["status"], status["readyReplicas"]?.intValue != status["availableReplicas"]?.intValue,
            desired > 0
        {
            return .requeue(after: .seconds(minReadySeconds))
        }
        return .done
    }

    // MARK: Adoption

    /// The pods this ReplicaSet controls after adopting matching orphans and releasing owned pods that no longer
    /// match — `ClaimPods`. A ReplicaSet being deleted adopts nothing.
    func claimPods(_ rs: JSONValue, selector: LabelSelector) async throws -> [JSONValue] {
        guard let uid = rs.uid, let namespace = rs.namespace else { return [] }
        var claimed: [JSONValue] = []
        for pod in pods.byIndex(InformerIndex.ownerUID.name, uid) where pod.controllerRef?.uid == uid {
            if selector.matches(pod.labels) || pod.deletionTimestamp != nil {
                claimed.append(pod)
            } else {
                try await release(pod, from: uid)
            }
        }
        guard rs.deletionTimestamp == nil, !selector.isEverything else { return claimed }
        for pod in pods.list(namespace: namespace)
        where pod.controllerRef == nil && pod.deletionTimestamp == nil && selector.matches(pod.labels) {
            if let adopted = try await adopt(pod, by: rs) { claimed.append(adopted) }
        }
        return claimed
    }

    private func ownerReference(_ rs: JSONValue) -> OwnerReference {
        OwnerReference(apiVersion: Self.apiVersion, kind: Self.kind, name: rs.name ?? "", uid: rs.uid ?? "", controller: true,
            blockOwnerDeletion: true)
    }

    private func adopt(_ pod: JSONValue, by rs: JSONValue) async throws -> JSONValue? {
        var references = pod.ownerReferences
        references.append(ownerReference(rs))
        let patch: JSONValue = ["metadata": ["ownerReferences": .array(references.map(\.json)), "uid": .string(pod.uid ?? "")]]
        do {
            return try await client.patch(.pods, namespace: pod.namespace, name: pod.name ?? "", patch)
        } catch let error as APIError where error.isNotFound {
            return nil
        }
    }

    private func release(_ pod: JSONValue, from uid: String) async throws {
        let references = pod.ownerReferences.filter { $0.uid != uid }
        let patch: JSONValue = ["metadata": ["ownerReferences": references.isEmpty ? .null : .array(references.map(\.json))]]
        do {
            try await client.patch(.pods, namespace: pod.namespace, name: pod.name ?? "", patch)
        } catch let error as APIError where error.isNotFound {
            return
        }
    }

    // MARK: Replicas

    private func manageReplicas(_ rs: JSONValue, key: String, active: [JSONValue]) async throws {
        let desired = Int(rs["spec"]?["replicas"]?.intValue ?? 1)
        let diff = active.count - desired
        if diff < 0 {
            let count = min(-diff, burstReplicas)
            expectations.expect(key, adds: count)
            let generateName = "\(rs.name ?? "")-"
            let template = rs["spec"]?["template"] ?? [:]
            let owner = ownerReference(rs)
            do {
                try await SlowStart.run(count) {
                    let pod = PodState.fromTemplate(template, generateName: generateName, owner: owner)
                    do {
                        let created = try await client.create(.pods, namespace: rs.namespace, pod)
                        events?.record(rs, apiVersion: Self.apiVersion, kind: Self.kind, .normal, reason: "SuccessfulCreate",
                            message: "Created pod: \(created.name ?? "")")
                    } catch {
                        events?.record(rs, apiVersion: Self.apiVersion, kind: Self.kind, .warning, reason: "FailedCreate",
                            message: "Error creating: \(Self.message(of: error))")
                        throw error
                    }
                }
            } catch let error as SlowStart.Failure {
                // Creates that failed or were skipped will never be observed.
                expectations.lowerAdds(key, by: count - error.succeeded)
                throw error
            }
        } else if diff > 0 {
            let victims = Array(active.sorted(by: PodState.deletionOrder).prefix(min(diff, burstReplicas)))
            expectations.expect(key, deletes: Set(victims.map(Informer.key(of:))))
            var firstError: (any Error)?
            await withTaskGroup(of: (JSONValue, (any Error)?).self) { group in
                for pod in victims {
                    group.addTask {
                        do {
                            try await client.delete(.pods, namespace: pod.namespace, name: pod.name ?? "", uid: pod.uid ?? "")
                            return (pod, nil)
                        } catch let error as APIError where error.isNotFound {
                            return (pod, nil)
                        } catch {
                            return (pod, error)
                        }
                    }
                }
                for await (pod, error) in group {
                    if let error {
                        // It will not disappear, so stop waiting for it.
                        expectations.deletionObserved(key, dependent: Informer.key(of: pod))
                        firstError = firstError ?? error
                        events?.record(rs, apiVersion: Self.apiVersion, kind: Self.kind, .warning, reason: "FailedDelete",
                            message: "Error deleting: \(Self.message(of: error))")
                    } else {
                        events?.record(rs, apiVersion: Self.apiVersion, kind: Self.kind, .normal, reason: "SuccessfulDelete",
                            message: "Deleted pod: \(pod.name ?? "")")
                    }
                }
            }
            if let firstError { throw firstError }
        }
    }

    static func message(of error: any Error) -> String {
        if let error = error as? APIError { return error.status.message }
        return "\(error)"
    }

    // MARK: Status

    private func updateStatus(_ rs: JSONValue, active: [JSONValue], minReadySeconds: Int, failure: (any Error)?) async throws -> JSONValue {
        let templateLabels = (rs["spec"]?["template"]?["metadata"]?["labels"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        let now = now()
        var status = rs["status"] ?? [:]
        status["replicas"] = .integer(Int64(active.count))
        status["fullyLabeledReplicas"] = .integer(Int64(active.filter { pod in templateLabels.allSatisfy { pod.labels[$0.key] == $0.value } }.count))
        status["readyReplicas"] = .integer(Int64(active.filter(PodState.isReady).count))
        status["availableReplicas"] = .integer(Int64(active.filter { PodState.isAvailable($0, minReadySeconds: minReadySeconds, now: now) }.count))
        status["observedGeneration"] = .integer(rs.generation ?? 0)
        var conditions = (status["conditions"]?.arrayValue ?? []).filter { $0["type"]?.stringValue != "ReplicaFailure" }
        if let failure {
            let reason = (failure as? SlowStart.Failure).map { _ in "FailedCreate" } ?? "FailedDelete"
            let underlying = (failure as? SlowStart.Failure)?.underlying ?? failure
            conditions.append(["type": "ReplicaFailure", "status": "True", "reason": .string(reason),
                               "message": .string(Self.message(of: underlying)), "lastTransitionTime": .string(Timestamp.format(now))])
        }
        status["conditions"] = conditions.isEmpty ? nil : .array(conditions)
        for field in ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"] where status[field] == .integer(0) {
            status[field] = nil  // omitempty, as the Go types serialize them
        }
        return try await StatusWriter.write(status, to: rs, resource: .replicaSets, client: client)
    }
}
