import Foundation
import KeelsonAPI
import KeelsonClient
import Logging

/// Runs StatefulSets' pods with stable identities, as kube-controller-manager's statefulset controller does: pod
/// `NAME-i` for each ordinal, with hostname `NAME-i` under the governing Service (`spec.serviceName`) and its own
/// PersistentVolumeClaims `TEMPLATE-NAME-i` from `volumeClaimTemplates` (kept when the pod goes). OrderedReady
/// creates ordinals in order, each once the previous is Running and Ready, and removes them in reverse, one at a
/// time; Parallel does both at once. RollingUpdate replaces pods from the highest ordinal down to `partition`, one
/// at a time once all are ready; OnDelete waits for the user. Revisions are ControllerRevisions; the status
/// carries `currentRevision`/`updateRevision` and the counts `kubectl rollout status` reads.
public struct StatefulSetController: Sendable {
    public static let name = "statefulset-controller"
    static let kind = "StatefulSet"
    static let podNameLabel = "statefulset.kubernetes.io/pod-name"
    static let podIndexLabel = "apps.kubernetes.io/pod-index"

    let client: any KubernetesClient
    let statefulSets: Informer
    let pods: Informer
    let claims: Informer
    let history: ControllerHistory
    let events: EventRecorder?
    let logger: Logger

    /// `pods` and `revisions` must carry the `ownerUID` index.
    public init(client: any KubernetesClient, statefulSets: Informer, pods: Informer, claims: Informer, revisions: Informer,
        events: EventRecorder?, logger: Logger)
    {
        self.client = client
        self.statefulSets = statefulSets
        self.pods = pods
        self.claims = claims
        self.history = ControllerHistory(client: client, revisions: revisions)
        self.events = events
        self.logger = logger
    }

    public func register(_ queue: WorkQueue<String>) {
        statefulSets.addHandler { event in
            switch event {
            case .added(let sts), .updated(_, let sts): queue.add(Informer.key(of: sts))
            case .deleted: break
            }
        }
        pods.addHandler { event in
            let pod: JSONValue
            switch event {
            case .added(let p), .updated(_, let p), .deleted(let p): pod = p
            }
            guard let ref = pod.controllerRef, ref.kind == Self.kind, let namespace = pod.namespace else { return }
            queue.add("\(namespace)/\(ref.name)")
        }
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        guard let sts = statefulSets.get(key), sts.deletionTimestamp == nil else { return .done }
        let spec = sts["spec"] ?? [:]
        let name = sts.name ?? ""
        let replicas = Int(spec["replicas"]?.intValue ?? 1)
        let start = Int(spec["ordinals"]?["start"]?.intValue ?? 0)
        let monotonic = (spec["podManagementPolicy"]?.stringValue ?? "OrderedReady") == "OrderedReady"
        let rolling = (spec["updateStrategy"]?["type"]?.stringValue ?? "RollingUpdate") == "RollingUpdate"
        let partition = rolling ? Int(spec["updateStrategy"]?["rollingUpdate"]?["partition"]?.intValue ?? 0) : 0

        let (_, updateRevision) = try await history.current(for: sts, kind: Self.kind, template: spec["template"] ?? [:])
        var currentRevision = sts["status"]?["currentRevision"]?.stringValue ?? updateRevision
        if history.template(of: sts, hash: currentRevision) == nil { currentRevision = updateRevision }

        let owned = pods.byIndex(InformerIndex.ownerUID.name, sts.uid ?? "").filter { $0.controllerRef?.uid == sts.uid }
        var byOrdinal: [Int: JSONValue] = [:]
        var condemned: [(Int, JSONValue)] = []
        for pod in owned {
            guard let ordinal = Self.ordinal(of: pod, setName: name) else { continue }
            if ordinal >= start && ordinal < start + replicas { byOrdinal[ordinal] = pod } else { condemned.append((ordinal, pod)) }
        }

        try await act(sts, replicas: replicas, start: start, monotonic: monotonic, rolling: rolling, partition: partition,
            byOrdinal: byOrdinal, condemned: condemned, currentRevision: currentRevision, updateRevision: updateRevision)

        // Status, from what the cache shows (the next event brings the effects of this sync).
        let live = owned.filter { $0.deletionTimestamp == nil }
        let ready = live.filter { PodState.phase($0) == "Running" && PodState.isReady($0) }.count
        let updated = live.filter { $0.labels[ControllerHistory.hashLabel] == updateRevision }.count
        let current = live.filter { $0.labels[ControllerHistory.hashLabel] == currentRevision }.count
        var status = sts["status"] ?? [:]
        status["observedGeneration"] = .integer(sts.generation ?? 0)
        status["replicas"] = .integer(Int64(live.count))
        status["readyReplicas"] = ready == 0 ? nil : .integer(Int64(ready))
        status["availableReplicas"] = .integer(Int64(ready))
        status["updatedReplicas"] = updated == 0 ? nil : .integer(Int64(updated))
        status["currentReplicas"] = current == 0 ? nil : .integer(Int64(current))
        status["updateRevision"] = .string(updateRevision)
        // The rollout is done when every wanted pod runs the update revision and is ready.
        let done = updated == replicas && ready == replicas && live.count == replicas
        status["currentRevision"] = .string(done ? updateRevision : currentRevision)
        if done { status["currentReplicas"] = .integer(Int64(updated)) }
        status["collisionCount"] = status["collisionCount"] ?? 0
        _ = try await StatusWriter.write(status, to: sts, resource: .statefulSets, client: client)
        let inUse = Set(owned.compactMap { $0.labels[ControllerHistory.hashLabel] })
        try await history.truncate(sts, limit: Int(spec["revisionHistoryLimit"]?.intValue ?? 10), inUse: inUse.union([currentRevision]),
            current: updateRevision)
        return .done
    }

    static func ordinal(of pod: JSONValue, setName: String) -> Int? {
        guard let name = pod.name, name.hasPrefix(setName + "-") else { return nil }
        return Int(name.dropFirst(setName.count + 1))
    }

    static func runningAndReady(_ pod: JSONValue) -> Bool {
        PodState.phase(pod) == "Running" && PodState.isReady(pod) && pod.deletionTimestamp == nil
    }

    /// One pass of `updateStatefulSet`: create or replace missing and failed pods, remove condemned ones, then roll.
    /// With OrderedReady it stops at the first pod that is not yet Running and Ready.
    private func act(_ sts: JSONValue, replicas: Int, start: Int, monotonic: Bool, rolling: Bool, partition: Int,
        byOrdinal: [Int: JSONValue], condemned: [(Int, JSONValue)], currentRevision: String, updateRevision: String) async throws
    {
        for ordinal in start..<(start + replicas) {
            guard let pod = byOrdinal[ordinal] else {
                let revision = ordinal - start < partition ? currentRevision : updateRevision
                try await createPod(sts, ordinal: ordinal, revision: revision)
                if monotonic { return }
                continue
            }
            if PodState.isTerminal(pod) && pod.deletionTimestamp == nil {
                try await deletePod(sts, pod)  // recreated by a later pass
                if monotonic { return }
                continue
            }
            if monotonic && !Self.runningAndReady(pod) { return }
        }
        for (_, pod) in condemned.sorted(by: { $0.0 > $1.0 }) {
            if pod.deletionTimestamp != nil {
                if monotonic { return }
                continue
            }
            try await deletePod(sts, pod)
            if monotonic { return }
        }
        guard rolling else { return }
        // Replace one outdated pod at a time, highest ordinal first, once everything is ready.
        guard byOrdinal.count == replicas, byOrdinal.values.allSatisfy(Self.runningAndReady) else { return }
        for ordinal in (start..<(start + replicas)).reversed() where ordinal - start >= partition {
            guard let pod = byOrdinal[ordinal], pod.labels[ControllerHistory.hashLabel] != updateRevision else { continue }
            try await deletePod(sts, pod)
            return
        }
    }

    private func createPod(_ sts: JSONValue, ordinal: Int, revision: String) async throws {
        let name = sts.name ?? ""
        let template = history.template(of: sts, hash: revision) ?? sts["spec"]?["template"] ?? [:]
        let podName = "\(name)-\(ordinal)"
        try await createClaims(sts, ordinal: ordinal)
        var pod = PodState.fromTemplate(template, generateName: "", owner: OwnerReference(apiVersion: "apps/v1", kind: Self.kind,
            name: name, uid: sts.uid ?? "", controller: true, blockOwnerDeletion: true))
        pod.setMetadataField("generateName", nil)
        pod.name = podName
        var labels = pod["metadata"]?["labels"]?.objectValue ?? [:]
        labels[Self.podNameLabel] = .string(podName)
        labels[Self.podIndexLabel] = .string(String(ordinal))
        labels[ControllerHistory.hashLabel] = .string(revision)
        pod.setMetadataField("labels", .object(labels))
        pod.setValue(.string(podName), at: ["spec", "hostname"])
        if let service = sts["spec"]?["serviceName"]?.stringValue, !service.isEmpty {
            pod.setValue(.string(service), at: ["spec", "subdomain"])
        }
        var volumes = (pod["spec"]?["volumes"]?.arrayValue ?? [])
        for claim in sts["spec"]?["volumeClaimTemplates"]?.arrayValue ?? [] {
            guard let claimName = claim.name else { continue }
            volumes.removeAll { $0["name"]?.stringValue == claimName }
            volumes.append(["name": .string(claimName), "persistentVolumeClaim": ["claimName": .string("\(claimName)-\(podName)")]])
        }
        if !volumes.isEmpty { pod.setValue(.array(volumes), at: ["spec", "volumes"]) }
        do {
            try await client.create(.pods, namespace: sts.namespace, pod)
            events?.record(sts, apiVersion: "apps/v1", kind: Self.kind, .normal, reason: "SuccessfulCreate",
                message: "create Pod \(podName) in StatefulSet \(name) successful")
        } catch let error as APIError where error.isAlreadyExists {
            return  // the cache is behind
        }
    }

    /// Each claim template's PVC for one ordinal, created once and left in place when the pod goes.
    private func createClaims(_ sts: JSONValue, ordinal: Int) async throws {
        let podName = "\(sts.name ?? "")-\(ordinal)"
        for template in sts["spec"]?["volumeClaimTemplates"]?.arrayValue ?? [] {
            guard let claimName = template.name else { continue }
            let name = "\(claimName)-\(podName)"
            if claims.get(namespace: sts.namespace, name: name) != nil { continue }
            var labels = template["metadata"]?["labels"]?.objectValue ?? [:]
            for (key, value) in sts["spec"]?["selector"]?["matchLabels"]?.objectValue ?? [:] { labels[key] = value }
            let claim: JSONValue = ["apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                    "metadata": ["name": .string(name), "labels": .object(labels)], "spec": template["spec"] ?? [:]]
            do {
                try await client.create(.persistentVolumeClaims, namespace: sts.namespace, claim)
                events?.record(sts, apiVersion: "apps/v1", kind: Self.kind, .normal, reason: "SuccessfulCreate",
                    message: "create Claim \(name) Pod \(podName) in StatefulSet \(sts.name ?? "") success")
            } catch let error as APIError where error.isAlreadyExists {}
        }
    }

    private func deletePod(_ sts: JSONValue, _ pod: JSONValue) async throws {
        do {
            try await client.delete(.pods, namespace: pod.namespace, name: pod.name ?? "", uid: pod.uid ?? "")
            events?.record(sts, apiVersion: "apps/v1", kind: Self.kind, .normal, reason: "SuccessfulDelete",
                message: "delete Pod \(pod.name ?? "") in StatefulSet \(sts.name ?? "") successful")
        } catch let error as APIError where error.isNotFound || error.isConflict {}
    }
}
