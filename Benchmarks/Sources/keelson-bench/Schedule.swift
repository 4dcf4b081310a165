import ArgumentParser
import AsyncHTTPClient
import Foundation
import KeelsonAPI
import NIOCore
import NIOHTTP1

/// scheduler_perf's basic case through the real API server: create pods and time until every one is bound.
struct ScheduleBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "schedule",
        abstract: "Create pods and time the scheduler until all are bound (needs nodes, e.g. keelson simulate-nodes).")
    @Option(help: "API server URL") var server: String = "http://127.0.0.1:6443"
    @Option(help: "Pods to create") var pods: Int = 10_000
    @Option(help: "PID of the process running the scheduler, for its RSS") var schedulerPid: Int32?
    @Option(help: "PID of the API server, for its RSS") var serverPid: Int32?
    @Option(help: "plain, spread (PodTopologySpread over zones) or antiaffinity (one pod per node within each of 10 groups)")
    var variant: String = "plain"
    @Option(help: "Concurrent clients creating the pods") var clients: Int = 32

    func run() async throws {
        try await withBenchmarkClient(connections: clients + 8) { client in try await measure(client) }
    }

    func measure(_ client: HTTPClient) async throws {
        let namespace = "sched-\(UInt32.random(in: 0...UInt32.max))"
        let (status, ns) = try await client.send(.POST, "\(server)/api/v1/namespaces", body: #"{"metadata":{"name":"\#(namespace)"}}"#)
        guard status == 201 else { throw BenchmarkFailure(description: "cannot create namespace: \(status)") }
        let object = try? JSONSerialization.jsonObject(with: Data(ns.readableBytesView)) as? [String: Any]
        let rv = (object?["metadata"] as? [String: Any])?["resourceVersion"] as? String ?? "0"
        let base = "\(server)/api/v1/namespaces/\(namespace)/pods"
        let count = pods

        // One watch sees every binding; each pod's latency runs from its create's answer to its bound event.
        var request = HTTPClientRequest(url: "\(base)?watch=true&resourceVersion=\(rv)&timeoutSeconds=1800")
        request.method = .GET
        let response = try await client.execute(request, timeout: .seconds(1900))
        let start = wallNanos()
        async let boundTimes = Self.bindings(response.body, expected: count)
        let createdTimes = try await withThrowingTaskGroup(of: [Int: Int64].self) { group in
            for worker in 0..<clients {
                group.addTask {
                    var answered: [Int: Int64] = [:]
                    for i in stride(from: worker, to: count, by: clients) {
                        let (code, _) = try await client.send(.POST, base, body: podBody(i))
                        guard code == 201 else { throw BenchmarkFailure(description: "pod create answered \(code)") }
                        answered[i] = wallNanos()
                    }
                    return answered
                }
            }
            var all: [Int: Int64] = [:]
            for try await part in group { all.merge(part) { a, _ in a } }
            return all
        }
        let created = wallNanos()
        let bound = try await boundTimes
        let done = bound.values.max() ?? created
        let seconds = Double(done - start) / 1e9
        let latencies = createdTimes.compactMap { i, answered in bound[i].map { Double(max(0, $0 - answered)) / 1000 } }
        let stats = RunStats(operations: latencies.count, errors: count - latencies.count, seconds: seconds, latenciesMicros: latencies)
        print("schedule (\(variant)): \(count) pods created in " + String(format: "%.2f s, all bound after %.2f s: %.0f pods/s end to end; "
            + "per pod, create answered to bound: p50 %.1f ms, p99 %.1f ms", Double(created - start) / 1e9, seconds, Double(count) / seconds,
            stats.percentile(50) / 1000, stats.percentile(99) / 1000))
        let schedulerLabel = serverPid == nil ? "API server with the scheduler" : "scheduler"
        for (label, pid) in [(schedulerLabel, schedulerPid), ("API server", serverPid)] {
            if let pid, let rss = DensityBench.rssMiB(pid) { print(String(format: "schedule: %@ RSS %.1f MiB", label, rss)) }
        }
        _ = try? await client.send(.DELETE, "\(server)/api/v1/namespaces/\(namespace)")
    }

    func podBody(_ i: Int) -> String {
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
        return #"{"metadata":{"name":"p\#(i)","labels":{"group":"\#(group)"}},"spec":{"containers":[{"name":"c","image":"registry.example/pause:1","resources":{"requests":{"cpu":"100m","memory":"100Mi"}}}]\#(extra)}}"#
    }

    /// Reads the watch until `expected` pods have a node, returning when each (by its index in `p<index>`) was first
    /// seen bound.
    static func bindings(_ body: HTTPClientResponse.Body, expected: Int) async throws -> [Int: Int64] {
        var bound: [Int: Int64] = [:]
        var pending: [UInt8] = []
        let nodeMarker = Array(#""nodeName":""#.utf8)
        for try await chunk in body {
            pending.append(contentsOf: chunk.readableBytesView)
            var consumed = 0
            while let newline = pending[consumed...].firstIndex(of: 10) {
                let line = pending[consumed..<newline]
                consumed = newline + 1
                guard line.contains(bytes: nodeMarker),
                    let event = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                    let metadata = (event["object"] as? [String: Any])?["metadata"] as? [String: Any],
                    let name = metadata["name"] as? String, let index = Int(name.dropFirst())
                else { continue }
                if bound[index] == nil { bound[index] = wallNanos() }
                if bound.count == expected { return bound }
            }
            pending.removeFirst(consumed)
        }
        throw BenchmarkFailure(description: "the watch ended with \(bound.count) of \(expected) pods bound")
    }
}
