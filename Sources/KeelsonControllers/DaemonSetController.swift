import Foundation
import KeelsonAPI
import KeelsonClient
import Logging

/// Runs one pod of each DaemonSet on every eligible node, as kube-controller-manager's daemonset controller does:
/// a node is eligible when the template's node selector and required node affinity match it and its NoSchedule and
/// NoExecute taints are tolerated (DaemonSet pods tolerate the node-condition taints by default). Pods are created
/// for the scheduler with node affinity pinned to their node; extra pods, pods on nodes no longer eligible and
/// failed pods are deleted. RollingUpdate replaces pods whose `controller-revision-hash` is not the current
/// revision's, at most `maxUnavailable` nodes at a time; OnDelete leaves that to the user. Revisions are kept in
/// ControllerRevisions so `kubectl rollout history|undo` work.
public struct DaemonSetController: Sendable {
    public static let name = "daemonset-controller"
    static let kind = "DaemonSet"

    /// The tolerations every DaemonSet pod gets, so node trouble does not evict or block a node's own daemons.
    static let defaultTolerations: [JSONValue] = [
        ["key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"],
        ["key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"],
        ["key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"],
        ["key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"],
        ["key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"],
        ["key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"],
    ]

    let client: any KubernetesClient
    let daemonSets: Informer
    let nodes: Informer
    let pods: Informer
    let history: ControllerHistory
    let events: EventRecorder?
    let expectations = ControllerExpectations()
    let logger: Logger
    let now: @Sendable () -> Date

    /// `pods` and `revisions` must carry the `ownerUID` index.
    public init(client: any KubernetesClient, daemonSets: Informer, nodes: Informer, pods: Informer, revisions: Informer,
        events: EventRecorder?, logger: Logger, now: @escaping @Sendable () -> Date = Date.init)
    {
        self.client = client
        self.daemonSets = daemonSets
        self.nodes = nodes
        self.pods = pods
        self.history = ControllerHistory(client: client, revisions: revisions)
        self.events = events
        self.logger = logger
        self.now = now
    }

    public func register(_ queue: WorkQueue<String>) {
        daemonSets.addHandler { event in
            switch event {
            case .added(let ds), .updated(_, let ds): queue.add(Informer.key(of: ds))
            case .deleted(let ds): expectations.delete(Informer.key(of: ds))
            }
        }
        // Any node change may change eligibility: every DaemonSet looks again.
        nodes.addHandler { event in
            if case .updated(let old, let new) = event, old["metadata"]?["labels"] == new["metadata"]?["labels"],
                old["spec"] == new["spec"], old["metadata"]?["name"] == new["metadata"]?["name"]
            {
                return  // a status heartbeat: nothing that decides eligibility changed
            }
            for ds in daemonSets.list() { queue.add(Informer.key(of: ds)) }
        }
        pods.addHandler { event in
            let pod: JSONValue
            switch event {
            case .added(let p): pod = p
            case .updated(_, let p): pod = p
            case .deleted(let p): pod = p
            }
            guard let ref = pod.controllerRef, ref.kind == Self.kind, let namespace = pod.namespace,
                let ds = daemonSets.get(namespace: namespace, name: ref.name), ds.uid == ref.uid
            else { return }
            let key = Informer.key(of: ds)
            switch event {
            case .added: expectations.creationObserved(key)
            case .deleted: expectations.deletionObserved(key, dependent: Informer.key(of: pod))
            case .updated: break
            }
            queue.add(key)
        }
    }

    /// The node a DaemonSet pod is for: its binding, or the node its affinity pins it to.
    static func nodeName(of pod: JSONValue) -> String? {
        if let node = pod["spec"]?["nodeName"]?.stringValue, !node.isEmpty { return node }
        let terms = pod["spec"]?["affinity"]?["nodeAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"]?["nodeSelectorTerms"]?.arrayValue ?? []
        for term in terms {
            for field in term["matchFields"]?.arrayValue ?? [] where field["key"] == "metadata.name" && field["operator"] == "In" {
                if let value = field["values"]?.arrayValue?.first?.stringValue { return value }
            }
        }
        return nil
    }

    /// Whether a DaemonSet's pods belong on `node`.
    static func eligible(_ node: JSONValue, template: JSONValue) -> Bool {
        let spec = template["spec"] ?? [:]
        guard NodeAffinity.matches(podSpec: spec, node: node) else { return false }
        let tolerations = Taints.tolerations(of: template) + defaultTolerations
        return Taints.taints(of: node).allSatisfy { taint in
            let effect = taint["effect"]?.stringValue
            return effect == "PreferNoSchedule" || Taints.toleration(for: taint, in: tolerations) != nil
        }
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        guard let ds = daemonSets.get(key) else {
            expectations.delete(key)
            return .done
        }
        let template = ds["spec"]?["template"] ?? [:]
        let owned = pods.byIndex(InformerIndex.ownerUID.name, ds.uid ?? "").filter { $0.controllerRef?.uid == ds.uid }
        var byNode: [String: [JSONValue]] = [:]
        for pod in owned { if let node = Self.nodeName(of: pod) { byNode[node, default: []].append(pod) } }
        let eligible = Set(nodes.list().filter { Self.eligible($0, template: template) }.compactMap(\.name))
        let minReadySeconds = Int(ds["spec"]?["minReadySeconds"]?.intValue ?? 0)
        let now = now()

        guard ds.deletionTimestamp == nil else { return .done }
        let (_, hash) = try await history.current(for: ds, kind: Self.kind, template: template)

        if expectations.satisfied(key) {
            var create: [String] = []
            var delete: [JSONValue] = []
            for node in eligible.sorted() {
                let live = (byNode[node] ?? []).filter { $0.deletionTimestamp == nil }
                let failed = live.filter { PodState.phase($0) == "Failed" }
                delete += failed
                let running = live.filter { PodState.phase($0) != "Failed" }
                if running.isEmpty {
                    if failed.isEmpty { create.append(node) }
                } else if running.count > 1 {
                    let updated = running.filter { $0.labels[ControllerHistory.hashLabel] == hash }
                    if Self.maxSurge(ds, nodes: eligible.count) > 0 && updated.count == 1 {
                        // A surge in progress: the old pods go once the new one is available.
                        if PodState.isAvailable(updated[0], minReadySeconds: minReadySeconds, now: now) {
                            delete += running.filter { $0.uid != updated[0].uid }
                        }
                        continue
                    }
                    // Keep the oldest; the rest are surplus.
                    delete += running.sorted { ($0.creationTimestamp ?? "") < ($1.creationTimestamp ?? "") }.dropFirst()
                }
            }
            for (node, pods) in byNode where !eligible.contains(node) {
                delete += pods.filter { $0.deletionTimestamp == nil }
            }
            let (victims, surges) = rollingUpdate(ds, byNode: byNode, eligible: eligible, hash: hash, minReadySeconds: minReadySeconds, now: now)
            delete += victims
            create += surges
            try await apply(ds, key: key, create: create, delete: delete, hash: hash)
        }
        let inUse = Set(owned.compactMap { $0.labels[ControllerHistory.hashLabel] })
        try await history.truncate(ds, limit: Int(ds["spec"]?["revisionHistoryLimit"]?.intValue ?? 10), inUse: inUse, current: hash)
        try await writeStatus(ds, byNode: byNode, eligible: eligible, hash: hash, minReadySeconds: minReadySeconds, now: now)
        return minReadySeconds > 0 ? .requeue(after: .seconds(minReadySeconds)) : .done
    }

    /// `maxSurge` of the RollingUpdate strategy, resolved against the number of eligible nodes (0 when unset).
    static func maxSurge(_ ds: JSONValue, nodes: Int) -> Int {
        let strategy = ds["spec"]?["updateStrategy"]
        guard (strategy?["type"]?.stringValue ?? "RollingUpdate") == "RollingUpdate", let surge = strategy?["rollingUpdate"]?["maxSurge"] else { return 0 }
        return Rollout.resolve(surge, of: nodes, roundUp: true)
    }

    /// One step of a rolling update: old-revision pods to delete and nodes to start a new pod on. Unavailable old
    /// pods are replaced at once (they cost no availability). With `maxSurge`, a new pod starts beside an available
    /// old one on at most that many nodes at a time; without it, available old pods are deleted while fewer than
    /// `maxUnavailable` nodes lack an available pod.
    private func rollingUpdate(_ ds: JSONValue, byNode: [String: [JSONValue]], eligible: Set<String>, hash: String,
        minReadySeconds: Int, now: Date) -> (delete: [JSONValue], create: [String])
    {
        let strategy = ds["spec"]?["updateStrategy"]
        guard (strategy?["type"]?.stringValue ?? "RollingUpdate") == "RollingUpdate" else { return ([], []) }
        let surge = Self.maxSurge(ds, nodes: eligible.count)
        let maxUnavailable = surge > 0 ? 0 : max(1, Rollout.resolve(strategy?["rollingUpdate"]?["maxUnavailable"] ?? 1, of: eligible.count, roundUp: false))
        var unavailable = 0, surging = 0
        var oldAvailable: [(node: String, pod: JSONValue)] = []
        var victims: [JSONValue] = []
        for node in eligible.sorted() {
            let live = (byNode[node] ?? []).filter { $0.deletionTimestamp == nil && PodState.phase($0) != "Failed" }
            guard let pod = live.first else {
                unavailable += 1
                continue
            }
            if live.count > 1 {
                surging += 1
                continue
            }
            let available = PodState.isAvailable(pod, minReadySeconds: minReadySeconds, now: now)
            if !available { unavailable += 1 }
            guard pod.labels[ControllerHistory.hashLabel] != hash else { continue }
            if available { oldAvailable.append((node, pod)) } else { victims.append(pod) }
        }
        if surge > 0 {
            return (victims, oldAvailable.prefix(max(surge - surging, 0)).map(\.node))
        }
        return (victims + oldAvailable.prefix(max(maxUnavailable - unavailable, 0)).map(\.pod), [])
    }

    private func apply(_ ds: JSONValue, key: String, create: [String], delete: [JSONValue], hash: String) async throws {
        var seen = Set<String>()
        let delete = delete.filter { seen.insert($0.uid ?? "").inserted }
        expectations.expect(key, adds: create.count, deletes: Set(delete.map(Informer.key(of:))))
        let owner = OwnerReference(apiVersion: "apps/v1", kind: Self.kind, name: ds.name ?? "", uid: ds.uid ?? "", controller: true,
            blockOwnerDeletion: true)
        let template = ds["spec"]?["template"] ?? [:]
        for (index, node) in create.enumerated() {
            let pod = Self.pod(template: template, ds: ds, owner: owner, node: node, hash: hash)
            do {
                let created = try await client.create(.pods, namespace: ds.namespace, pod)
                events?.record(ds, apiVersion: "apps/v1", kind: Self.kind, .normal, reason: "SuccessfulCreate", message: "Created pod: \(created.name ?? "")")
            } catch {
                expectations.lowerAdds(key, by: create.count - index)
                events?.record(ds, apiVersion: "apps/v1", kind: Self.kind, .warning, reason: "FailedCreate",
                    message: "Error creating: \(ReplicaSetController.message(of: error))")
                throw error
            }
        }
        for pod in delete {
            do {
                try await client.delete(.pods, namespace: pod.namespace, name: pod.name ?? "", uid: pod.uid ?? "")
                events?.record(ds, apiVersion: "apps/v1", kind: Self.kind, .normal, reason: "SuccessfulDelete", message: "Deleted pod: \(pod.name ?? "")")
            } catch let error as APIError where error.isNotFound || error.isConflict {
                expectations.deletionObserved(key, dependent: Informer.key(of: pod))
            }
        }
    }

    /// A DaemonSet pod for `node`: the template, the default tolerations, node affinity pinned to the node, and the
    /// revision and generation labels.
    static func pod(template: JSONValue, ds: JSONValue, owner: OwnerReference, node: String, hash: String) -> JSONValue {
        var pod = PodState.fromTemplate(template, generateName: "\(ds.name ?? "")-", owner: owner)
        var labels = pod["metadata"]?["labels"]?.objectValue ?? [:]
        labels[ControllerHistory.hashLabel] = .string(hash)
        labels["pod-template-generation"] = .string(String(ds.generation ?? 1))
        pod.setMetadataField("labels", .object(labels))
        var tolerations = Taints.tolerations(of: pod)
        for toleration in defaultTolerations where !tolerations.contains(where: { $0["key"] == toleration["key"] && $0["effect"] == toleration["effect"] }) {
            tolerations.append(toleration)
        }
        pod.setValue(.array(tolerations), at: ["spec", "tolerations"])
        let pinned: JSONValue = ["nodeSelectorTerms": [["matchFields": [["key": "metadata.name", "operator": "In", "values": [.string(node)]]]]]]
        pod.setValue(pinned, at: ["spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"])
        return pod
    }

    private func writeStatus(_ ds: JSONValue, byNode: [String: [JSONValue]], eligible: Set<String>, hash: String, minReadySeconds: Int,
        now: Date) async throws
    {
        var scheduled = 0, misscheduled = 0, ready = 0, available = 0, updated = 0
        for (node, pods) in byNode {
            let live = pods.filter { $0.deletionTimestamp == nil }
            guard let pod = live.first else { continue }
            if !eligible.contains(node) {
                misscheduled += 1
                continue
            }
            scheduled += 1
            if PodState.isReady(pod) { ready += 1 }
            if PodState.isAvailable(pod, minReadySeconds: minReadySeconds, now: now) { available += 1 }
            if pod.labels[ControllerHistory.hashLabel] == hash { updated += 1 }
        }
        var status = ds["status"] ?? [:]
        status["desiredNumberScheduled"] = .integer(Int64(eligible.count))
        status["currentNumberScheduled"] = .integer(Int64(scheduled))
        status["numberMisscheduled"] = .integer(Int64(misscheduled))
        status["numberReady"] = .integer(Int64(ready))
        status["numberAvailable"] = available == 0 ? nil : .integer(Int64(available))
        status["numberUnavailable"] = eligible.count - available <= 0 ? nil : .integer(Int64(eligible.count - available))
        status["updatedNumberScheduled"] = updated == 0 ? nil : .integer(Int64(updated))
        status["observedGeneration"] = .integer(ds.generation ?? 0)
        _ = try await StatusWriter.write(status, to: ds, resource: .daemonSets, client: client)
    }
}
