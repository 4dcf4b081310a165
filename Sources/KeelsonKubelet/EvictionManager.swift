import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonStats
import Logging
import Synchronization

/// Hard eviction thresholds, as kubelet's `--eviction-hard`: `memory.available<100Mi,nodefs.available<10%`.
public struct EvictionThresholds: Sendable, Equatable {
    public var memoryAvailable: Int64 = 100 * 1024 * 1024
    /// Fraction of the node's filesystem (the agent's data dir) that must stay free.
    public var nodefsAvailable: Double = 0.10

    public init() {}

    public struct Invalid: Error, CustomStringConvertible { public var description: String }

    /// Parses `SIGNAL<AMOUNT` pairs; an amount is a quantity or a percentage of capacity. Signals not named keep
    /// their defaults.
    public init(parsing text: String) throws {
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "<", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { throw Invalid(description: "\(pair): use SIGNAL<AMOUNT, e.g. memory.available<100Mi") }
            switch parts[0] {
            case "memory.available":
                guard let amount = Quantity(parts[1]) else { throw Invalid(description: "\(pair): not a quantity") }
                memoryAvailable = amount.value
            case "nodefs.available", "imagefs.available":
                guard parts[1].hasSuffix("%"), let percent = Double(parts[1].dropLast()), (0...100).contains(percent) else {
                    throw Invalid(description: "\(pair): give a percentage, e.g. 10%")
                }
                nodefsAvailable = percent / 100
            default:
                throw Invalid(description: "\(pair): unknown signal \(parts[0]) (memory.available, nodefs.available)")
            }
        }
    }
}

/// What the eviction manager sees of the node and of each pod.
struct EvictionObservation: Sendable {
    var memoryAvailable: Int64
    var nodefsAvailable: Int64
    var nodefsCapacity: Int64

    /// The node's figures as the stats history last saw them (memory.available is capacity less working set, as
    /// kubelet computes it from the root cgroup) and its filesystem's free space.
    static func current(history: StatsHistory?, directory: URL) -> EvictionObservation {
        let usage = history?.latestNode ?? NodeUsage.read()
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let fs = FilesystemStats.of(directory.path) ?? FilesystemStats()
        return EvictionObservation(memoryAvailable: Int64(clamping: usage.memoryAvailableBytes), nodefsAvailable: Int64(clamping: fs.availableBytes),
            nodefsCapacity: Int64(clamping: fs.capacityBytes))
    }

    func memoryPressure(_ thresholds: EvictionThresholds) -> Bool { memoryAvailable < thresholds.memoryAvailable }
    func diskPressure(_ thresholds: EvictionThresholds) -> Bool {
        nodefsCapacity > 0 && Double(nodefsAvailable) < Double(nodefsCapacity) * thresholds.nodefsAvailable
    }
}

/// Kubelet's hard eviction: every 10 s, when memory or the node's disk is under its threshold, the pod that
/// should go first is failed with reason `Evicted` — one at a time, so the next look sees what that freed.
/// The order is kubelet's: pods using more than they requested first, then lower priority, then the biggest
/// users above their requests.
struct EvictionManager: Sendable {
    let thresholds: EvictionThresholds
    let cgroupRoot: String
    let directory: URL
    var history: StatsHistory?
    var reader = CgroupReader(hierarchy: .live())
    let logger: Logger

    struct Candidate: Equatable {
        var key: String
        var uid: String
        var priority: Int64
        var usage: Int64
        var request: Int64
    }

    static func rank(_ candidates: [Candidate]) -> [Candidate] {
        candidates.sorted { a, b in
            let aOver = a.usage > a.request, bOver = b.usage > b.request
            if aOver != bOver { return aOver }
            if a.priority != b.priority { return a.priority < b.priority }
            return a.usage - a.request > b.usage - b.request
        }
    }

    func observe() -> EvictionObservation { EvictionObservation.current(history: history, directory: directory) }

    /// The pod to evict now, and the message its status gets; nil when the node is not under pressure.
    func choose(_ observation: EvictionObservation, pods: [JSONValue]) -> (pod: JSONValue, message: String)? {
        let memory = observation.memoryPressure(thresholds)
        let disk = observation.diskPressure(thresholds)
        guard memory || disk else { return nil }
        let running = pods.filter { pod in
            let phase = pod["status"]?["phase"]?.stringValue
            // Static pods are the node's own, as kubelet treats critical pods.
            return pod.deletionTimestamp == nil && phase != "Succeeded" && phase != "Failed"
                && pod["metadata"]?["annotations"]?[StaticPods.mirrorAnnotation] == nil
        }
        let resource = memory ? "memory" : "ephemeral-storage"
        let candidates = running.map { pod in
            Candidate(key: Informer.key(of: pod), uid: pod.uid ?? "", priority: pod["spec"]?["priority"]?.intValue ?? 0,
                usage: memory ? memoryUsage(uid: pod.uid ?? "") : diskUsage(uid: pod.uid ?? ""),
                request: PodResources.total(pod)[resource]?.value ?? 0)
        }
        guard let first = Self.rank(candidates).first, let pod = running.first(where: { Informer.key(of: $0) == first.key }) else { return nil }
        let message = "The node was low on resource: \(resource). Threshold quantity: "
            + (memory ? Quantity(milli: thresholds.memoryAvailable * 1000, format: .binarySI).description
                : "\(Int(thresholds.nodefsAvailable * 100))%")
            + ", available: " + (memory ? "\(observation.memoryAvailable / 1024)Ki" : "\(observation.nodefsAvailable / 1024)Ki") + "."
        return (pod, message)
    }

    /// The pod cgroup's working set, as housekeeping last sampled it (or read now); 0 when unreadable.
    func memoryUsage(uid: String) -> Int64 {
        let cgroup = "\(cgroupRoot)/pod\(uid)"
        let sample = history?.latest(cgroup: cgroup) ?? reader.read(cgroup)
        return Int64(clamping: sample?.memory.workingSetBytes ?? 0)
    }

    /// Bytes the pod keeps on the node's disk: its volumes and its container logs.
    func diskUsage(uid: String) -> Int64 {
        var total: Int64 = 0
        for root in [directory.appendingPathComponent("pods/\(uid)").path] + logDirectories(uid: uid) {
            guard let files = FileManager.default.enumerator(atPath: root) else { continue }
            while let file = files.nextObject() as? String {
                total += ((try? FileManager.default.attributesOfItem(atPath: root + "/" + file))?[.size] as? Int64) ?? 0
            }
        }
        return total
    }

    private func logDirectories(uid: String) -> [String] {
        let logs = directory.appendingPathComponent("logs").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: logs)) ?? []).filter { $0.hasSuffix("_\(uid)") }.map { logs + "/" + $0 }
    }
}

/// The pods the eviction manager has failed, which the pod workers stop and report as Evicted.
final class EvictedPods: Sendable {
    private let pods = Mutex([String: String]())

    func evict(uid: String, message: String) { pods.withLock { $0[uid] = message } }
    func message(uid: String) -> String? { pods.withLock { $0[uid] } }
    func forget(uid: String) { _ = pods.withLock { $0.removeValue(forKey: uid) } }
}
