import Foundation
import KeelsonAPI
import KeelsonClient

/// The part of a kubelet these tests need while no real or simulated node runs: pods that are not yet Running are
/// marked Running and Ready through the status subresource, as a kubelet would report them, for as long as the body
/// runs.
func withSimulatedKubelet<T: Sendable>(_ k: KeelsonProcess, _ body: @Sendable () async throws -> T) async throws -> T {
    let client = APIClient(configuration: ClientConfiguration(server: "http://127.0.0.1:\(k.port)"))
    defer { Task { try? await client.shutdown() } }
    let marker = Task {
        while !Task.isCancelled {
            let pods = (try? await client.list(.pods, namespace: nil, options: ListOptions()).items) ?? []
            for pod in pods where pod["status"]?["phase"]?.stringValue != "Running" && pod.deletionTimestamp == nil {
                let now = Timestamp.format(Date())
                _ = try? await client.patch(.pods, namespace: pod.namespace, name: pod.name ?? "", [
                    "status": ["phase": "Running", "conditions": [["type": "Ready", "status": "True", "lastTransitionTime": .string(now)]]],
                ], type: .merge, subresource: "status")
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
    defer { marker.cancel() }
    return try await body()
}
