import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The agent's own containerd, as k3s runs it: a child process with a config generated under
/// `DATA_DIR/agent/containerd/` (runc, overlayfs, Debian's CNI plugins, the sandbox image), restarted when it
/// dies, stopped with the agent. Image archives in `DATA_DIR/agent/images/*.tar` are imported once it answers,
/// and the bridge CNI config is written once the node's pod CIDR is known.
public final class ContainerdSupervisor: Service, Sendable {
    public struct Configuration: Sendable {
        /// `DATA_DIR/agent`.
        public var agentDirectory: URL
        public var sandboxImage = "keelson.local/pause:1.0"
        public var cniBinDirectory = "/usr/lib/cni"
        /// containerd's streaming server (exec, attach, port-forward), on the node's loopback.
        public var streamPort = 10010
        public var bridgeName = "keelson0"
        public var binary = "containerd"

        public init(agentDirectory: URL) { self.agentDirectory = agentDirectory }

        public var directory: URL { agentDirectory.appendingPathComponent("containerd") }
        public var socketPath: String { directory.appendingPathComponent("containerd.sock").path }
        var cniConfigDirectory: URL { directory.appendingPathComponent("cni/net.d") }
    }

    public let configuration: Configuration
    let logger: Logger
    private let child = Mutex<Process?>(nil)
    private let answered = Atomic(false)

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public var socketPath: String { configuration.socketPath }

    public func run() async throws {
        try writeConfig()
        let runtime = try CRIRuntime(socketPath: socketPath, timeout: .seconds(5))
        defer { Task { await runtime.close() } }
        var restarts = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let process = try start()
            do {
                if try await waitUntilAnswering(runtime, process) {
                    await importImages()
                    answered.store(true, ordering: .releasing)
                }
            } catch {
                // Cancelled while starting (another service failed, say): containerd must not outlive the agent.
                await stop(process)
                throw error
            }
            // Wait for it to die or for shutdown, whichever comes first.
            let exited = await cancelWhenGracefulShutdownOrExit(process)
            if !exited {
                await stop(process)
                return
            }
            restarts += 1
            logger.warning("containerd exited; restarting it", metadata: ["status": "\(process.terminationStatus)", "restarts": "\(restarts)"])
            try? await Task.sleep(for: .seconds(min(restarts, 5)))
        }
    }

    /// Returns once containerd has answered for the first time (or the task is cancelled).
    public func waitUntilReady() async throws {
        while !answered.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(50)) }
    }

    /// The bridge network of the node's pods: one bridge, host-local addresses from the pod CIDR, the bridge as
    /// the pods' gateway, and portmap for hostPorts. No masquerade here: the bridge plugin's would hide pods'
    /// addresses from pods on other nodes; `HostGatewayNetwork` masquerades only what leaves the cluster network.
    public func writeNetworkConfig(podCIDR: String) throws {
        let directory = configuration.cniConfigDirectory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let ipam = configuration.directory.appendingPathComponent("cni/ipam").path
        let config = """
            {
              "cniVersion": "1.0.0",
              "name": "keelson",
              "plugins": [
                {"type": "bridge", "bridge": "\(configuration.bridgeName)", "isGateway": true, "ipMasq": false, "hairpinMode": true,
                 "ipam": {"type": "host-local", "dataDir": "\(ipam)", "ranges": [[{"subnet": "\(podCIDR)"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
                {"type": "portmap", "capabilities": {"portMappings": true}}
              ]
            }
            """
        let file = directory.appendingPathComponent("10-keelson.conflist")
        if (try? String(contentsOf: file, encoding: .utf8)) != config {
            try config.write(to: file, atomically: true, encoding: .utf8)
        }
    }

    func writeConfig() throws {
        let c = configuration
        let directory = c.directory
        for sub in ["root", "state", "opt", "runc", "cni/net.d", "cni/ipam"] {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        // restrict_oom_score_adj: where the agent lacks CAP_SYS_RESOURCE (in a container, say), containerd must not
        // ask runc to lower a sandbox's OOM score below the agent's own, or every sandbox fails to start.
        let toml = """
            version = 2
            root = "\(directory.appendingPathComponent("root").path)"
            state = "\(directory.appendingPathComponent("state").path)"
            [grpc]
              address = "\(c.socketPath)"
            [ttrpc]
              address = "\(c.socketPath).ttrpc"
            [plugins."io.containerd.internal.v1.opt"]
              path = "\(directory.appendingPathComponent("opt").path)"
            [plugins."io.containerd.grpc.v1.cri"]
              sandbox_image = "\(c.sandboxImage)"
              stream_server_address = "127.0.0.1"
              stream_server_port = "\(c.streamPort)"
              enable_tls_streaming = false
              netns_mounts_under_state_dir = true
              disable_tcp_service = true
              restrict_oom_score_adj = true
              [plugins."io.containerd.grpc.v1.cri".cni]
                bin_dir = "\(c.cniBinDirectory)"
                conf_dir = "\(c.cniConfigDirectory.path)"
                max_conf_num = 1
              [plugins."io.containerd.grpc.v1.cri".containerd]
                snapshotter = "overlayfs"
                default_runtime_name = "runc"
                [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
                  runtime_type = "io.containerd.runc.v2"
                  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
                    SystemdCgroup = false
                    Root = "\(directory.appendingPathComponent("runc").path)"
            \(registriesConfig())
            """
        try toml.write(to: directory.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
    }

    /// Mirrors from `DATA_DIR/agent/registries.yaml`, in k3s's format reduced to what containerd 1.6's CRI takes:
    /// `mirrors: {REGISTRY: {endpoint: [URL, …]}}`.
    func registriesConfig() -> String {
        let file = configuration.agentDirectory.appendingPathComponent("registries.yaml")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return "" }
        var out = ""
        var registry: String?
        var inMirrors = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            let indent = line.prefix { $0 == " " }.count
            if indent == 0 { inMirrors = trimmed == "mirrors:"; continue }
            guard inMirrors else { continue }
            if indent == 2, trimmed.hasSuffix(":") {
                registry = String(trimmed.dropLast()).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            } else if let registry, trimmed.hasPrefix("endpoint:") || trimmed.hasPrefix("- ") {
                let values = trimmed.hasPrefix("- ") ? [String(trimmed.dropFirst(2))]
                    : trimmed.dropFirst("endpoint:".count).trimmingCharacters(in: CharacterSet(charactersIn: " []")).split(separator: ",").map(String.init)
                let endpoints = values.map { "\"\($0.trimmingCharacters(in: CharacterSet(charactersIn: " \"'")))\"" }.filter { $0 != "\"\"" }
                guard !endpoints.isEmpty else { continue }
                out += "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"\(registry)\"]\n  endpoint = [\(endpoints.joined(separator: ", "))]\n"
            }
        }
        return out
    }

    private func start() throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.find(configuration.binary))
        process.arguments = ["--config", configuration.directory.appendingPathComponent("config.toml").path]
        let logURL = configuration.directory.appendingPathComponent("containerd.log")
        if !FileManager.default.fileExists(atPath: logURL.path) { _ = FileManager.default.createFile(atPath: logURL.path, contents: nil) }
        let log = try FileHandle(forWritingTo: logURL)
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        child.withLock { $0 = process }
        return process
    }

    private func waitUntilAnswering(_ runtime: CRIRuntime, _ process: Process) async throws -> Bool {
        for _ in 0..<600 {
            guard process.isRunning else { return false }
            if (try? await runtime.version()) != nil { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        logger.error("containerd did not answer within 30 s", metadata: ["log": "\(configuration.directory.appendingPathComponent("containerd.log").path)"])
        return false
    }

    /// True when the process exited by itself, false when shutdown began first.
    private func cancelWhenGracefulShutdownOrExit(_ process: Process) async -> Bool {
        do {
            try await cancelWhenGracefulShutdown {
                while process.isRunning { try await Task.sleep(for: .milliseconds(200)) }
            }
        } catch {
            return false
        }
        return !Task.isShuttingDownGracefully
    }

    /// SIGTERM, then SIGKILL after 10 s. The wait runs in a task of its own, so a cancelled caller still waits.
    private func stop(_ process: Process) async {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        await Task {
            for _ in 0..<100 where process.isRunning { try? await Task.sleep(for: .milliseconds(100)) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }.value
    }

    /// Imports every `*.tar` image archive with containerd's own client into the namespace the CRI uses (on a
    /// thread of its own: it waits for a child process).
    func importImages() async {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                self.importImagesNow()
                continuation.resume()
            }
        }
    }

    private func importImagesNow() {
        let directory = configuration.agentDirectory.appendingPathComponent("images")
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return }
        for file in files.sorted() where file.hasSuffix(".tar") {
            let process = Process()
            do {
                process.executableURL = URL(fileURLWithPath: try Self.find("ctr"))
                process.arguments = ["--address", socketPath, "--namespace", "k8s.io", "images", "import", directory.appendingPathComponent(file).path]
                process.standardOutput = FileHandle.nullDevice
                let errors = Pipe()
                process.standardError = errors
                try process.run()
                let message = errors.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                if process.terminationStatus != 0 {
                    logger.error("image import failed", metadata: ["file": "\(file)", "error": "\(String(decoding: message, as: UTF8.self))"])
                }
            } catch {
                logger.error("image import failed", metadata: ["file": "\(file)", "error": "\(error)"])
            }
        }
    }

    public static func find(_ binary: String) throws -> String {
        if binary.hasPrefix("/") { return binary }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(binary)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw MissingBinary(name: binary)
    }

    public struct MissingBinary: Error, CustomStringConvertible {
        public var name: String
        public var description: String {
            "\(name) is not installed: the node agent runs containers with containerd, runc and the CNI plugins "
                + "(Debian: apt-get install containerd runc containernetworking-plugins), or pass --disable-agent"
        }
    }
}
