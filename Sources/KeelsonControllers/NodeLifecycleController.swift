import Foundation
import KeelsonAPI
import KeelsonClient
import Logging
import Synchronization

/// Watches node health and acts on it, as kube-controller-manager's node lifecycle controller does:
/// - a node whose kubelet has not renewed its Lease (in `kube-node-lease`) nor posted status for the grace period
///   (40 s) gets its Ready and pressure conditions set to Unknown, and its pods are marked not ready;
/// - node conditions and `spec.unschedulable` become taints: `not-ready` and `unreachable` (NoSchedule and
///   NoExecute), `unschedulable` and the pressure taints (NoSchedule);
/// - pods on a node with NoExecute taints they do not tolerate are evicted at once, and those tolerating for
///   `tolerationSeconds` when that time has passed since the taint was added (the taint manager).
///
/// Health is judged by this controller's clock from when it last saw a heartbeat change, never by comparing the
/// kubelet's clock with its own.
public struct NodeLifecycleController: Sendable {
    public static let name = "node-lifecycle-controller"
    static let leaseNamespace = "kube-node-lease"
    static let notReady = "node.kubernetes.io/not-ready"
    static let unreachable = "node.kubernetes.io/unreachable"
    static let unschedulable = "node.kubernetes.io/unschedulable"
    /// Taints this controller owns; it leaves every other taint alone.
    static let managedKeys: Set<String> = [notReady, unreachable, unschedulable, "node.kubernetes.io/memory-pressure",
                                           "node.kubernetes.io/disk-pressure", "node.kubernetes.io/pid-pressure"]

    public struct Configuration: Sendable {
        /// How long a node may stay silent before it is Unknown (`--node-monitor-grace-period`).
        public var gracePeriod: Duration
        /// How often each node is looked at (`--node-monitor-period`).
        public var monitorPeriod: Duration

        public init(gracePeriod: Duration = .seconds(40), monitorPeriod: Duration = .seconds(5)) {
            self.gracePeriod = gracePeriod
            self.monitorPeriod = monitorPeriod
        }
    }

    let client: any KubernetesClient
    let nodes: Informer
    let leases: Informer
    let pods: Informer
    let events: EventRecorder?
    let configuration: Configuration
    let logger: Logger
    let now: @Sendable () -> Date
    /// The last heartbeat seen per node, and when this controller saw it.
    private let heartbeats = HeartbeatTracker()

    /// `pods` must carry the `nodeName` index.
    public init(client: any KubernetesClient, nodes: Informer, leases: Informer, pods: Informer, events: EventRecorder?,
        configuration: Configuration = Configuration(), logger: Logger, now: @escaping @Sendable () -> Date = Date.init)
    {
        self.client = client
        self.nodes = nodes
        self.leases = leases
        self.pods = pods
        self.events = events
        self.configuration = configuration
        self.logger = logger
        self.now = now
    }

    public func register(_ queue: WorkQueue<String>) {
        nodes.addHandler { event in
            switch event {
            case .added(let node), .updated(_, let node): queue.add(node.name ?? "")
            case .deleted(let node): heartbeats.forget(node.name ?? "")
            }
        }
        leases.addHandler { event in
            switch event {
            case .added(let lease), .updated(_, let lease):
                if lease.namespace == Self.leaseNamespace, let name = lease.name, nodes.get(name) != nil { queue.add(name) }
            case .deleted: break
            }
        }
        // A pod bound to a tainted node may need evicting.
        pods.addHandler { event in
            switch event {
            case .added(let pod), .updated(_, let pod):
                if let node = pod["spec"]?["nodeName"]?.stringValue, !node.isEmpty, let n = nodes.get(node),
                    Taints.taints(of: n).contains(where: { $0["effect"]?.stringValue == "NoExecute" })
                {
                    queue.add(node)
                }
            case .deleted: break
            }
        }
    }

    public func reconcile(_ name: String) async throws -> ReconcileResult {
        guard var node = nodes.get(name) else { return .done }
        let now = now()
        let silentFor = observeHeartbeat(node)
        if silentFor > configuration.gracePeriod, readyStatus(node) != "Unknown" {
            node = try await markUnknown(node, now: now)
            try await markPodsNotReady(on: name)
            events?.record(node, apiVersion: "v1", kind: "Node", .normal, reason: "NodeNotReady", message: "Node \(name) status is now: NodeNotReady")
        }
        node = try await syncTaints(node, now: now)
        let nextEviction = try await evict(from: node, now: now)
        let untilSilent = configuration.gracePeriod - silentFor
        var wait = configuration.monitorPeriod
        if untilSilent > .zero { wait = min(wait, untilSilent + .milliseconds(10)) }
        if let nextEviction { wait = min(wait, nextEviction) }
        return .requeue(after: wait)
    }

    // MARK: Health

    /// How long since the node's heartbeat (Lease renewal or Ready condition heartbeat) last changed.
    private func observeHeartbeat(_ node: JSONValue) -> Duration {
        let name = node.name ?? ""
        let lease = leases.get(namespace: Self.leaseNamespace, name: name)
        let renew = lease?["spec"]?["renewTime"]?.stringValue.flatMap(Timestamp.parse)
        let posted = readyCondition(node)?["lastHeartbeatTime"]?.stringValue.flatMap(Timestamp.parse)
        return heartbeats.silence(of: name, beat: [renew, posted].compactMap { $0 }.max() ?? .distantPast)
    }

    private func readyCondition(_ node: JSONValue) -> JSONValue? {
        (node["status"]?["conditions"]?.arrayValue ?? []).first { $0["type"]?.stringValue == "Ready" }
    }

    private func readyStatus(_ node: JSONValue) -> String? { readyCondition(node)?["status"]?.stringValue }

    private func markUnknown(_ node: JSONValue, now: Date) async throws -> JSONValue {
        let stamp = JSONValue.string(Timestamp.format(now))
        var conditions = node["status"]?["conditions"]?.arrayValue ?? []
        for type in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
            let index = conditions.firstIndex { $0["type"]?.stringValue == type }
            var condition: JSONValue = index.map { conditions[$0] } ?? ["type": .string(type), "lastHeartbeatTime": stamp]
            condition["status"] = "Unknown"
            condition["reason"] = "NodeStatusUnknown"
            condition["message"] = "Kubelet stopped posting node status."
            condition["lastTransitionTime"] = stamp
            if let index { conditions[index] = condition } else { conditions.append(condition) }
        }
        var status = node["status"] ?? [:]
        status["conditions"] = .array(conditions)
        return try await StatusWriter.write(status, to: node, resource: .nodes, client: client)
    }

    /// Pods on an unreachable node can no longer be trusted to serve: their Ready condition goes False, which
    /// takes them out of Services' endpoints.
    private func markPodsNotReady(on node: String) async throws {
        for pod in pods.byIndex(InformerIndex.nodeName.name, node) where PodState.isReady(pod) {
            var conditions = pod["status"]?["conditions"]?.arrayValue ?? []
            for index in conditions.indices where conditions[index]["type"]?.stringValue == "Ready" {
                conditions[index]["status"] = "False"
                conditions[index]["lastTransitionTime"] = .string(Timestamp.format(now()))
            }
            var status = pod["status"] ?? [:]
            status["conditions"] = .array(conditions)
            _ = try? await StatusWriter.write(status, to: pod, resource: .pods, client: client)
        }
    }

    // MARK: Taints

    /// The taints this controller wants on a node, from its conditions and `spec.unschedulable`.
    static func desiredTaints(_ node: JSONValue) -> [(key: String, effect: String)] {
        var taints: [(String, String)] = []
        let conditions = node["status"]?["conditions"]?.arrayValue ?? []
        func status(_ type: String) -> String? { conditions.first { $0["type"]?.stringValue == type }?["status"]?.stringValue }
        switch status("Ready") {
        case "False": taints += [(notReady, "NoSchedule"), (notReady, "NoExecute")]
        case "Unknown": taints += [(unreachable, "NoSchedule"), (unreachable, "NoExecute")]
        case nil: taints += [(notReady, "NoSchedule")]  // a node that never reported is not ready for pods yet
        default: break
        }
        for (type, key) in [("MemoryPressure", "memory-pressure"), ("DiskPressure", "disk-pressure"), ("PIDPressure", "pid-pressure")]
        where status(type) == "True" {
            taints.append(("node.kubernetes.io/\(key)", "NoSchedule"))
        }
        if node["spec"]?["unschedulable"]?.boolValue == true { taints.append((unschedulable, "NoSchedule")) }
        return taints
    }

    private func syncTaints(_ node: JSONValue, now: Date) async throws -> JSONValue {
        let current = Taints.taints(of: node)
        let desired = Self.desiredTaints(node)
        var next = current.filter { taint in
            let key = taint["key"]?.stringValue ?? ""
            return !Self.managedKeys.contains(key) || desired.contains { $0.key == key && $0.effect == taint["effect"]?.stringValue }
        }
        for want in desired where !next.contains(where: { $0["key"]?.stringValue == want.key && $0["effect"]?.stringValue == want.effect }) {
            var taint: JSONValue = ["key": .string(want.key), "effect": .string(want.effect)]
            if want.effect == "NoExecute" { taint["timeAdded"] = .string(Timestamp.format(now)) }
            next.append(taint)
        }
        guard next != current else { return node }
        var updated = node
        updated.setValue(next.isEmpty ? nil : .array(next), at: ["spec", "taints"])
        do {
            return try await client.update(.nodes, updated)
        } catch let error as APIError where error.isNotFound {
            return node
        }
    }

    // MARK: Eviction

    /// Deletes the pods the node's NoExecute taints no longer allow; returns how soon the next one is due.
    private func evict(from node: JSONValue, now: Date) async throws -> Duration? {
        let taints = Taints.taints(of: node).filter { $0["effect"]?.stringValue == "NoExecute" }
        guard !taints.isEmpty else { return nil }
        var soonest: Duration?
        for pod in pods.byIndex(InformerIndex.nodeName.name, node.name ?? "") where pod.deletionTimestamp == nil {
            var evictAt: Date?
            for taint in taints {
                guard let toleration = Taints.toleration(for: taint, in: Taints.tolerations(of: pod)) else {
                    evictAt = now
                    break
                }
                if let seconds = toleration["tolerationSeconds"]?.intValue {
                    let added = taint["timeAdded"]?.stringValue.flatMap(Timestamp.parse) ?? now
                    let due = added.addingTimeInterval(TimeInterval(max(seconds, 0)))
                    evictAt = min(evictAt ?? due, due)
                }
            }
            guard let evictAt else { continue }
            if evictAt <= now {
                do {
                    try await client.delete(.pods, namespace: pod.namespace, name: pod.name ?? "", uid: pod.uid ?? "")
                    events?.record(pod, apiVersion: "v1", kind: "Pod", .normal, reason: "TaintManagerEviction",
                        message: "Marking for deletion Pod \(pod.namespace ?? "")/\(pod.name ?? "")")
                } catch let error as APIError where error.isNotFound || error.isConflict {}
            } else {
                let wait = Duration.milliseconds(Int64(evictAt.timeIntervalSince(now) * 1000) + 10)
                soonest = min(soonest ?? wait, wait)
            }
        }
        return soonest
    }
}

/// Per node: the newest heartbeat seen and when it was seen, on this process's clock.
final class HeartbeatTracker: Sendable {
    private let seen = Mutex([String: (beat: Date, at: ContinuousClock.Instant)]())

    /// How long `beat` has been the newest heartbeat of `node` (zero when it is new).
    func silence(of node: String, beat: Date) -> Duration {
        seen.withLock { seen in
            if let last = seen[node], last.beat >= beat { return ContinuousClock.now - last.at }
            seen[node] = (beat, .now)
            return .zero
        }
    }

    func forget(_ node: String) {
        _ = seen.withLock { $0.removeValue(forKey: node) }
    }
}
