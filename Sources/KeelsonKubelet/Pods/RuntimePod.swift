import KeelsonAPI

/// What the runtime has of one pod: its sandboxes and containers, found by the pod-UID label.
public struct RuntimePod: Sendable, Equatable {
    public var sandboxes: [SandboxStatus]
    public var containers: [ContainerInfo]

    public init(sandboxes: [SandboxStatus] = [], containers: [ContainerInfo] = []) {
        self.sandboxes = sandboxes.sorted { ($0.attempt, $0.createdAt) > ($1.attempt, $1.createdAt) }
        self.containers = containers
    }

    /// The newest sandbox: the one containers are started in.
    public var sandbox: SandboxStatus? { sandboxes.first }

    /// Every instance of the named container, newest first.
    public func instances(of name: String) -> [ContainerInfo] {
        containers.filter { $0.name == name }.sorted { ($0.attempt, $0.createdAt) > ($1.attempt, $1.createdAt) }
    }

    public func latest(_ name: String) -> ContainerInfo? { instances(of: name).first }

    public var hasRunningContainers: Bool { containers.contains { $0.state == .running } }
}

/// The parts of a pod spec the pod worker reads, parsed once per sync.
struct PodSpecView {
    enum RestartPolicy: String { case always = "Always", onFailure = "OnFailure", never = "Never" }

    let pod: JSONValue
    let restartPolicy: RestartPolicy
    let initContainers: [JSONValue]
    let containers: [JSONValue]

    init(_ pod: JSONValue) {
        self.pod = pod
        restartPolicy = RestartPolicy(rawValue: pod["spec"]?["restartPolicy"]?.stringValue ?? "Always") ?? .always
        initContainers = pod["spec"]?["initContainers"]?.arrayValue ?? []
        containers = pod["spec"]?["containers"]?.arrayValue ?? []
    }

    var uid: String { pod.uid ?? "" }
    var name: String { pod.name ?? "" }
    var namespace: String { pod.namespace ?? "default" }
    var hostNetwork: Bool { pod["spec"]?["hostNetwork"]?.boolValue == true }
    var isDeleting: Bool { pod.deletionTimestamp != nil }

    /// An init container with `restartPolicy: Always` is a sidecar: started in order, then kept running.
    static func isSidecar(_ container: JSONValue) -> Bool { container["restartPolicy"]?.stringValue == "Always" }

    /// Seconds the containers get between SIGTERM and SIGKILL.
    var gracePeriod: Int64 {
        pod["metadata"]?["deletionGracePeriodSeconds"]?.intValue ?? pod["spec"]?["terminationGracePeriodSeconds"]?.intValue ?? 30
    }
}
