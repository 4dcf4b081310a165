import Foundation

/// A running container the housekeeping samples, as the kubelet knows it.
public struct ContainerTarget: Sendable, Equatable {
    public var id: String
    public var name: String
    public var image: String
    public var startTime: Date
    /// The container's cgroup, e.g. `/keelson/podUID/ID`.
    public var cgroup: String
    /// Bytes in the container's writable layer, as the runtime reports it; nil when unknown.
    public var writableLayerBytes: UInt64?
    public var writableLayerInodes: UInt64?

    public init(id: String, name: String, image: String, startTime: Date, cgroup: String) {
        self.id = id
        self.name = name
        self.image = image
        self.startTime = startTime
        self.cgroup = cgroup
    }
}

/// A pod the housekeeping samples: its own cgroup (all its containers, the sandbox included), its containers,
/// and the directories of the volumes that use the node's disk.
public struct PodTarget: Sendable, Equatable {
    public var name: String
    public var namespace: String
    public var uid: String
    public var startTime: Date
    public var cgroup: String
    public var containers: [ContainerTarget]
    /// Volume name → directory (emptyDir and the other node-local volumes).
    public var volumes: [String: String]
    /// Directory holding the pod's container logs.
    public var logDirectory: String?

    public init(name: String, namespace: String, uid: String, startTime: Date, cgroup: String, containers: [ContainerTarget],
                volumes: [String: String] = [:], logDirectory: String? = nil) {
        self.name = name
        self.namespace = namespace
        self.uid = uid
        self.startTime = startTime
        self.cgroup = cgroup
        self.containers = containers
        self.volumes = volumes
        self.logDirectory = logDirectory
    }
}
