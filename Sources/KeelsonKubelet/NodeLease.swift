import Foundation
import KeelsonAPI
import KeelsonClient

/// A node's heartbeat: its Lease in `kube-node-lease`, renewed (or created) with the node as holder — what the
/// node lifecycle controller watches to tell a live node from a lost one.
enum NodeLease {
    static func renew(_ node: String, client: any KubernetesClient) async throws {
        let now = JSONValue.string(Timestamp.formatMicro(Date()))
        let spec: JSONValue = ["holderIdentity": .string(node), "leaseDurationSeconds": 40, "renewTime": now]
        do {
            try await client.patch(.leases, namespace: "kube-node-lease", name: node, ["spec": spec])
        } catch let error as APIError where error.isNotFound {
            try await client.create(.leases, namespace: "kube-node-lease",
                ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": ["name": .string(node)], "spec": spec])
        }
    }
}
