import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import KeelsonCRIProto

/// `ContainerRuntime` over CRI v1: gRPC on the runtime's unix socket (containerd's, usually).
public final class CRIRuntime: ContainerRuntime {
    typealias Transport = HTTP2ClientTransport.Posix

    private let grpc: GRPCClient<Transport>
    private let runtime: Runtime_V1_RuntimeService.Client<Transport>
    private let images: Runtime_V1_ImageService.Client<Transport>
    private let connections: Task<Void, Never>
    /// Most calls answer in milliseconds; creating a sandbox runs CNI and stopping waits for the grace period,
    /// so those get their own limits.
    private let timeout: Duration

    public init(socketPath: String, timeout: Duration = .seconds(30)) throws {
        // The runtime is a local socket that may still be starting, or restarting: reconnect within a second
        // rather than after gRPC's default back-off (up to two minutes), during which every call would fail.
        let client = GRPCClient(transport: try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: socketPath),
            transportSecurity: .plaintext, config: .defaults { config in
                config.backoff = .init(initial: .milliseconds(100), max: .seconds(1), multiplier: 1.6, jitter: 0.2)
            }))
        self.grpc = client
        self.runtime = Runtime_V1_RuntimeService.Client(wrapping: client)
        self.images = Runtime_V1_ImageService.Client(wrapping: client)
        self.timeout = timeout
        self.connections = Task { try? await client.runConnections() }
    }

    deinit { grpc.beginGracefulShutdown() }

    public func close() async {
        grpc.beginGracefulShutdown()
        await connections.value
    }

    private func options(_ limit: Duration? = nil) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = limit ?? timeout
        return options
    }

    private func call<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RPCError {
            let kind: RuntimeError.Kind = switch error.code {
            case .notFound: .notFound
            case .unavailable, .deadlineExceeded: .unavailable
            default: .other
            }
            throw RuntimeError(kind, "\(what): \(error.message)")
        }
    }

    public func version() async throws -> RuntimeVersion {
        let response = try await call("version") {
            try await runtime.version(.with { $0.version = "v1" }, options: options())
        }
        return RuntimeVersion(name: response.runtimeName, version: response.runtimeVersion)
    }

    public func status() async throws -> RuntimeReadiness {
        let response = try await call("runtime status") { try await runtime.status(.init(), options: options()) }
        var readiness = RuntimeReadiness(runtimeReady: false, networkReady: false)
        var messages: [String] = []
        for condition in response.status.conditions {
            if condition.type == "RuntimeReady" { readiness.runtimeReady = condition.status }
            if condition.type == "NetworkReady" { readiness.networkReady = condition.status }
            if !condition.status && !condition.message.isEmpty { messages.append("\(condition.type): \(condition.message)") }
        }
        readiness.message = messages.joined(separator: "; ")
        return readiness
    }

    public func runSandbox(_ config: SandboxConfig) async throws -> String {
        let request = Runtime_V1_RunPodSandboxRequest.with { $0.config = Self.sandboxMessage(config) }
        return try await call("run sandbox of \(config.namespace)/\(config.name)") {
            try await runtime.runPodSandbox(request, options: options(.seconds(120))).podSandboxID
        }
    }

    public func stopSandbox(_ id: String) async throws {
        _ = try await call("stop sandbox \(id)") {
            try await runtime.stopPodSandbox(.with { $0.podSandboxID = id }, options: options(.seconds(120)))
        }
    }

    public func removeSandbox(_ id: String) async throws {
        _ = try await call("remove sandbox \(id)") {
            try await runtime.removePodSandbox(.with { $0.podSandboxID = id }, options: options(.seconds(120)))
        }
    }

    public func sandboxStatus(_ id: String) async throws -> SandboxStatus {
        let response = try await call("sandbox status \(id)") {
            try await runtime.podSandboxStatus(.with { $0.podSandboxID = id }, options: options())
        }
        let status = response.status
        return SandboxStatus(id: status.id, podUID: status.metadata.uid, podName: status.metadata.name,
            podNamespace: status.metadata.namespace, attempt: status.metadata.attempt,
            state: status.state == .sandboxReady ? .ready : .notReady, createdAt: status.createdAt,
            ip: status.network.ip, labels: status.labels)
    }

    public func listSandboxes() async throws -> [SandboxStatus] {
        let response = try await call("list sandboxes") { try await runtime.listPodSandbox(.init(), options: options()) }
        return response.items.map { item in
            SandboxStatus(id: item.id, podUID: item.metadata.uid, podName: item.metadata.name, podNamespace: item.metadata.namespace,
                attempt: item.metadata.attempt, state: item.state == .sandboxReady ? .ready : .notReady, createdAt: item.createdAt,
                labels: item.labels)
        }
    }

    public func createContainer(in sandboxID: String, _ config: ContainerConfig, sandbox: SandboxConfig) async throws -> String {
        let request = Runtime_V1_CreateContainerRequest.with {
            $0.podSandboxID = sandboxID
            $0.config = Self.containerMessage(config, hostNetwork: sandbox.hostNetwork)
            $0.sandboxConfig = Self.sandboxMessage(sandbox)
        }
        return try await call("create container \(config.name)") {
            try await runtime.createContainer(request, options: options()).containerID
        }
    }

    public func startContainer(_ id: String) async throws {
        _ = try await call("start container \(id)") {
            try await runtime.startContainer(.with { $0.containerID = id }, options: options(.seconds(120)))
        }
    }

    public func stopContainer(_ id: String, gracePeriod: Int64) async throws {
        _ = try await call("stop container \(id)") {
            try await runtime.stopContainer(.with { $0.containerID = id; $0.timeout = gracePeriod },
                options: options(.seconds(gracePeriod + 30)))
        }
    }

    public func removeContainer(_ id: String) async throws {
        _ = try await call("remove container \(id)") {
            try await runtime.removeContainer(.with { $0.containerID = id }, options: options())
        }
    }

    public func listContainers() async throws -> [ContainerInfo] {
        let response = try await call("list containers") { try await runtime.listContainers(.init(), options: options()) }
        return response.containers.map { item in
            var info = ContainerInfo(id: item.id, sandboxID: item.podSandboxID, name: item.metadata.name, attempt: item.metadata.attempt,
                state: Self.state(item.state), createdAt: item.createdAt)
            info.image = item.image.image
            info.imageRef = item.imageRef
            info.labels = item.labels
            info.annotations = item.annotations
            return info
        }
    }

    public func writableLayers() async throws -> [String: WritableLayerUsage] {
        let response = try await call("list container stats") { try await runtime.listContainerStats(.init(), options: options()) }
        var usage: [String: WritableLayerUsage] = [:]
        for stats in response.stats where stats.hasWritableLayer && stats.writableLayer.hasUsedBytes {
            usage[stats.attributes.id] = WritableLayerUsage(bytes: stats.writableLayer.usedBytes.value,
                inodes: stats.writableLayer.hasInodesUsed ? stats.writableLayer.inodesUsed.value : nil)
        }
        return usage
    }

    public func containerStatus(_ id: String) async throws -> ContainerInfo {
        let response = try await call("container status \(id)") {
            try await runtime.containerStatus(.with { $0.containerID = id }, options: options())
        }
        let status = response.status
        var info = ContainerInfo(id: status.id, sandboxID: "", name: status.metadata.name, attempt: status.metadata.attempt,
            state: Self.state(status.state), createdAt: status.createdAt)
        info.startedAt = status.startedAt
        info.finishedAt = status.finishedAt
        info.exitCode = status.exitCode
        info.reason = status.reason
        info.message = status.message
        info.image = status.image.image
        info.imageRef = status.imageRef
        info.logPath = status.logPath
        info.labels = status.labels
        info.annotations = status.annotations
        return info
    }

    public func imageID(_ image: String) async throws -> String? {
        let response = try await call("image status \(image)") {
            try await images.imageStatus(.with { $0.image.image = image }, options: options())
        }
        return response.hasImage ? response.image.id : nil
    }

    public func pullImage(_ image: String, auth: RegistryAuth?) async throws -> String {
        let request = Runtime_V1_PullImageRequest.with {
            $0.image.image = image
            if let auth {
                $0.auth.username = auth.username
                $0.auth.password = auth.password
                // containerd parses the address as a URL (and compares its host): a bare HOST:PORT would not parse.
                $0.auth.serverAddress = auth.server.contains("://") ? auth.server : "https://" + auth.server
            }
        }
        do {
            return try await images.pullImage(request, options: options(.seconds(600))).imageRef
        } catch let error as RPCError {
            throw RuntimeError(.imagePull, error.message)
        }
    }

    public func listImages() async throws -> [RuntimeImage] {
        let response = try await call("list images") { try await images.listImages(.init(), options: options()) }
        return response.images.map { RuntimeImage(id: $0.id, tags: $0.repoTags, size: $0.size) }
    }

    public func removeImage(_ id: String) async throws {
        _ = try await call("remove image \(id)") {
            try await images.removeImage(.with { $0.image.image = id }, options: options(.seconds(60)))
        }
    }

    public func execSync(_ containerID: String, command: [String], timeout: Int64) async throws -> ExecResult {
        let response = try await call("exec in \(containerID)") {
            try await runtime.execSync(.with { $0.containerID = containerID; $0.cmd = command; $0.timeout = timeout },
                options: options(.seconds(timeout + 10)))
        }
        return ExecResult(stdout: response.stdout, stderr: response.stderr, exitCode: response.exitCode)
    }

    public func reopenContainerLog(_ containerID: String) async throws {
        _ = try await call("reopen the log of \(containerID)") {
            try await runtime.reopenContainerLog(.with { $0.containerID = containerID }, options: options())
        }
    }

    public func streamURL(_ request: StreamRequest) async throws -> String {
        switch request.kind {
        case .exec:
            return try await call("exec in \(request.containerID)") {
                try await runtime.exec(.with {
                    $0.containerID = request.containerID
                    $0.cmd = request.command
                    $0.tty = request.tty
                    $0.stdin = request.stdin
                    $0.stdout = request.stdout
                    // With a terminal, stderr is merged into stdout: CRI refuses both.
                    $0.stderr = request.stderr && !request.tty
                }, options: options()).url
            }
        case .attach:
            return try await call("attach to \(request.containerID)") {
                try await runtime.attach(.with {
                    $0.containerID = request.containerID
                    $0.tty = request.tty
                    $0.stdin = request.stdin
                    $0.stdout = request.stdout
                    $0.stderr = request.stderr && !request.tty
                }, options: options()).url
            }
        }
    }

    // MARK: Messages

    private static func state(_ state: Runtime_V1_ContainerState) -> ContainerState {
        switch state {
        case .containerCreated: .created
        case .containerRunning: .running
        case .containerExited: .exited
        default: .unknown
        }
    }

    static func sandboxMessage(_ config: SandboxConfig) -> Runtime_V1_PodSandboxConfig {
        .with {
            $0.metadata = .with {
                $0.name = config.name
                $0.namespace = config.namespace
                $0.uid = config.uid
                $0.attempt = config.attempt
            }
            $0.hostname = config.hostname
            $0.logDirectory = config.logDirectory
            if !config.dnsServers.isEmpty || !config.dnsSearches.isEmpty {
                $0.dnsConfig = .with {
                    $0.servers = config.dnsServers
                    $0.searches = config.dnsSearches
                    $0.options = config.dnsOptions
                }
            }
            $0.portMappings = config.ports.map { port in
                .with {
                    $0.containerPort = port.containerPort
                    $0.hostPort = port.hostPort
                    $0.hostIp = port.hostIP
                    $0.protocol = port.udp ? .udp : .tcp
                }
            }
            $0.labels = config.labels
            $0.annotations = config.annotations
            $0.linux = .with {
                $0.cgroupParent = config.cgroupParent
                $0.securityContext.namespaceOptions = .with {
                    $0.network = config.hostNetwork ? .node : .pod
                    $0.pid = .container
                    $0.ipc = .pod
                }
            }
        }
    }

    static func containerMessage(_ config: ContainerConfig, hostNetwork: Bool) -> Runtime_V1_ContainerConfig {
        .with {
            $0.metadata = .with { $0.name = config.name; $0.attempt = config.attempt }
            $0.image.image = config.image
            $0.command = config.command
            $0.args = config.args
            $0.workingDir = config.workingDir
            $0.envs = config.env.map { pair in .with { $0.key = pair.0; $0.value = pair.1 } }
            $0.mounts = config.mounts.map { mount in
                .with { $0.containerPath = mount.containerPath; $0.hostPath = mount.hostPath; $0.readonly = mount.readOnly }
            }
            $0.labels = config.labels
            $0.annotations = config.annotations
            $0.logPath = config.logPath
            $0.stdin = config.stdin
            $0.stdinOnce = config.stdinOnce
            $0.tty = config.tty
            $0.linux = .with {
                $0.resources = .with {
                    $0.cpuShares = config.cpuShares
                    $0.cpuQuota = config.cpuQuota
                    $0.cpuPeriod = config.cpuPeriod
                    $0.memoryLimitInBytes = config.memoryLimit
                }
                $0.securityContext = .with {
                    if let user = config.runAsUser { $0.runAsUser.value = user }
                    if let group = config.runAsGroup { $0.runAsGroup.value = group }
                    $0.readonlyRootfs = config.readOnlyRootFilesystem
                    $0.privileged = config.privileged
                    $0.capabilities = .with {
                        $0.addCapabilities = config.addCapabilities
                        $0.dropCapabilities = config.dropCapabilities
                    }
                    $0.namespaceOptions = .with { $0.network = hostNetwork ? .node : .pod; $0.pid = .container; $0.ipc = .pod }
                }
            }
        }
    }
}
