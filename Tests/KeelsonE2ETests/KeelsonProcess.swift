import Foundation
import KeelsonAPI
import Testing
import KeelsonTestKit

/// A `keelson server` started from the built binary on a temporary data dir and a free loopback port, and the
/// real kubectl pointed at it through the kubeconfig the server writes.
final class KeelsonProcess: @unchecked Sendable {
    let dataDir: URL
    let port: Int
    let extraArguments: [String]
    /// Set when the server runs its node agent with real containers, inside this namespace.
    let node: NodeSandbox?
    /// The address the node agent advertises (`--node-ip`).
    let nodeIP: String
    private var process: Process?
    private let logURL: URL

    var kubeconfig: String { dataDir.appendingPathComponent("kubeconfig.yaml").path }

    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["KEELSON_BINARY"] { return URL(fileURLWithPath: path) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for configuration in ["debug", "release"] {
            let candidate = root.appendingPathComponent(".build/\(configuration)/keelson")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return root.appendingPathComponent(".build/debug/keelson")
    }

    /// The directory of the versioned kubectl binaries (`kubectl.1.30`, …) beside the one on PATH.
    static let kubectlDirectory: String? = {
        guard let onPath = try? run("/bin/sh", ["-c", "readlink -f \"$(command -v kubectl)\""]).stdout, !onPath.isEmpty else { return nil }
        return (onPath.trimmingCharacters(in: .whitespacesAndNewlines) as NSString).deletingLastPathComponent
    }()

    init(dataDir: URL? = nil, extraArguments: [String] = [], node: NodeSandbox? = nil, nodeIP: String = "127.0.0.1") throws {
        self.extraArguments = extraArguments
        self.node = node
        self.nodeIP = nodeIP
        self.dataDir = dataDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("keelson-e2e-\(UUID().uuidString)")
        self.port = try Self.freePort()
        self.logURL = self.dataDir.deletingLastPathComponent().appendingPathComponent("\(self.dataDir.lastPathComponent).log")
        try FileManager.default.createDirectory(at: self.dataDir, withIntermediateDirectories: true)
    }

    /// Asks the kernel for an unused loopback port.
    static func freePort() throws -> Int { try EtcdServer.freePort() }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Starts the server; `extraArguments` replaces the ones given at creation for this start.
    func start(extraArguments: [String]? = nil) async throws {
        let extraArguments = extraArguments ?? self.extraArguments
        try? FileManager.default.removeItem(atPath: kubeconfig)
        let process = Process()
        let arguments = ["server", "--data-dir", dataDir.path, "--https-listen-port", String(port)]
        if let node {
            try node.installImages(into: dataDir)
            // The node has no resolver: names outside the cluster fail at once, and no query of a test leaves
            // its namespace.
            let resolvConf = dataDir.appendingPathComponent("resolv.conf")
            try "# no nameserver\n".write(to: resolvConf, atomically: true, encoding: .utf8)
            let agent = ["--node-name", "node-1", "--node-ip", nodeIP, "--cgroup-root", node.cgroupRoot, "--resolv-conf", resolvConf.path]
            let (executable, wrapped) = node.wrap(Self.binary.path, arguments + agent + extraArguments)
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = wrapped
        } else {
            process.executableURL = Self.binary
            process.arguments = arguments + ["--disable-agent"] + extraArguments
        }
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        // The kubeconfig appears once the API answers; waiting for it is waiting for readiness.
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: kubeconfig) {
            guard process.isRunning else { throw Failure("keelson exited early: \(self.log)") }
            guard Date() < deadline else { throw Failure("keelson did not become ready in 30 s: \(self.log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }
    var isRunning: Bool { process?.isRunning ?? false }
    var pid: Int32 { process?.processIdentifier ?? 0 }

    /// SIGTERM, then wait for a clean exit; returns the exit status.
    @discardableResult
    func stop() async throws -> Int32 {
        guard let process, process.isRunning else { return process?.terminationStatus ?? 0 }
        process.terminate()
        let deadline = Date().addingTimeInterval(15)
        while process.isRunning {
            guard Date() < deadline else {
                kill(process.processIdentifier, SIGKILL)
                throw Failure("keelson did not stop within 15 s of SIGTERM")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// SIGKILL: the crash a durable store must survive.
    func crash() async throws {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
    }

    func cleanUp() {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
        node?.destroy(dataDir: dataDir)
        try? FileManager.default.removeItem(at: dataDir)
        try? FileManager.default.removeItem(at: logURL)
    }

    typealias Output = Command.Output

    /// Runs kubectl (or a versioned `kubectl.1.xx`) against this server, off Swift's cooperative thread pool: a
    /// child process is waited for by blocking, which must never hold one of the pool's few threads.
    @discardableResult
    func kubectl(_ arguments: [String], version: String? = nil, stdin: String? = nil, environment: [String: String] = [:]) async throws -> Output {
        var binary: String
        if let version, let directory = Self.kubectlDirectory {
            binary = (directory as NSString).appendingPathComponent("kubectl.\(version)")
        } else {
            binary = "/usr/bin/env"
        }
        var args = binary == "/usr/bin/env" ? ["kubectl"] + arguments : arguments
        if let node {
            (binary, args) = node.wrap(binary, args)
        }
        var env = ProcessInfo.processInfo.environment
        env["KUBECONFIG"] = kubeconfig
        env.merge(environment) { $1 }
        let finalEnvironment = env
        let (executable, finalArguments) = (binary, args)
        return try await Command.offPool { try Command.run(executable, finalArguments, stdin: stdin, environment: finalEnvironment) }
    }

    /// kubectl that must succeed; its stdout.
    @discardableResult
    func kubectlOK(_ arguments: [String], version: String? = nil, stdin: String? = nil, environment: [String: String] = [:],
        sourceLocation: SourceLocation = #_sourceLocation) async throws -> String
    {
        let output = try await kubectl(arguments, version: version, stdin: stdin, environment: environment)
        #expect(output.status == 0, "kubectl \(arguments.joined(separator: " ")) failed: \(output.stderr)", sourceLocation: sourceLocation)
        return output.stdout
    }

    /// Runs another `keelson` subcommand to its end, off the cooperative pool as `kubectl` does.
    static func keelson(_ arguments: [String]) async throws -> Output {
        let binary = Self.binary.path
        return try await Command.offPool { try Command.run(binary, arguments) }
    }

    static func run(_ executable: String, _ arguments: [String], stdin: String? = nil, environment: [String: String]? = nil) throws -> Output {
        try Command.run(executable, arguments, stdin: stdin, environment: environment)
    }
}

/// Another `keelson` subcommand (a controller manager, say) run beside a server, killed when the test ends.
final class KeelsonChild: @unchecked Sendable {
    let process = Process()
    let logURL = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-child-\(UUID().uuidString).log")

    init(_ arguments: [String]) throws {
        process.executableURL = KeelsonProcess.binary
        process.arguments = arguments
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    func crash() async throws {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: logURL)
    }
}

/// Starts a server for the body of one test and always cleans it up.
func withKeelson(extraArguments: [String] = [], _ body: (KeelsonProcess) async throws -> Void) async throws {
    try await ClusterSlots.with {
        let server = try KeelsonProcess(extraArguments: extraArguments)
        defer { server.cleanUp() }
        try await server.start()
        do {
            try await body(server)
        } catch {
            Issue.record("server log:\n\(server.log)")
            throw error
        }
    }
}

/// How many end-to-end tests run their clusters at the same time. Swift Testing starts every test at once: dozens of
/// servers, etcds and kubectls starting together on two cores starved each other and every wait in this process
/// (an etcd client's keepalive, a DNS test's timer, a test's own API client), so that waits meant for a slow
/// cluster ran out on a starved one. A test holds one slot however many servers it starts (nested calls pass).
actor ClusterSlots {
    static let shared = ClusterSlots(limit: 3)
    @TaskLocal static var holding = false

    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { free = limit }

    private func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty {
            free += 1
        } else {
            waiting.removeFirst().resume()
        }
    }

    static func with<T>(_ body: () async throws -> T) async throws -> T {
        if holding { return try await body() }
        await shared.acquire()
        do {
            let result = try await $holding.withValue(true) { try await body() }
            await shared.release()
            return result
        } catch {
            await shared.release()
            throw error
        }
    }
}

/// Runs each test of a suite that starts its servers itself inside a `ClusterSlots` slot.
struct ClusterSlot: TestTrait, SuiteTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        // The suite itself needs no slot; its tests (and test cases) each take one.
        guard !test.isSuite else { return try await function() }
        try await ClusterSlots.with { try await function() }
    }
}

extension Trait where Self == ClusterSlot {
    static var clusterSlot: ClusterSlot { ClusterSlot() }
}
