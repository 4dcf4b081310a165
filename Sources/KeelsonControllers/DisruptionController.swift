import Foundation
import KeelsonAPI
import KeelsonClient
import Logging

/// Keeps PodDisruptionBudgets' status, as kube-controller-manager's disruption controller does: which pods the
/// budget covers (`expectedPods`: the scale of their controllers for percentages and `maxUnavailable`, else the
/// pods themselves), how many are healthy (Ready, not terminating), how many must stay healthy, and so how many
/// voluntary disruptions are allowed now — the figure the eviction subresource spends. Evictions recorded in
/// `disruptedPods` count as already gone until their pods go, or for two minutes.
public struct DisruptionController: Sendable {
    public static let name = "disruption-controller"
    static let disruptedPodTimeout: TimeInterval = 120

    let client: any KubernetesClient
    let budgets: Informer
    let pods: Informer
    let replicaSets: Informer
    let deployments: Informer
    let statefulSets: Informer
    let logger: Logger
    let now: @Sendable () -> Date

    /// `pods` and `budgets` must carry the `namespace` index.
    public init(client: any KubernetesClient, budgets: Informer, pods: Informer, replicaSets: Informer, deployments: Informer,
        statefulSets: Informer, logger: Logger, now: @escaping @Sendable () -> Date = Date.init)
    {
        self.client = client
        self.budgets = budgets
        self.pods = pods
        self.replicaSets = replicaSets
        self.deployments = deployments
        self.statefulSets = statefulSets
        self.logger = logger
        self.now = now
    }

    public func register(_ queue: WorkQueue<String>) {
        budgets.addHandler { event in
            switch event {
            case .added(let pdb), .updated(_, let pdb): queue.add(Informer.key(of: pdb))
            case .deleted: break
            }
        }
        pods.addHandler { event in
            let pod: JSONValue
            switch event {
            case .added(let p), .updated(_, let p), .deleted(let p): pod = p
            }
            for key in budgetKeys(for: pod) { queue.add(key) }
        }
    }

    private func budgetKeys(for pod: JSONValue) -> [String] {
        guard let namespace = pod.namespace else { return [] }
        return budgets.byIndex(InformerIndex.namespace.name, namespace).compactMap { pdb in
            guard let selector = try? LabelSelector.from(pdb["spec"]?["selector"] ?? [:]), selector.matches(pod.labels) else { return nil }
            return Informer.key(of: pdb)
        }
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        guard let pdb = budgets.get(key), pdb.deletionTimestamp == nil, let namespace = pdb.namespace else { return .done }
        let spec = pdb["spec"] ?? [:]
        let now = now()
        let selector = try LabelSelector.from(spec["selector"] ?? [:])
        let covered = pods.byIndex(InformerIndex.namespace.name, namespace).filter { selector.matches($0.labels) }

        var disrupted = pdb["status"]?["disruptedPods"]?.objectValue ?? [:]
        var recheck: Duration?
        for (podName, time) in disrupted {
            let pod = covered.first { $0.name == podName }
            let at = time.stringValue.flatMap(Timestamp.parse) ?? .distantPast
            let expires = at.addingTimeInterval(Self.disruptedPodTimeout)
            if pod == nil || pod?.deletionTimestamp != nil || expires <= now {
                disrupted[podName] = nil
            } else {
                let wait = Duration.milliseconds(Int64(expires.timeIntervalSince(now) * 1000) + 10)
                recheck = min(recheck ?? wait, wait)
            }
        }
        let healthy = covered.filter { $0.deletionTimestamp == nil && PodState.isReady($0) && disrupted[$0.name ?? ""] == nil }.count

        var status = pdb["status"] ?? [:]
        let expected: Int
        let desired: Int
        if let minAvailable = spec["minAvailable"], minAvailable.intValue != nil {
            expected = covered.filter { $0.deletionTimestamp == nil }.count
            desired = Int(minAvailable.intValue ?? 0)
        } else if let scale = expectedScale(covered) {
            expected = scale
            if let minAvailable = spec["minAvailable"] {
                desired = Rollout.resolve(minAvailable, of: scale, roundUp: true)
            } else {
                desired = max(0, scale - Rollout.resolve(spec["maxUnavailable"] ?? 0, of: scale, roundUp: true))
            }
        } else {
            // Percentages need the controllers' scale; pods without a scalable controller cannot give it.
            expected = 0
            desired = 0
            status["conditions"] = .array([Self.condition(false, "SyncFailed", "found no controllers for pods covered by the budget", now)])
            status["disruptionsAllowed"] = 0
            status["observedGeneration"] = .integer(pdb.generation ?? 0)
            _ = try await StatusWriter.write(status, to: pdb, resource: .podDisruptionBudgets, client: client)
            return .done
        }
        let allowed = max(0, healthy - desired)
        status["currentHealthy"] = .integer(Int64(healthy))
        status["desiredHealthy"] = .integer(Int64(desired))
        status["expectedPods"] = .integer(Int64(expected))
        status["disruptionsAllowed"] = .integer(Int64(allowed))
        status["disruptedPods"] = disrupted.isEmpty ? nil : .object(disrupted)
        status["observedGeneration"] = .integer(pdb.generation ?? 0)
        let existing = (status["conditions"]?.arrayValue ?? []).first { $0["type"] == "DisruptionAllowed" }
        let wanted = allowed > 0
        if existing?["status"]?.stringValue != (wanted ? "True" : "False") {
            status["conditions"] = .array([Self.condition(wanted, wanted ? "SufficientPods" : "InsufficientPods", "", now)])
        }
        _ = try await StatusWriter.write(status, to: pdb, resource: .podDisruptionBudgets, client: client)
        return recheck.map { .requeue(after: $0) } ?? .done
    }

    static func condition(_ allowed: Bool, _ reason: String, _ message: String, _ now: Date) -> JSONValue {
        ["type": "DisruptionAllowed", "status": allowed ? "True" : "False", "reason": .string(reason), "message": .string(message),
         "lastTransitionTime": .string(Timestamp.format(now))]
    }

    /// The summed `spec.replicas` of the controllers of the covered pods (a Deployment's, for its ReplicaSets'
    /// pods); nil when some pod has no such controller.
    func expectedScale(_ covered: [JSONValue]) -> Int? {
        var scales: [String: Int] = [:]
        for pod in covered {
            guard let ref = pod.controllerRef, let namespace = pod.namespace else { return nil }
            switch ref.kind {
            case "ReplicaSet":
                guard let rs = replicaSets.get(namespace: namespace, name: ref.name) else { return nil }
                if let owner = rs.controllerRef, owner.kind == "Deployment", let d = deployments.get(namespace: namespace, name: owner.name) {
                    scales[d.uid ?? ""] = Int(d["spec"]?["replicas"]?.intValue ?? 1)
                } else {
                    scales[rs.uid ?? ""] = Int(rs["spec"]?["replicas"]?.intValue ?? 1)
                }
            case "StatefulSet":
                guard let sts = statefulSets.get(namespace: namespace, name: ref.name) else { return nil }
                scales[sts.uid ?? ""] = Int(sts["spec"]?["replicas"]?.intValue ?? 1)
            default:
                return nil
            }
        }
        return scales.values.reduce(0, +)
    }
}
