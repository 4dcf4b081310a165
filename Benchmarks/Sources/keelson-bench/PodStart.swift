import ArgumentParser
import AsyncHTTPClient
import Foundation
import KeelsonKubelet
import NIOCore
import NIOHTTP1

/// Pod startup with the image present: create → Running and Ready as a watch sees it, for one pod at a time and
/// for a burst created at once, next to its floor in the same run — the same sandbox and container created and
/// started by direct CRI calls on the node's containerd, with no API server, scheduler or kubelet in between.
struct PodStartBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "podstart",
        abstract: "Pod startup latency through Keelson, next to direct CRI calls on the same containerd.")
    @Option(help: "API server URL") var server: String = "http://127.0.0.1:6443"
    @Option(help: "The node's CRI socket, for the floor") var socket: String
    @Option(help: "Image of the pods (present on the node)") var image: String = "keelson.local/busybox:1.0"
    @Option(help: "Single-pod runs") var runs: Int = 10
    @Option(help: "Pods created at once in the burst") var burst: Int = 30
    @Option(help: "PID of the process running the kubelet, for its RSS") var kubeletPid: Int32?

    func run() async throws {
        let floor = try await criFloor(concurrent: 1)
        let floorBurst = try await criFloor(concurrent: burst)
        try await withBenchmarkClient(connections: burst + 4) { client in
            let single = try await throughKeelson(client, count: 1, rounds: runs)
            let burstLatencies = try await throughKeelson(client, count: burst, rounds: 1)
            print(Self.line("CRI floor (sandbox + container, direct), 1 at a time", floor))
            print(Self.line("CRI floor, \(burst) at once", floorBurst))
            print(Self.line("keelson, 1 pod at a time", single))
            print(Self.line("keelson, \(burst) pods at once", burstLatencies))
            print(String(format: "podstart: p50 above the floor: %.0f ms (1 pod); burst p99 %.0f ms",
                Self.percentile(single, 0.5) - Self.percentile(floor, 0.5), Self.percentile(burstLatencies, 0.99)))
            if let pid = kubeletPid, let rss = DensityBench.rssMiB(pid) {
                print(String(format: "podstart: RSS of the process running the kubelet with %d pods: %.1f MiB", burst, rss))
            }
        }
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }

    static func line(_ name: String, _ millis: [Double]) -> String {
        String(format: "podstart: %@: n=%d p50 %.0f ms, p99 %.0f ms, max %.0f ms", name, millis.count,
            percentile(millis, 0.5), percentile(millis, 0.99), millis.max() ?? .nan)
    }

    /// RunPodSandbox → CreateContainer → StartContainer, timed, then removed (sandboxes without the kubelet's
    /// labels, which the kubelet leaves alone): `runs` times one at a time, or once `concurrent` at once.
    func criFloor(concurrent: Int) async throws -> [Double] {
        let runtime = try CRIRuntime(socketPath: socket)
        var results: [Double] = []
        for round in 0..<(concurrent == 1 ? runs : 1) {
            let started = try await withThrowingTaskGroup(of: (Double, String, String).self) { group in
                for i in 0..<concurrent {
                    group.addTask {
                        let uid = UUID().uuidString.lowercased()
                        var sandbox = SandboxConfig(name: "floor-\(round)-\(i)", namespace: "bench-floor", uid: uid, attempt: 0, hostname: "floor",
                            logDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("keelson-floor-\(uid)").path, hostNetwork: false)
                        sandbox.labels = ["keelson.bench": "floor"]
                        try FileManager.default.createDirectory(atPath: sandbox.logDirectory, withIntermediateDirectories: true)
                        var container = ContainerConfig(name: "c", attempt: 0, image: image)
                        container.command = ["sleep", "3600"]
                        container.logPath = "c.log"
                        let start = wallNanos()
                        let id = try await runtime.runSandbox(sandbox)
                        let cid = try await runtime.createContainer(in: id, container, sandbox: sandbox)
                        try await runtime.startContainer(cid)
                        return (Double(wallNanos() - start) / 1e6, id, sandbox.logDirectory)
                    }
                }
                var all: [(Double, String, String)] = []
                for try await result in group { all.append(result) }
                return all
            }
            results += started.map(\.0)
            for (_, id, logs) in started {
                try await runtime.stopSandbox(id)
                try await runtime.removeSandbox(id)
                try? FileManager.default.removeItem(atPath: logs)
            }
        }
        await runtime.close()
        return results
    }

    /// `count` pods created at once, `rounds` times; each pod's time from its create request to the watch event
    /// that shows it Ready.
    func throughKeelson(_ client: HTTPClient, count: Int, rounds: Int) async throws -> [Double] {
        let namespace = "podstart-\(UInt32.random(in: 0...UInt32.max))"
        let (status, ns) = try await client.send(.POST, "\(server)/api/v1/namespaces", body: #"{"metadata":{"name":"\#(namespace)"}}"#)
        guard status == 201 else { throw BenchmarkFailure(description: "cannot create namespace: \(status)") }
        let object = try? JSONSerialization.jsonObject(with: Data(ns.readableBytesView)) as? [String: Any]
        let rv = (object?["metadata"] as? [String: Any])?["resourceVersion"] as? String ?? "0"
        let base = "\(server)/api/v1/namespaces/\(namespace)/pods"
        var latencies: [Double] = []
        var request = HTTPClientRequest(url: "\(base)?watch=true&resourceVersion=\(rv)&timeoutSeconds=600")
        request.method = .GET
        let response = try await client.execute(request, timeout: .seconds(700))
        var lines = WatchLines(response.body.makeAsyncIterator())
        for round in 0..<rounds {
            var created: [String: Int64] = [:]
            try await withThrowingTaskGroup(of: (String, Int64).self) { group in
                for i in 0..<count {
                    let name = "p\(round)-\(i)"
                    group.addTask {
                        let body = #"{"metadata":{"name":"\#(name)"},"spec":{"terminationGracePeriodSeconds":0,"containers":[{"name":"c","image":"\#(image)","command":["sleep","3600"]}]}}"#
                        let sent = wallNanos()
                        let (code, _) = try await client.send(.POST, base, body: body)
                        guard code == 201 else { throw BenchmarkFailure(description: "pod create answered \(code)") }
                        return (name, sent)
                    }
                }
                for try await (name, sent) in group { created[name] = sent }
            }
            var ready: Set<String> = []
            while ready.count < count {
                guard let line = try await lines.next() else { throw BenchmarkFailure(description: "the watch ended") }
                let now = wallNanos()
                guard let event = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let pod = event["object"] as? [String: Any],
                      let name = (pod["metadata"] as? [String: Any])?["name"] as? String, let sent = created[name],
                      !ready.contains(name) else { continue }
                let conditions = (pod["status"] as? [String: Any])?["conditions"] as? [[String: Any]] ?? []
                guard conditions.contains(where: { $0["type"] as? String == "Ready" && $0["status"] as? String == "True" }) else { continue }
                ready.insert(name)
                latencies.append(Double(now - sent) / 1e6)
            }
            // Each round starts on an empty node.
            _ = try await client.send(.DELETE, base)
            try await waitUntilEmpty(client, base)
        }
        _ = try? await client.send(.DELETE, "\(server)/api/v1/namespaces/\(namespace)")
        return latencies
    }

    func waitUntilEmpty(_ client: HTTPClient, _ base: String) async throws {
        for _ in 0..<600 {
            let (code, body) = try await client.send(.GET, base)
            if code == 200, let list = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
               (list["items"] as? [Any])?.isEmpty == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchmarkFailure(description: "pods still there after 60 s")
    }
}

/// The newline-delimited events of a watch response.
struct WatchLines {
    var iterator: HTTPClientResponse.Body.AsyncIterator
    var pending: [UInt8] = []

    init(_ iterator: HTTPClientResponse.Body.AsyncIterator) { self.iterator = iterator }

    mutating func next() async throws -> [UInt8]? {
        while true {
            if let newline = pending.firstIndex(of: 10) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                return line
            }
            guard let chunk = try await iterator.next() else { return nil }
            pending.append(contentsOf: chunk.readableBytesView)
        }
    }
}
