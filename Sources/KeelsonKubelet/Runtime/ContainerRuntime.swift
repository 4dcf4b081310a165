import Foundation

/// What the kubelet needs from a container runtime, in the kubelet's own terms rather than CRI messages, so the
/// pod workers can be tested against `FakeContainerRuntime` and run against `CRIRuntime` unchanged.
public protocol ContainerRuntime: Sendable {
    func version() async throws -> RuntimeVersion
    /// Whether the runtime can run containers, and whether it can give pods a network.
    func status() async throws -> RuntimeReadiness

    func runSandbox(_ config: SandboxConfig) async throws -> String
    func stopSandbox(_ id: String) async throws
    func removeSandbox(_ id: String) async throws
    func sandboxStatus(_ id: String) async throws -> SandboxStatus
    func listSandboxes() async throws -> [SandboxStatus]

    func createContainer(in sandboxID: String, _ config: ContainerConfig, sandbox: SandboxConfig) async throws -> String
    func startContainer(_ id: String) async throws
    /// Stops with SIGTERM, then SIGKILL after `gracePeriod` seconds (0: at once).
    func stopContainer(_ id: String, gracePeriod: Int64) async throws
    func removeContainer(_ id: String) async throws
    func listContainers() async throws -> [ContainerInfo]
    func containerStatus(_ id: String) async throws -> ContainerInfo

    /// The image's ID when the image is present, nil otherwise.
    func imageID(_ image: String) async throws -> String?
    func pullImage(_ image: String, auth: RegistryAuth?) async throws -> String
    /// The images the runtime holds, for image garbage collection.
    func listImages() async throws -> [RuntimeImage]
    func removeImage(_ id: String) async throws
    func execSync(_ containerID: String, command: [String], timeout: Int64) async throws -> ExecResult
    /// The runtime's streaming-server URL for an interactive session: a command run in the container (`exec`),
    /// or the container's own stdio (`attach`, which ignores `command`).
    func streamURL(_ request: StreamRequest) async throws -> String
    /// Makes the runtime write a container's log to a new file at its path (after the old one was renamed).
    func reopenContainerLog(_ containerID: String) async throws
    /// Each running container's writable-layer usage, by container ID.
    func writableLayers() async throws -> [String: WritableLayerUsage]
}

extension ContainerRuntime {
    /// Runtimes that cannot measure layers (the fake one) report none.
    public func writableLayers() async throws -> [String: WritableLayerUsage] { [:] }
}

/// An image the runtime holds: its ID (`sha256:…`), the names it goes by, and its size on disk.
public struct RuntimeImage: Sendable, Equatable {
    public var id: String
    public var tags: [String]
    public var size: UInt64

    public init(id: String, tags: [String], size: UInt64) {
        self.id = id
        self.tags = tags
        self.size = size
    }
}

public struct StreamRequest: Sendable, Equatable {
    public enum Kind: String, Sendable { case exec, attach }
    public var kind: Kind
    public var containerID: String
    public var command: [String]
    public var tty: Bool
    public var stdin: Bool
    public var stdout: Bool
    public var stderr: Bool

    public init(kind: Kind, containerID: String, command: [String], tty: Bool, stdin: Bool, stdout: Bool, stderr: Bool) {
        self.kind = kind
        self.containerID = containerID
        self.command = command
        self.tty = tty
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
    }
}

public struct RuntimeVersion: Sendable, Equatable {
    public var name: String
    public var version: String
    public init(name: String, version: String) { (self.name, self.version) = (name, version) }
}

public struct RuntimeReadiness: Sendable, Equatable {
    public var runtimeReady: Bool
    public var networkReady: Bool
    public var message: String
    public init(runtimeReady: Bool, networkReady: Bool, message: String = "") {
        (self.runtimeReady, self.networkReady, self.message) = (runtimeReady, networkReady, message)
    }
}

/// The kubelet's labels on sandboxes and containers, which is how it finds its pods again after a restart.
public enum RuntimeLabels {
    public static let podName = "io.kubernetes.pod.name"
    public static let podNamespace = "io.kubernetes.pod.namespace"
    public static let podUID = "io.kubernetes.pod.uid"
    public static let containerName = "io.kubernetes.container.name"
    /// Annotations: how many times the container was restarted, and the grace period to stop it with.
    public static let restartCount = "io.kubernetes.container.restartCount"
    public static let terminationGracePeriod = "io.kubernetes.pod.terminationGracePeriod"
}

public struct SandboxConfig: Sendable, Equatable {
    public var name: String
    public var namespace: String
    public var uid: String
    public var attempt: UInt32
    public var hostname: String
    public var logDirectory: String
    public var hostNetwork: Bool
    public var dnsServers: [String] = []
    public var dnsSearches: [String] = []
    public var dnsOptions: [String] = []
    public var ports: [PortMapping] = []
    public var labels: [String: String] = [:]
    public var annotations: [String: String] = [:]
    public var cgroupParent: String = ""

    public struct PortMapping: Sendable, Equatable {
        public var containerPort: Int32
        public var hostPort: Int32
        public var hostIP: String
        public var udp: Bool
    }

    public init(name: String, namespace: String, uid: String, attempt: UInt32, hostname: String, logDirectory: String, hostNetwork: Bool) {
        self.name = name
        self.namespace = namespace
        self.uid = uid
        self.attempt = attempt
        self.hostname = hostname
        self.logDirectory = logDirectory
        self.hostNetwork = hostNetwork
    }
}

public enum SandboxState: Sendable, Equatable { case ready, notReady }

public struct SandboxStatus: Sendable, Equatable {
    public var id: String
    public var podUID: String
    public var podName: String
    public var podNamespace: String
    public var attempt: UInt32
    public var state: SandboxState
    public var createdAt: Int64
    public var ip: String
    public var labels: [String: String]

    public init(id: String, podUID: String, podName: String, podNamespace: String, attempt: UInt32, state: SandboxState,
        createdAt: Int64, ip: String = "", labels: [String: String] = [:])
    {
        self.id = id
        self.podUID = podUID
        self.podName = podName
        self.podNamespace = podNamespace
        self.attempt = attempt
        self.state = state
        self.createdAt = createdAt
        self.ip = ip
        self.labels = labels
    }
}

public struct ContainerConfig: Sendable, Equatable {
    public var name: String
    public var attempt: UInt32
    public var image: String
    public var command: [String] = []
    public var args: [String] = []
    public var workingDir: String = ""
    public var env: [(String, String)] = []
    public var mounts: [Mount] = []
    public var labels: [String: String] = [:]
    public var annotations: [String: String] = [:]
    public var logPath: String = ""
    public var stdin = false
    public var stdinOnce = false
    public var tty = false
    public var cpuShares: Int64 = 0
    public var cpuQuota: Int64 = 0
    public var cpuPeriod: Int64 = 0
    public var memoryLimit: Int64 = 0
    public var runAsUser: Int64?
    public var runAsGroup: Int64?
    public var readOnlyRootFilesystem = false
    public var privileged = false
    public var addCapabilities: [String] = []
    public var dropCapabilities: [String] = []

    public struct Mount: Sendable, Equatable {
        public var containerPath: String
        public var hostPath: String
        public var readOnly: Bool
        public init(containerPath: String, hostPath: String, readOnly: Bool) {
            (self.containerPath, self.hostPath, self.readOnly) = (containerPath, hostPath, readOnly)
        }
    }

    public init(name: String, attempt: UInt32, image: String) {
        (self.name, self.attempt, self.image) = (name, attempt, image)
    }

    public static func == (a: ContainerConfig, b: ContainerConfig) -> Bool {
        a.name == b.name && a.attempt == b.attempt && a.image == b.image && a.command == b.command && a.args == b.args
            && a.env.map { [$0.0, $0.1] } == b.env.map { [$0.0, $0.1] } && a.mounts == b.mounts && a.labels == b.labels
    }
}

public enum ContainerState: Sendable, Equatable { case created, running, exited, unknown }

/// A container as the runtime reports it. Times are nanoseconds since the epoch, 0 when not reached.
public struct ContainerInfo: Sendable, Equatable {
    public var id: String
    public var sandboxID: String
    public var name: String
    public var attempt: UInt32
    public var state: ContainerState
    public var createdAt: Int64
    public var startedAt: Int64 = 0
    public var finishedAt: Int64 = 0
    public var exitCode: Int32 = 0
    public var reason: String = ""
    public var message: String = ""
    public var image: String = ""
    public var imageRef: String = ""
    public var logPath: String = ""
    public var labels: [String: String] = [:]
    public var annotations: [String: String] = [:]

    public init(id: String, sandboxID: String, name: String, attempt: UInt32, state: ContainerState, createdAt: Int64) {
        self.id = id
        self.sandboxID = sandboxID
        self.name = name
        self.attempt = attempt
        self.state = state
        self.createdAt = createdAt
    }

    public var podUID: String { labels[RuntimeLabels.podUID] ?? "" }
}

public struct RegistryAuth: Sendable, Equatable {
    public var username: String
    public var password: String
    public var server: String
    public init(username: String, password: String, server: String) { (self.username, self.password, self.server) = (username, password, server) }
}

public struct ExecResult: Sendable, Equatable {
    public var stdout: Data
    public var stderr: Data
    public var exitCode: Int32
    public init(stdout: Data, stderr: Data, exitCode: Int32) { (self.stdout, self.stderr, self.exitCode) = (stdout, stderr, exitCode) }
}

/// A runtime call that failed, with the runtime's own words.
public struct RuntimeError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case notFound, unavailable, imagePull, other }
    public var kind: Kind
    public var description: String
    public init(_ kind: Kind, _ description: String) { (self.kind, self.description) = (kind, description) }
}
