import Foundation
import KeelsonAPI
import KeelsonClient
import Logging

/// Rolls Deployments out through ReplicaSets, as kube-controller-manager's deployment controller does: the
/// ReplicaSet whose template equals the Deployment's is the new one (named `NAME-HASH`, labelled with
/// `pod-template-hash`), every other owned ReplicaSet is old. RollingUpdate scales the new one up within
/// `maxSurge` and the old ones down while `maxUnavailable` allows; Recreate scales the old ones to zero and waits
/// for their pods to go before scaling the new one up. Revisions are kept in the `deployment.kubernetes.io/revision`
/// annotation so `kubectl rollout history` and `undo` work; a change of `spec.replicas` mid-rollout is spread over
/// the ReplicaSets in proportion; `revisionHistoryLimit` old ReplicaSets are kept. The status carries the counts and
/// the Available and Progressing conditions `kubectl rollout status` reads.
///
/// Level-triggered: every sync recomputes from the cache, so a restart in the middle of a rollout resumes it.
public struct DeploymentController: Sendable {
    public static let name = "deployment-controller"
    static let kind = "Deployment"
    static let apiVersion = "apps/v1"
    static let revisionAnnotation = "deployment.kubernetes.io/revision"
    static let desiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
    static let maxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"
    static let hashLabel = "pod-template-hash"

    let client: any KubernetesClient
    let deployments: Informer
    let replicaSets: Informer
    let pods: Informer
    let events: EventRecorder?
    let logger: Logger
    let now: @Sendable () -> Date

    /// `replicaSets` and `pods` must carry the `ownerUID` index.
    public init(client: any KubernetesClient, deployments: Informer, replicaSets: Informer, pods: Informer, events: EventRecorder?,
        logger: Logger, now: @escaping @Sendable () -> Date = Date.init)
    {
        self.client = client
        self.deployments = deployments
        self.replicaSets = replicaSets
        self.pods = pods
        self.events = events
        self.logger = logger
        self.now = now
    }

    public func register(_ queue: WorkQueue<String>) {
        deployments.addHandler { event in
            switch event {
            case .added(let d), .updated(_, let d): queue.add(Informer.key(of: d))
            case .deleted: break
            }
        }
        replicaSets.addHandler { event in
            switch event {
            case .added(let rs), .deleted(let rs):
                for key in owningDeployments(rs) { queue.add(key) }
            case .updated(let old, let new):
                for key in owningDeployments(old).union(owningDeployments(new)) { queue.add(key) }
            }
        }
        // Recreate waits for the old pods to go; their deletion is what lets it continue.
        pods.addHandler { event in
            guard case .deleted(let pod) = event, let ref = pod.controllerRef, ref.kind == "ReplicaSet",
                let namespace = pod.namespace, let rs = replicaSets.get(namespace: namespace, name: ref.name)
            else { return }
            for key in owningDeployments(rs) { queue.add(key) }
        }
    }

    /// The Deployment controlling a ReplicaSet, or, for an orphan, every Deployment whose selector matches it.
    private func owningDeployments(_ rs: JSONValue) -> Set<String> {
        guard let namespace = rs.namespace else { return [] }
        if let ref = rs.controllerRef {
            guard ref.kind == Self.kind, let d = deployments.get(namespace: namespace, name: ref.name), d.uid == ref.uid else { return [] }
            return ["\(namespace)/\(ref.name)"]
        }
        return Set(deployments.list(namespace: namespace).compactMap { d in
            guard let selector = try? LabelSelector.from(d["spec"]?["selector"]), !selector.isEverything, selector.matches(rs.labels)
            else { return nil }
            return Informer.key(of: d)
        })
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        guard let d = deployments.get(key) else { return .done }
        var rollout = try Rollout(deployment: d)
        let owned = try await claimReplicaSets(d, selector: rollout.selector)
        rollout.classify(owned)

        if d.deletionTimestamp != nil {
            try await writeStatus(&rollout)
            return .done
        }
        if rollout.paused || rollout.isScalingEvent {
            try await scale(&rollout)
            try await cleanUp(rollout)
            try await writeStatus(&rollout)
            return .done
        }
        switch rollout.strategy {
        case "Recreate":
            try await rolloutRecreate(&rollout)
        default:
            try await rolloutRolling(&rollout)
        }
        try await writeStatus(&rollout)
        return rollout.recheckAfter.map { .requeue(after: $0) } ?? .done
    }

    // MARK: Adoption

    private func claimReplicaSets(_ d: JSONValue, selector: LabelSelector) async throws -> [JSONValue] {
        guard let uid = d.uid, let namespace = d.namespace else { return [] }
        var claimed: [JSONValue] = []
        for rs in replicaSets.byIndex(InformerIndex.ownerUID.name, uid) where rs.controllerRef?.uid == uid {
            if selector.matches(rs.labels) || rs.deletionTimestamp != nil {
                claimed.append(rs)
            } else {
                let references = rs.ownerReferences.filter { $0.uid != uid }
                _ = try? await client.patch(.replicaSets, namespace: namespace, name: rs.name ?? "",
                    ["metadata": ["ownerReferences": references.isEmpty ? .null : .array(references.map(\.json))]])
            }
        }
        guard d.deletionTimestamp == nil, !selector.isEverything else { return claimed }
        for rs in replicaSets.list(namespace: namespace)
        where rs.controllerRef == nil && rs.deletionTimestamp == nil && selector.matches(rs.labels) {
            var references = rs.ownerReferences
            references.append(ownerReference(d))
            do {
                claimed.append(try await client.patch(.replicaSets, namespace: namespace, name: rs.name ?? "",
                    ["metadata": ["ownerReferences": .array(references.map(\.json)), "uid": .string(rs.uid ?? "")]]))
            } catch let error as APIError where error.isNotFound {
                continue
            }
        }
        return claimed
    }

    func ownerReference(_ d: JSONValue) -> OwnerReference {
        OwnerReference(apiVersion: Self.apiVersion, kind: Self.kind, name: d.name ?? "", uid: d.uid ?? "", controller: true,
            blockOwnerDeletion: true)
    }
}
