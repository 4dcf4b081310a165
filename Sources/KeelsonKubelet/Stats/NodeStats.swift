import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonStats
import Logging
import Synchronization

/// The node's cAdvisor, as the kubelet embeds it: housekeeping over the pods the runtime runs (found by the
/// kubelet's labels, each in its cgroup under the cgroup root), and the figures the kubelet API serves.
public final class NodeStats: Sendable {
    public let history: StatsHistory
    let reader: CgroupReader
    let configuration: Kubelet.Configuration
    let machine: MachineInfo
    /// The pod sync loop's relist, which already lists the runtime every second.
    let snapshot = RuntimeSnapshot()
    /// The runtime's writable-layer figures are asked for every tenth round: the runtime walks the layers for them.
    private let layers = Mutex<(round: Int, usage: [String: WritableLayerUsage])>((0, [:]))

    init(configuration: Kubelet.Configuration, hierarchy: CgroupHierarchy = .live()) {
        self.configuration = configuration
        self.history = StatsHistory(duration: configuration.statsHistory, interval: configuration.housekeepingInterval)
        self.reader = CgroupReader(hierarchy: hierarchy, files: OpenFiles())
        self.machine = MachineInfo.read()
    }

    func housekeeping(runtime: any ContainerRuntime, pods: Informer, logger: Logger) -> Housekeeping {
        Housekeeping(history: history, reader: reader, interval: configuration.housekeepingInterval, logger: logger) { [self] in
            await targets(runtime: runtime, pods: pods)
        }
    }

    public var summary: StatsSummary {
        StatsSummary(nodeName: configuration.nodeName, history: history, nodeFilesystem: configuration.directory.path,
            imageFilesystem: configuration.directory.path)
    }

    public var metrics: ContainerMetrics { ContainerMetrics(history: history, machine: machine) }

    /// A process of the pod, found in its cgroup: any one will do to reach the namespaces the pod's containers share.
    func podProcess(uid: String) -> Int32? {
        reader.processIDs("\(configuration.cgroupRoot)/pod\(uid)", limit: 1).first
    }

    /// The pods with a ready sandbox and their running containers; nil when the runtime cannot be asked (the
    /// history then keeps its last view rather than forgetting every pod).
    func targets(runtime: any ContainerRuntime, pods: Informer) async -> [PodTarget]? {
        let listing: (sandboxes: [SandboxStatus], containers: [ContainerInfo])
        if let recent = snapshot.recent(within: configuration.relistPeriod * 2) {
            listing = recent
        } else {
            guard let sandboxes = try? await runtime.listSandboxes(), let containers = try? await runtime.listContainers() else { return nil }
            listing = (sandboxes, containers)
        }
        let (sandboxes, containers) = listing
        let round = layers.withLock { state in
            defer { state.round += 1 }
            return state.round
        }
        if round % 10 == 0, let usage = try? await runtime.writableLayers() {
            layers.withLock { $0.usage = usage }
        }
        let layerUsage = layers.withLock { $0.usage }
        let root = configuration.cgroupRoot
        var out: [PodTarget] = []
        for sandbox in sandboxes where sandbox.state == .ready && sandbox.labels[RuntimeLabels.podUID] != nil {
            let uid = sandbox.podUID
            let pod = pods.get(Informer.key(namespace: sandbox.podNamespace, name: sandbox.podName)).flatMap { $0.uid == uid ? $0 : nil }
            let specContainers = (pod?["spec"]?["containers"]?.arrayValue ?? []) + (pod?["spec"]?["initContainers"]?.arrayValue ?? [])
            let images = Dictionary(specContainers.compactMap { c in c["name"]?.stringValue.map { ($0, c["image"]?.stringValue ?? "") } },
                uniquingKeysWith: { a, _ in a })
            let podCgroup = "\(root)/pod\(uid)"
            let running = containers.filter { $0.sandboxID == sandbox.id && $0.state == .running }
            let targets: [ContainerTarget] = running.map { c in
                var target = ContainerTarget(id: c.id, name: c.name, image: images[c.name] ?? c.image,
                    startTime: Date(timeIntervalSince1970: Double(c.createdAt) / 1e9), cgroup: "\(podCgroup)/\(c.id)")
                target.writableLayerBytes = layerUsage[c.id]?.bytes
                target.writableLayerInodes = layerUsage[c.id]?.inodes
                return target
            }
            var volumes: [String: String] = [:]
            for volume in pod?["spec"]?["volumes"]?.arrayValue ?? [] where volume["emptyDir"] != nil {
                guard let name = volume["name"]?.stringValue else { continue }
                volumes[name] = configuration.directory.appendingPathComponent("pods/\(uid)/volumes/\(name)").path
            }
            let started = pod?["status"]?["startTime"]?.stringValue.flatMap(Timestamp.parse)
                ?? Date(timeIntervalSince1970: Double(sandbox.createdAt) / 1e9)
            out.append(PodTarget(name: sandbox.podName, namespace: sandbox.podNamespace, uid: uid, startTime: started, cgroup: podCgroup,
                containers: targets, volumes: volumes,
                logDirectory: configuration.directory.appendingPathComponent("logs/\(sandbox.podNamespace)_\(sandbox.podName)_\(uid)").path))
        }
        return out
    }
}

/// Bytes and inodes of a container's writable layer, as the runtime measures them.
public struct WritableLayerUsage: Sendable, Equatable {
    public var bytes: UInt64
    public var inodes: UInt64?
    public init(bytes: UInt64, inodes: UInt64?) {
        self.bytes = bytes
        self.inodes = inodes
    }
}
