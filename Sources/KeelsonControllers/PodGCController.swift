import Foundation
import KeelsonAPI
import KeelsonClient
import Logging

/// Cleans up pods nobody else will, as kube-controller-manager's pod garbage collector does, every 20 s:
/// finished pods beyond `terminatedPodThreshold` (oldest first), pods bound to a Node that no longer exists, and
/// pods being deleted that were never scheduled (no kubelet will ever confirm their deletion). The last two are
/// deleted with a zero grace period, since no kubelet is there to stop them.
public struct PodGCController: Sendable {
    public static let name = "pod-garbage-collector"
    static let key = "pods"

    let client: any KubernetesClient
    let pods: Informer
    let nodes: Informer
    let terminatedPodThreshold: Int
    let period: Duration
    let logger: Logger

    public init(client: any KubernetesClient, pods: Informer, nodes: Informer, terminatedPodThreshold: Int = 12_500,
        period: Duration = .seconds(20), logger: Logger)
    {
        self.client = client
        self.pods = pods
        self.nodes = nodes
        self.terminatedPodThreshold = terminatedPodThreshold
        self.period = period
        self.logger = logger
    }

    /// One key, looked at on every period (the work is a sweep, not per object).
    public func register(_ queue: WorkQueue<String>) {
        queue.add(Self.key)
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        let all = pods.list()
        if terminatedPodThreshold > 0 {
            let terminated = all.filter { PodState.isTerminal($0) && $0.deletionTimestamp == nil }
            if terminated.count > terminatedPodThreshold {
                let oldest = terminated.sorted { ($0.creationTimestamp ?? "", $0.name ?? "") < ($1.creationTimestamp ?? "", $1.name ?? "") }
                for pod in oldest.prefix(terminated.count - terminatedPodThreshold) {
                    try await delete(pod, force: false)
                }
            }
        }
        var missingNodes: [String: Bool] = [:]
        for pod in all {
            let node = pod["spec"]?["nodeName"]?.stringValue ?? ""
            if node.isEmpty {
                if pod.deletionTimestamp != nil { try await delete(pod, force: true) }
                continue
            }
            if nodes.get(node) != nil { continue }
            // The cache may not have seen a new node yet: ask the server once per sweep before deleting.
            if missingNodes[node] == nil {
                do {
                    _ = try await client.get(.nodes, name: node)
                    missingNodes[node] = false
                } catch let error as APIError where error.isNotFound {
                    missingNodes[node] = true
                }
            }
            if missingNodes[node] == true { try await delete(pod, force: true) }
        }
        return .requeue(after: period)
    }

    private func delete(_ pod: JSONValue, force: Bool) async throws {
        var options: JSONValue = ["apiVersion": "v1", "kind": "DeleteOptions", "preconditions": ["uid": .string(pod.uid ?? "")]]
        if force { options["gracePeriodSeconds"] = 0 }
        do {
            try await client.delete(.pods, namespace: pod.namespace, name: pod.name ?? "", options: options)
            logger.debug("pod collected", metadata: ["pod": "\(Informer.key(of: pod))"])
        } catch let error as APIError where error.isNotFound || error.isConflict {}
    }
}
