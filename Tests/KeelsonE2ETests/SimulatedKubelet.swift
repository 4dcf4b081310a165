import Foundation
import KeelsonAPI
import KeelsonClient
import Synchronization
import Testing

/// The part of a kubelet these tests need while no real or simulated node runs: pods that are not yet Running are
/// marked Running and Ready through the status subresource, as a kubelet would report them, for as long as the body
/// runs.
func withSimulatedKubelet<T: Sendable>(_ k: KeelsonProcess, _ body: @Sendable () async throws -> T) async throws -> T {
    let client = APIClient(configuration: try ClientConfiguration.kubeconfig(at: k.kubeconfig))
    defer { Task { try? await client.shutdown() } }
    // What the loop did, for the record when the body fails: a rollout that never finishes is either this loop not
    // marking pods or the controllers not counting them, and the two look alike from kubectl.
    let trace = Mutex(SimulatedKubeletTrace())
    let marker = Task {
        var nextIP = 2
        while !Task.isCancelled {
            let started = ContinuousClock.now
            let pods: [JSONValue]
            do {
                pods = try await client.list(.pods, namespace: nil, options: ListOptions()).items
            } catch {
                trace.withLock { $0.note("list failed after \(ContinuousClock.now - started): \(error)") }
                pods = []
            }
            for pod in pods where pod["status"]?["phase"]?.stringValue != "Running" && pod.deletionTimestamp == nil {
                let now = Timestamp.format(Date())
                let ip = "10.42.\(nextIP / 250).\(nextIP % 250 + 1)"  // never reached: these pods run nowhere
                nextIP += 1
                let patchStarted = ContinuousClock.now
                do {
                    _ = try await client.patch(.pods, namespace: pod.namespace, name: pod.name ?? "", [
                        "status": ["phase": "Running", "podIP": .string(ip), "podIPs": [["ip": .string(ip)]],
                                   "conditions": [["type": "Ready", "status": "True", "lastTransitionTime": .string(now)]]],
                    ], type: .strategic, subresource: "status")
                    trace.withLock { $0.marked += 1 }
                } catch {
                    trace.withLock { $0.note("patch of \(pod.name ?? "") failed after \(ContinuousClock.now - patchStarted): \(error)") }
                }
            }
            let took = ContinuousClock.now - started
            trace.withLock {
                $0.rounds += 1
                if took > .seconds(2) { $0.note("a round took \(took)") }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
    defer { marker.cancel() }
    do {
        return try await body()
    } catch {
        let state = try? await k.kubectl(["get", "deployments,replicasets,pods", "-A", "-o", "yaml"])
        let recorded = trace.withLock { $0 }
        Issue.record("""
            simulated kubelet: \(recorded.rounds) rounds, \(recorded.marked) pods marked; \
            notes: \(recorded.notes.joined(separator: "; "))
            cluster state:
            \(state?.stdout ?? "unavailable")
            """)
        throw error
    }
}

private struct SimulatedKubeletTrace: Sendable {
    var rounds = 0
    var marked = 0
    var notes: [String] = []

    mutating func note(_ line: String) {
        if notes.count < 20 { notes.append("\(Timestamp.format(Date())) \(line)") }
    }
}
