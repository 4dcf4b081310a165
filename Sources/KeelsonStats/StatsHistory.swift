import Foundation
import Synchronization

/// The bounded in-memory history of every sampled cgroup, of the node, and of each pod's network, from which the
/// summary API and the Prometheus endpoints derive current figures and rates.
public final class StatsHistory: Sendable {
    public struct PodNetwork: Sendable, Equatable {
        public var timestamp: Date
        public var interfaces: [InterfaceStats]
    }

    public struct VolumeUsage: Sendable, Equatable {
        public var timestamp: Date
        public var usage: DirectoryUsage
    }

    private struct State {
        var cgroups: [String: SampleRing<CgroupSample>] = [:]
        var node: SampleRing<NodeUsage>
        var networks: [String: PodNetwork] = [:]
        var volumes: [String: VolumeUsage] = [:]
        var pods: [PodTarget] = []
    }

    private let state: Mutex<State>
    /// Samples kept per cgroup: the history duration over the sampling interval.
    public let capacity: Int

    public init(duration: Duration = .seconds(120), interval: Duration = .seconds(1)) {
        let count = Int((duration / interval).rounded(.up))
        capacity = max(2, count)
        state = Mutex(State(node: SampleRing(capacity: max(2, count))))
    }

    // MARK: recording

    /// Replaces what is known of the node's pods, forgetting the history of cgroups no longer among them.
    func setTargets(_ pods: [PodTarget]) {
        state.withLock { state in
            state.pods = pods
            var keep = Set<String>()
            for pod in pods {
                keep.insert(pod.cgroup)
                for container in pod.containers { keep.insert(container.cgroup) }
            }
            state.cgroups = state.cgroups.filter { keep.contains($0.key) }
            let uids = Set(pods.map(\.uid))
            state.networks = state.networks.filter { uids.contains($0.key) }
            state.volumes = state.volumes.filter { uids.contains(String($0.key.prefix { $0 != "/" })) }
        }
    }

    func record(cgroup: String, _ sample: CgroupSample) {
        let capacity = self.capacity
        state.withLock { state in
            state.cgroups[cgroup, default: SampleRing(capacity: capacity)].append(sample)
        }
    }

    func record(node sample: NodeUsage) { state.withLock { $0.node.append(sample) } }
    func record(podUID: String, network: PodNetwork) { state.withLock { $0.networks[podUID] = network } }
    func record(podUID: String, volume: String, usage: VolumeUsage) { state.withLock { $0.volumes[podUID + "/" + volume] = usage } }

    // MARK: reading

    public var pods: [PodTarget] { state.withLock { $0.pods } }
    public func latest(cgroup: String) -> CgroupSample? { state.withLock { $0.cgroups[cgroup]?.last } }
    public var latestNode: NodeUsage? { state.withLock { $0.node.last } }
    public func network(podUID: String) -> PodNetwork? { state.withLock { $0.networks[podUID] } }
    public func volume(podUID: String, name: String) -> VolumeUsage? { state.withLock { $0.volumes[podUID + "/" + name] } }
    public func samples(cgroup: String) -> [CgroupSample] { state.withLock { $0.cgroups[cgroup]?.newestFirst ?? [] } }
    public var sampleCount: Int { state.withLock { $0.cgroups.values.reduce(0) { $0 + $1.count } + $0.node.count } }

    /// CPU use in billionths of a core, averaged over up to `window` of history; nil before two samples exist.
    public func cpuNanoCores(cgroup: String, window: Duration = .seconds(10)) -> UInt64? {
        state.withLock { state in
            guard let ring = state.cgroups[cgroup] else { return nil }
            return Self.rate(ring.newestFirst, window: window, time: \.timestamp, counter: \.cpu.usageNanoseconds)
        }
    }

    public func nodeCPUNanoCores(window: Duration = .seconds(10)) -> UInt64? {
        state.withLock { Self.rate($0.node.newestFirst, window: window, time: \.timestamp, counter: \.cpuNanoseconds) }
    }

    /// Counter increase per second between the newest sample and the oldest one within `window` of it.
    static func rate<S>(_ newestFirst: [S], window: Duration, time: KeyPath<S, Date>, counter: KeyPath<S, UInt64>) -> UInt64? {
        guard let newest = newestFirst.first, newestFirst.count >= 2 else { return nil }
        let limit = Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
        var oldest = newestFirst[1]
        for sample in newestFirst.dropFirst() {
            if newest[keyPath: time].timeIntervalSince(sample[keyPath: time]) > limit + 0.001 { break }
            oldest = sample
        }
        let seconds = newest[keyPath: time].timeIntervalSince(oldest[keyPath: time])
        // A counter that went down belongs to a restarted cgroup: no rate until the next pair.
        guard seconds > 0, newest[keyPath: counter] >= oldest[keyPath: counter] else { return nil }
        return UInt64(Double(newest[keyPath: counter] - oldest[keyPath: counter]) / seconds)
    }
}
