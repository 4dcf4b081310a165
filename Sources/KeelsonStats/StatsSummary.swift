import Foundation
import KeelsonAPI

/// The kubelet's `/stats/summary` (`stats/v1alpha1` Summary, what metrics-server and others read), built from the
/// housekeeping history.
public struct StatsSummary: Sendable {
    public let nodeName: String
    public let history: StatsHistory
    /// The node's filesystem (the kubelet's data directory) and the runtime's image filesystem.
    public let nodeFilesystem: String
    public let imageFilesystem: String
    public let procRoot: String

    public init(nodeName: String, history: StatsHistory, nodeFilesystem: String, imageFilesystem: String, procRoot: String = "/proc") {
        self.nodeName = nodeName
        self.history = history
        self.nodeFilesystem = nodeFilesystem
        self.imageFilesystem = imageFilesystem
        self.procRoot = procRoot
    }

    /// The window CPU rates are averaged over (also the `window` of the metrics API).
    public static let rateWindow: Duration = .seconds(10)

    public func build(now: Date = Date()) -> JSONValue {
        // Each filesystem is asked once per summary, not once per pod.
        let nodeFS = FilesystemStats.of(nodeFilesystem)
        let imageFS = FilesystemStats.of(imageFilesystem)
        return ["node": node(now, nodeFS: nodeFS, imageFS: imageFS),
                "pods": .array(history.pods.map { pod($0, nodeFS: nodeFS, imageFS: imageFS) })]
    }

    static func int(_ value: UInt64) -> JSONValue { .integer(Int64(clamping: value)) }
    static func time(_ date: Date) -> JSONValue { .string(Timestamp.format(date)) }

    func node(_ now: Date, nodeFS: FilesystemStats?, imageFS: FilesystemStats?) -> JSONValue {
        var node: [String: JSONValue] = ["nodeName": .string(nodeName), "systemContainers": []]
        if let boot = bootTime { node["startTime"] = Self.time(boot) }
        if let usage = history.latestNode {
            var cpu: [String: JSONValue] = ["time": Self.time(usage.timestamp), "usageCoreNanoSeconds": Self.int(usage.cpuNanoseconds)]
            if let rate = history.nodeCPUNanoCores(window: Self.rateWindow) { cpu["usageNanoCores"] = Self.int(rate) }
            node["cpu"] = .object(cpu)
            node["memory"] = [
                "time": Self.time(usage.timestamp), "availableBytes": Self.int(usage.memoryAvailableBytes),
                "usageBytes": Self.int(usage.memoryUsageBytes), "workingSetBytes": Self.int(usage.memoryWorkingSetBytes),
                "rssBytes": Self.int(usage.memoryRSSBytes), "pageFaults": Self.int(usage.pageFaults),
                "majorPageFaults": Self.int(usage.majorPageFaults),
            ]
            node["rlimit"] = ["time": Self.time(usage.timestamp), "maxpid": Self.int(usage.maxPID), "curproc": Self.int(usage.processes)]
            node["network"] = Self.network(InterfaceStats.parse(netDev: StatsFile.text("\(procRoot)/self/net/dev")), at: usage.timestamp)
        }
        if let fs = nodeFS { node["fs"] = Self.filesystem(fs, at: now) }
        if let fs = imageFS { node["runtime"] = ["imageFs": Self.filesystem(fs, at: now)] }
        return .object(node)
    }

    /// When the machine booted, from /proc/stat's `btime`.
    var bootTime: Date? {
        StatsFile.lines("\(procRoot)/stat").first { $0.hasPrefix("btime ") }
            .flatMap { Double($0.dropFirst(6)) }.map { Date(timeIntervalSince1970: $0) }
    }

    func pod(_ pod: PodTarget, nodeFS: FilesystemStats?, imageFS: FilesystemStats?) -> JSONValue {
        var out: [String: JSONValue] = [
            "podRef": ["name": .string(pod.name), "namespace": .string(pod.namespace), "uid": .string(pod.uid)],
            "startTime": Self.time(pod.startTime),
        ]
        var ephemeralBytes: UInt64 = 0
        var ephemeralInodes: UInt64 = 0
        var latestTime = pod.startTime
        out["containers"] = .array(pod.containers.map { container in
            var entry: [String: JSONValue] = ["name": .string(container.name), "startTime": Self.time(container.startTime)]
            if let sample = history.latest(cgroup: container.cgroup) {
                latestTime = max(latestTime, sample.timestamp)
                entry["cpu"] = cpu(sample, cgroup: container.cgroup)
                entry["memory"] = Self.memory(sample)
            }
            if let bytes = container.writableLayerBytes {
                var rootfs = imageFS.map { Self.filesystemCapacity($0) } ?? [:]
                rootfs["time"] = Self.time(latestTime)
                rootfs["usedBytes"] = Self.int(bytes)
                if let inodes = container.writableLayerInodes { rootfs["inodesUsed"] = Self.int(inodes) }
                entry["rootfs"] = .object(rootfs)
                ephemeralBytes += bytes
                ephemeralInodes += container.writableLayerInodes ?? 0
            }
            if let logs = history.volume(podUID: pod.uid, name: Housekeeping.logsKey(container.name)) {
                var usage = nodeFS.map { Self.filesystemCapacity($0) } ?? [:]
                usage["time"] = Self.time(logs.timestamp)
                usage["usedBytes"] = Self.int(logs.usage.bytes)
                usage["inodesUsed"] = Self.int(logs.usage.inodes)
                entry["logs"] = .object(usage)
                ephemeralBytes += logs.usage.bytes
                ephemeralInodes += logs.usage.inodes
            }
            return .object(entry)
        })
        if let sample = history.latest(cgroup: pod.cgroup) {
            out["cpu"] = cpu(sample, cgroup: pod.cgroup)
            out["memory"] = Self.memory(sample)
            out["process_stats"] = ["process_count": Self.int(sample.processes)]
        }
        if let network = history.network(podUID: pod.uid) { out["network"] = Self.network(network.interfaces, at: network.timestamp) }
        var volumes: [JSONValue] = []
        for name in pod.volumes.keys.sorted() {
            guard let volume = history.volume(podUID: pod.uid, name: name) else { continue }
            var entry = nodeFS.map { Self.filesystemCapacity($0) } ?? [:]
            entry["name"] = .string(name)
            entry["time"] = Self.time(volume.timestamp)
            entry["usedBytes"] = Self.int(volume.usage.bytes)
            entry["inodesUsed"] = Self.int(volume.usage.inodes)
            volumes.append(.object(entry))
            ephemeralBytes += volume.usage.bytes
            ephemeralInodes += volume.usage.inodes
        }
        if !volumes.isEmpty { out["volume"] = .array(volumes) }
        var ephemeral = nodeFS.map { Self.filesystemCapacity($0) } ?? [:]
        ephemeral["time"] = Self.time(latestTime)
        ephemeral["usedBytes"] = Self.int(ephemeralBytes)
        ephemeral["inodesUsed"] = Self.int(ephemeralInodes)
        out["ephemeral-storage"] = .object(ephemeral)
        return .object(out)
    }

    func cpu(_ sample: CgroupSample, cgroup: String) -> JSONValue {
        var cpu: [String: JSONValue] = ["time": Self.time(sample.timestamp), "usageCoreNanoSeconds": Self.int(sample.cpu.usageNanoseconds)]
        if let rate = history.cpuNanoCores(cgroup: cgroup, window: Self.rateWindow) { cpu["usageNanoCores"] = Self.int(rate) }
        return .object(cpu)
    }

    static func memory(_ sample: CgroupSample) -> JSONValue {
        var memory: [String: JSONValue] = [
            "time": time(sample.timestamp), "usageBytes": int(sample.memory.usageBytes),
            "workingSetBytes": int(sample.memory.workingSetBytes), "rssBytes": int(sample.memory.rssBytes),
            "pageFaults": int(sample.memory.pageFaults), "majorPageFaults": int(sample.memory.majorPageFaults),
        ]
        if let limit = sample.memory.limitBytes {
            memory["availableBytes"] = int(limit > sample.memory.workingSetBytes ? limit - sample.memory.workingSetBytes : 0)
        }
        return .object(memory)
    }

    static func network(_ interfaces: [InterfaceStats], at time: Date) -> JSONValue {
        let entries: [JSONValue] = interfaces.map { i in
            ["name": .string(i.name), "rxBytes": int(i.rxBytes), "rxErrors": int(i.rxErrors), "txBytes": int(i.txBytes), "txErrors": int(i.txErrors)]
        }
        // The default interface is eth0 when the pod has one, as the kubelet reports it.
        var out: [String: JSONValue] = ["time": self.time(time), "interfaces": .array(entries)]
        if let main = interfaces.first(where: { $0.name == "eth0" }) ?? interfaces.first {
            out["name"] = .string(main.name)
            out["rxBytes"] = int(main.rxBytes)
            out["rxErrors"] = int(main.rxErrors)
            out["txBytes"] = int(main.txBytes)
            out["txErrors"] = int(main.txErrors)
        }
        return .object(out)
    }

    static func filesystemCapacity(_ fs: FilesystemStats) -> [String: JSONValue] {
        ["availableBytes": int(fs.availableBytes), "capacityBytes": int(fs.capacityBytes), "inodes": int(fs.inodes), "inodesFree": int(fs.inodesFree)]
    }

    static func filesystem(_ fs: FilesystemStats, at date: Date) -> JSONValue {
        var out = filesystemCapacity(fs)
        out["time"] = time(date)
        out["usedBytes"] = int(fs.usedBytes)
        out["inodesUsed"] = int(fs.inodes > fs.inodesFree ? fs.inodes - fs.inodesFree : 0)
        return .object(out)
    }
}
