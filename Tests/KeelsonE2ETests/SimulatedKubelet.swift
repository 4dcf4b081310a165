import Foundation
import KeelsonAPI
import KeelsonClient

/// The part of a kubelet these tests need while no real or simulated node runs: pods that are not yet Running are
/// marked Running and Ready through the status subresource, as a kubelet would report them, for as long as the body
/// runs.
func withSimulatedKubelet<T: Sendable>(_ k: KeelsonProcess, _ body: @Sendable () async throws -> T) async throws -> T {
    let client = APIClient(configuration: try ClientConfiguration.kubeconfig(at: k.kubeconfig))
    defer { Task { try? await client.shutdown() } }
    let marker = Task {
        var nextIP = 2
        while !Task.isCancelled {
            let pods = (try? await client.list(.pods, namespace: nil, options: ListOptions()).items) ?? []
            for pod in pods where pod["status"]?["phase"]?.stringValue != "Running" && pod.deletionTimestamp == nil {
                let now = Timestamp.format(Date())
                let ip = "10.42.\(nextIP / 250).\(nextIP % 250 + 1)"  // never reached: these pods run nowhere
                nextIP += 1
                _ = try? await client.patch(.pods, namespace: pod.namespace, name: pod.name ?? "", [
                    "status": ["phase": "Running", "podIP": .string(ip), "podIPs": [["ip": .string(ip)]],
                               "conditions": [["type": "Ready", "status": "True", "lastTransitionTime": .string(now)]]],
                ], type: .merge, subresource: "status")
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
    defer { marker.cancel() }
    return try await body()
}
