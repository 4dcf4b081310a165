import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The controller manager under the density test's load: many Deployments at once, timed until every ReplicaSet
/// reports all its pods created, with the controller manager's CPU time and RSS read from /proc.
struct DensityBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "density",
        abstract: "Create Deployments × replicas and time the controllers until every ReplicaSet has its pods.")
    @Option(help: "API server URL") var server: String = "http://127.0.0.1:6443"
    @Option(help: "Deployments to create") var deployments: Int = 100
    @Option(help: "Replicas per Deployment") var replicas: Int = 30
    @Option(help: "PID of the controller manager process, for its CPU time and RSS") var controllerPid: Int32?
    @Flag(help: "Also wait until every Deployment reports all replicas ready (needs a scheduler and nodes)") var waitReady = false

    func run() async throws {
        try await withBenchmarkClient(connections: 16) { client in try await measure(client) }
    }

    func measure(_ client: HTTPClient) async throws {
        let namespace = "density-\(UInt32.random(in: 0...UInt32.max))"
        let (status, _) = try await client.send(.POST, "\(server)/api/v1/namespaces", body: #"{"metadata":{"name":"\#(namespace)"}}"#)
        guard status == 201 else { throw BenchmarkFailure(description: "cannot create namespace: \(status)") }
        let cpuBefore = controllerPid.flatMap(Self.cpuSeconds)
        let start = wallNanos()
        let base = "\(server)/apis/apps/v1/namespaces/\(namespace)/deployments"
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for i in stride(from: worker, to: deployments, by: 8) {
                        let body = #"{"metadata":{"name":"d\#(i)"},"spec":{"replicas":\#(replicas),"selector":{"matchLabels":{"app":"d\#(i)"}},"template":{"metadata":{"labels":{"app":"d\#(i)"}},"spec":{"containers":[{"name":"c","image":"registry.example/pause:1"}]}}}}"#
                        let (code, _) = try await client.send(.POST, base, body: body)
                        guard code == 201 else { throw BenchmarkFailure(description: "deployment create answered \(code)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        let created = wallNanos()
        var full = 0
        while full < deployments {
            try await Task.sleep(for: .milliseconds(100))
            let (code, body) = try await client.send(.GET, "\(server)/apis/apps/v1/namespaces/\(namespace)/replicasets")
            guard code == 200 else { throw BenchmarkFailure(description: "replicaset list answered \(code)") }
            let list = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
            let items = list?["items"] as? [[String: Any]] ?? []
            full = items.filter { (($0["status"] as? [String: Any])?["replicas"] as? Int) == replicas }.count
            if (wallNanos() - start) / 1_000_000_000 > 600 { throw BenchmarkFailure(description: "not done after 600 s: \(full) full") }
        }
        let done = wallNanos()
        var readyAt: Int64?
        if waitReady {
            var ready = 0
            while ready < deployments * replicas {
                try await Task.sleep(for: .milliseconds(100))
                let (code, body) = try await client.send(.GET, base)
                guard code == 200 else { throw BenchmarkFailure(description: "deployment list answered \(code)") }
                let list = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
                ready = (list?["items"] as? [[String: Any]] ?? []).reduce(0) { $0 + ((($1["status"] as? [String: Any])?["readyReplicas"] as? Int) ?? 0) }
                if (wallNanos() - start) / 1_000_000_000 > 600 { throw BenchmarkFailure(description: "not ready after 600 s: \(ready) pods") }
            }
            readyAt = wallNanos()
        }
        let pods = deployments * replicas
        let seconds = Double(done - start) / 1e9
        let createSeconds = Double(created - start) / 1e9
        print("density: \(deployments) deployments × \(replicas) replicas (\(pods) pods): deployments created in "
            + String(format: "%.2f s, all ReplicaSets full after %.2f s (%.0f pods/s)", createSeconds, seconds, Double(pods) / seconds))
        if let readyAt {
            let seconds = Double(readyAt - start) / 1e9
            print("density: all \(pods) pods bound, running and ready after " + String(format: "%.2f s (%.0f pods/s)", seconds, Double(pods) / seconds))
        }
        if let pid = controllerPid, let before = cpuBefore, let after = Self.cpuSeconds(pid) {
            print(String(format: "density: controller manager CPU %.2f s over the run, RSS %.1f MiB", after - before, Self.rssMiB(pid) ?? -1))
        }
        // Leave nothing behind for the next run.
        _ = try? await client.send(.DELETE, "\(server)/api/v1/namespaces/\(namespace)")
    }

    /// utime + stime of a process, in seconds.
    static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (user + system) / ticks
    }

    static func rssMiB(_ pid: Int32) -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        return line.split(separator: " ").dropFirst().first.flatMap { Double($0) }.map { $0 / 1024 }
    }
}
