import ArgumentParser
import AsyncHTTPClient
import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonStore
import NIOCore
import NIOHTTP1

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keelson-bench",
        abstract: "Load generator for Keelson and its reference, etcd.",
        subcommands: [StoreBench.self, APIBench.self, EtcdBench.self, WatchBench.self, DensityBench.self, ScheduleBench.self, PodStartBench.self, HousekeepingBench.self,
            ProxyBench.self, DNSBench.self, TLSOverheadBenchmark.self, ServerSideApplyBench.self]
    )
}

struct CommonOptions: ParsableArguments {
    @Option(help: "Concurrent clients, comma-separated")
    var clients: String = "1,8,64"

    @Option(help: "Seconds per measured run")
    var seconds: Int = 5

    var clientCounts: [Int] { clients.split(separator: ",").compactMap { Int($0) } }
}

/// The embedded store alone: durable creates straight into `SQLiteStore`.
struct StoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store", abstract: "Durable writes into the embedded SQLite store.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Directory for the database (a temporary one by default)") var dir: String?

    func run() async throws {
        let base = dir ?? FileManager.default.temporaryDirectory.appendingPathComponent("keelson-bench-\(UUID().uuidString)").path
        defer { if dir == nil { try? FileManager.default.removeItem(atPath: base) } }
        let value = Array(String(repeating: "x", count: 256).utf8)
        for clients in common.clientCounts {
            let path = base + "/\(clients)/state.db"
            let store = try SQLiteStore(configuration: SQLiteStore.Configuration(path: path))
            let stats = await runLoad(concurrency: clients, duration: .seconds(common.seconds)) { worker, i in
                _ = try await store.create("/registry/configmaps/default/w\(worker)-\(i)", value: value)
            }
            print(stats.line("sqlite store puts, \(clients) clients"))
            try store.close()
        }
    }
}

/// HTTP helpers shared by the API and etcd runs.
/// Runs `body` with a client sized for `connections`, shutting it down afterwards.
func withBenchmarkClient<T>(connections: Int, _ body: (HTTPClient) async throws -> T) async throws -> T {
    let client = HTTPClient.forBenchmark(connections: connections)
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

extension HTTPClient {
    /// With `KUBECONFIG` set, the client trusts that kubeconfig's CA and presents its client certificate (the API
    /// server answers HTTPS only); its Authorization token, if any, is not used.
    static func forBenchmark(connections: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        if let path = ProcessInfo.processInfo.environment["KUBECONFIG"] {
            do {
                configuration.tlsConfiguration = try ClientConfiguration.kubeconfig(at: path).tls
            } catch {
                FileHandle.standardError.write(Data("keelson-bench: KUBECONFIG \(path): \(error)\n".utf8))
            }
        }
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(connections, 8))
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// - Parameter close: ask for the connection to be closed after the answer, so the next request opens another.
    func send(_ method: HTTPMethod, _ url: String, body: String? = nil, contentType: String = "application/json", close: Bool = false)
        async throws -> (Int, ByteBuffer)
    {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if close { request.headers.add(name: "Connection", value: "close") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return (Int(response.status.code), bytes)
    }
}

/// The whole API server: creates and gets of ConfigMaps over HTTP.
struct APIBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "api", abstract: "Creates and gets through the Keelson API server.")
    @OptionGroup var common: CommonOptions
    @Option(help: "API server URL") var server: String = "http://127.0.0.1:6443"

    func run() async throws {
        try await withBenchmarkClient(connections: common.clientCounts.max() ?? 64) { client in try await measure(client) }
    }

    func measure(_ client: HTTPClient) async throws {
        let namespace = "bench-\(UInt32.random(in: 0...UInt32.max))"
        let (status, _) = try await client.send(.POST, "\(server)/api/v1/namespaces", body: #"{"metadata":{"name":"\#(namespace)"}}"#)
        guard status == 201 else { throw BenchmarkFailure(description: "cannot create namespace: \(status)") }
        let base = "\(server)/api/v1/namespaces/\(namespace)/configmaps"
        let payload = String(repeating: "x", count: 256)
        for clients in common.clientCounts {
            let stats = await runLoad(concurrency: clients, duration: .seconds(common.seconds)) { worker, i in
                let body = #"{"metadata":{"name":"c\#(clients)-\#(worker)-\#(i)"},"data":{"v":"\#(payload)"}}"#
                let (code, _) = try await client.send(.POST, base, body: body)
                guard code == 201 else { throw BenchmarkFailure(description: "create answered \(code)") }
            }
            print(stats.line("api creates, \(clients) clients"))
        }
        for clients in common.clientCounts {
            let stats = await runLoad(concurrency: clients, duration: .seconds(common.seconds)) { worker, i in
                let (code, _) = try await client.send(.GET, "\(base)/c1-0-\(i % 50)")
                guard code == 200 else { throw BenchmarkFailure(description: "get answered \(code)") }
            }
            print(stats.line("api gets, \(clients) clients"))
        }
        // A list of 10,000 objects (the namespace holds more after the creates), as informers' first list does.
        let lists = await runLoad(concurrency: 2, duration: .seconds(common.seconds)) { _, _ in
            let (code, body) = try await client.send(.GET, "\(base)?limit=10000")
            guard code == 200, body.readableBytes > 10_000 * 256 else { throw BenchmarkFailure(description: "list answered \(code)") }
        }
        print(stats(lists, "api lists of 10,000, 2 clients"))
    }
}

/// Lists are few per second: their line says lists/s with two decimals' worth of precision.
func stats(_ stats: RunStats, _ label: String) -> String {
    String(format: "%-34@ %10.1f lists/s  p50 %8.2f ms   p99 %8.2f ms   (%d lists, %d errors)",
        label as NSString, stats.perSecond, stats.percentile(50) / 1000, stats.percentile(99) / 1000, stats.operations, stats.errors)
}

/// The reference: etcd's own put and range rate through its v3 JSON gateway, with the same clients.
struct EtcdBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "etcd", abstract: "Puts and ranges against etcd (v3 JSON gateway).")
    @OptionGroup var common: CommonOptions
    @Option(help: "etcd client URL") var endpoint: String = "http://127.0.0.1:2379"

    func run() async throws {
        try await withBenchmarkClient(connections: common.clientCounts.max() ?? 64) { client in try await measure(client) }
    }

    func measure(_ client: HTTPClient) async throws {
        let value = Data(String(repeating: "x", count: 256).utf8).base64EncodedString()
        for clients in common.clientCounts {
            let stats = await runLoad(concurrency: clients, duration: .seconds(common.seconds)) { worker, i in
                let key = Data("/registry/configmaps/bench/c\(clients)-\(worker)-\(i)".utf8).base64EncodedString()
                let (code, _) = try await client.send(.POST, "\(endpoint)/v3/kv/put", body: #"{"key":"\#(key)","value":"\#(value)"}"#)
                guard code == 200 else { throw BenchmarkFailure(description: "put answered \(code)") }
            }
            print(stats.line("etcd puts, \(clients) clients"))
        }
        for clients in common.clientCounts {
            let stats = await runLoad(concurrency: clients, duration: .seconds(common.seconds)) { worker, i in
                let key = Data("/registry/configmaps/bench/c1-0-\(i % 50)".utf8).base64EncodedString()
                let (code, _) = try await client.send(.POST, "\(endpoint)/v3/kv/range", body: #"{"key":"\#(key)"}"#)
                guard code == 200 else { throw BenchmarkFailure(description: "range answered \(code)") }
            }
            print(stats.line("etcd gets, \(clients) clients"))
        }
        let prefix = Data("/registry/configmaps/bench/".utf8).base64EncodedString()
        let end = Data("/registry/configmaps/bench0".utf8).base64EncodedString()
        let lists = await runLoad(concurrency: 2, duration: .seconds(common.seconds)) { _, _ in
            let (code, body) = try await client.send(.POST, "\(endpoint)/v3/kv/range",
                body: #"{"key":"\#(prefix)","range_end":"\#(end)","limit":10000}"#)
            guard code == 200, body.readableBytes > 10_000 * 256 else { throw BenchmarkFailure(description: "range answered \(code)") }
        }
        print(stats(lists, "etcd ranges of 10,000, 2 clients"))
    }
}

/// Watch fan-out: events delivered to many watchers, and the delay from a create's answer to each delivery.
struct WatchBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "watch", abstract: "Watch fan-out through the API server.")
    @Option(help: "API server URL") var server: String = "http://127.0.0.1:6443"
    @Option(help: "Concurrent watchers") var watchers: Int = 100
    @Option(help: "Objects created while they watch") var events: Int = 500
    @Option(help: "Creates per second (0: as fast as 8 producers go)") var rate: Int = 0

    func run() async throws {
        try await withBenchmarkClient(connections: watchers + 8) { client in try await measure(client) }
    }

    func measure(_ client: HTTPClient) async throws {
        let namespace = "watch-\(UInt32.random(in: 0...UInt32.max))"
        let (status, ns) = try await client.send(.POST, "\(server)/api/v1/namespaces", body: #"{"metadata":{"name":"\#(namespace)"}}"#)
        guard status == 201 else { throw BenchmarkFailure(description: "cannot create namespace: \(status)") }
        let object = try? JSONSerialization.jsonObject(with: Data(ns.readableBytesView)) as? [String: Any]
        let rv = (object?["metadata"] as? [String: Any])?["resourceVersion"] as? String ?? "0"
        let base = "\(server)/api/v1/namespaces/\(namespace)/configmaps"
        let expected = events
        let ready = AsyncStream<Void>.makeStream()
        let result = try await withThrowingTaskGroup(of: [Double].self) { group in
            for _ in 0..<watchers {
                group.addTask {
                    var request = HTTPClientRequest(url: "\(base)?watch=true&resourceVersion=\(rv)&timeoutSeconds=120")
                    request.method = .GET
                    let response = try await client.execute(request, timeout: .seconds(180))
                    ready.continuation.yield()
                    var delays: [Double] = []
                    var pending: [UInt8] = []
                    let marker = Array(#""t":""#.utf8)
                    for try await chunk in response.body {
                        pending.append(contentsOf: chunk.readableBytesView)
                        while let newline = pending.firstIndex(of: 10) {
                            let line = pending[..<newline]
                            let now = wallNanos()
                            if let start = line.firstIndex(ofBytes: marker) {
                                let digits = line[(start + marker.count)...].prefix { $0 >= 48 && $0 <= 57 }
                                if let sent = Int64(String(decoding: digits, as: UTF8.self)) { delays.append(Double(now - sent) / 1000) }
                            }
                            pending.removeSubrange(...newline)
                            if delays.count == expected { return delays }
                        }
                    }
                    return delays
                }
            }
            var connected = 0
            for await _ in ready.stream {
                connected += 1
                if connected == watchers { break }
            }
            let start = ContinuousClock.now
            if rate > 0 {
                // Paced: one create every 1/rate seconds, to measure delivery delay without queueing.
                let interval = Duration.nanoseconds(1_000_000_000 / rate)
                var next = ContinuousClock.now
                for i in 0..<expected {
                    next += interval
                    let body = #"{"metadata":{"name":"w\#(i)"},"data":{"t":"\#(wallNanos())"}}"#
                    _ = try? await client.send(.POST, base, body: body)
                    try? await Task.sleep(until: next)
                }
            } else {
                await withTaskGroup(of: Void.self) { producers in
                    for worker in 0..<8 {
                        producers.addTask {
                            for i in stride(from: worker, to: expected, by: 8) {
                                let body = #"{"metadata":{"name":"w\#(i)"},"data":{"t":"\#(wallNanos())"}}"#
                                _ = try? await client.send(.POST, base, body: body)
                            }
                        }
                    }
                }
            }
            var all: [Double] = []
            for try await delays in group { all += delays }
            let elapsed = ContinuousClock.now - start
            return (all, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        let stats = RunStats(operations: result.0.count, errors: watchers * expected - result.0.count, seconds: result.1, latenciesMicros: result.0)
        print(stats.line("watch events to \(watchers) watchers" + (rate > 0 ? " at \(rate)/s" : "")))
    }
}
