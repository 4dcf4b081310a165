import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// scheduler_perf's basic case through the real API server: create pods and time until every one is bound.
struct ScheduleBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "schedule",
        abstract: "Create pods and time the scheduler until all are bound (needs nodes, e.g. keelson simulate-nodes).")
    @Option(help: "API server URL") var server: String = "http://127.0.0.1:6443"
    @Option(help: "Pods to create") var pods: Int = 10_000
    @Option(help: "PID of the process running the scheduler, for its RSS") var schedulerPid: Int32?
    @Option(help: "plain, spread (PodTopologySpread over zones) or antiaffinity (one pod per node within each of 10 groups)")
    var variant: String = "plain"

    func run() async throws {
        try await withBenchmarkClient(connections: 16) { client in try await measure(client) }
    }

    func measure(_ client: HTTPClient) async throws {
        let namespace = "sched-\(UInt32.random(in: 0...UInt32.max))"
        let (status, _) = try await client.send(.POST, "\(server)/api/v1/namespaces", body: #"{"metadata":{"name":"\#(namespace)"}}"#)
        guard status == 201 else { throw BenchmarkFailure(description: "cannot create namespace: \(status)") }
        let base = "\(server)/api/v1/namespaces/\(namespace)/pods"
        let start = wallNanos()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for i in stride(from: worker, to: pods, by: 8) {
                        let group = "g\(i % 10)"
                        let extra: String
                        switch variant {
                        case "spread":
                            extra = #","topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"group":"\#(group)"}}}]"#
                        case "antiaffinity":
                            extra = #","affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"topologyKey":"kubernetes.io/hostname","labelSelector":{"matchLabels":{"group":"\#(group)"}}}]}}"#
                        default:
                            extra = ""
                        }
                        let body = #"{"metadata":{"name":"p\#(i)","labels":{"group":"\#(group)"}},"spec":{"containers":[{"name":"c","image":"registry.example/pause:1","resources":{"requests":{"cpu":"100m","memory":"100Mi"}}}]\#(extra)}}"#
                        let (code, _) = try await client.send(.POST, base, body: body)
                        guard code == 201 else { throw BenchmarkFailure(description: "pod create answered \(code)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        let created = wallNanos()
        var unbound = pods
        while unbound > 0 {
            try await Task.sleep(for: .milliseconds(250))
            let (code, body) = try await client.send(.GET, "\(base)?fieldSelector=spec.nodeName%3D")
            guard code == 200 else { throw BenchmarkFailure(description: "pod list answered \(code)") }
            let list = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
            unbound = (list?["items"] as? [Any])?.count ?? pods
            if (wallNanos() - start) / 1_000_000_000 > 900 { throw BenchmarkFailure(description: "\(unbound) pods still unbound after 900 s") }
        }
        let done = wallNanos()
        let seconds = Double(done - start) / 1e9
        print("schedule (\(variant)): \(pods) pods created in " + String(format: "%.2f s, all bound after %.2f s: %.0f pods/s end to end",
            Double(created - start) / 1e9, seconds, Double(pods) / seconds))
        if let pid = schedulerPid, let rss = DensityBench.rssMiB(pid) {
            print(String(format: "schedule: server (API server + scheduler) RSS %.1f MiB", rss))
        }
        _ = try? await client.send(.DELETE, "\(server)/api/v1/namespaces/\(namespace)")
    }
}
