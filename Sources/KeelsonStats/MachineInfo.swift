import Foundation

/// Facts about the machine: its capacity (the Node's `capacity` and `nodeInfo`) and its whole-machine usage (the
/// summary's node figures, and the eviction signals computed from them — the same numbers everywhere).
public struct MachineInfo: Sendable {
    public var cores: Int
    public var memoryBytes: UInt64
    public var kernel: String
    public var osImage: String
    public var machineID: String
    public var bootID: String

    #if arch(arm64)
    public static let architecture = "arm64"
    #else
    public static let architecture = "amd64"
    #endif

    public static func read(procRoot: String = "/proc") -> MachineInfo {
        let meminfo = Meminfo.parse(StatsFile.text("\(procRoot)/meminfo"))
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let pretty = StatsFile.text("/etc/os-release").split(separator: "\n").first { $0.hasPrefix("PRETTY_NAME=") }
            .map { String($0.dropFirst("PRETTY_NAME=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) } ?? "Linux"
        return MachineInfo(cores: ProcessInfo.processInfo.activeProcessorCount, memoryBytes: meminfo["MemTotal"] ?? 0,
            kernel: kernel, osImage: pretty, machineID: StatsFile.text("/etc/machine-id"),
            bootID: StatsFile.text("\(procRoot)/sys/kernel/random/boot_id"))
    }
}

/// The machine's own usage, read from /proc so that it is the same under either cgroup version.
public struct NodeUsage: Sendable, Equatable {
    public var timestamp: Date
    /// CPU time spent outside idle and iowait, all CPUs together.
    public var cpuNanoseconds: UInt64 = 0
    public var memoryBytes: UInt64 = 0
    public var memoryUsageBytes: UInt64 = 0
    /// Usage less inactive file pages, as the kubelet defines the root cgroup's working set.
    public var memoryWorkingSetBytes: UInt64 = 0
    public var memoryRSSBytes: UInt64 = 0
    public var pageFaults: UInt64 = 0
    public var majorPageFaults: UInt64 = 0
    /// Processes and threads: each holds a PID, which is what PID pressure is about.
    public var processes: UInt64 = 0
    public var maxPID: UInt64 = 0

    /// What eviction's `memory.available` signal measures: capacity less working set.
    public var memoryAvailableBytes: UInt64 { memoryBytes > memoryWorkingSetBytes ? memoryBytes - memoryWorkingSetBytes : 0 }

    public init(timestamp: Date) { self.timestamp = timestamp }

    /// Processes and threads (each takes a PID): the total of /proc/loadavg's "running/total" field.
    static func tasks(procRoot: String) -> UInt64 {
        StatsFile.withContents("\(procRoot)/loadavg") { bytes -> UInt64 in
            guard let slash = bytes.firstIndex(of: 0x2F) else { return 0 }
            var value: UInt64 = 0
            for byte in bytes[(slash + 1)...] {
                guard byte >= 0x30 && byte <= 0x39 else { break }
                value = value &* 10 &+ UInt64(byte - 0x30)
            }
            return value
        } ?? 0
    }

    private static let faultKeys = StatsFile.KeySet(["pgfault", "pgmajfault"])

    public static func read(procRoot: String = "/proc", at time: Date = Date()) -> NodeUsage {
        var usage = NodeUsage(timestamp: time)
        // The aggregate "cpu" line counts USER_HZ (1/100 s) ticks: user nice system idle iowait irq softirq steal.
        // Only the first line is needed; the file goes on with per-CPU and interrupt lines.
        let ticks = StatsFile.withContents("\(procRoot)/stat") { bytes -> [UInt64] in
            guard let end = bytes.firstIndex(of: 0x0A) else { return [] }
            return String(decoding: bytes[..<end], as: UTF8.self).split(separator: " ").dropFirst().compactMap { UInt64($0) }
        } ?? []
        let busy = ticks.enumerated().filter { $0.offset != 3 && $0.offset != 4 && $0.offset < 8 }.reduce(0) { $0 + $1.element }
        usage.cpuNanoseconds = busy * 10_000_000
        let meminfo = Meminfo.parse(StatsFile.text("\(procRoot)/meminfo"))
        usage.memoryBytes = meminfo["MemTotal"] ?? 0
        usage.memoryUsageBytes = usage.memoryBytes - min(usage.memoryBytes, meminfo["MemFree"] ?? 0)
        let inactiveFile = meminfo["Inactive(file)"] ?? 0
        usage.memoryWorkingSetBytes = usage.memoryUsageBytes > inactiveFile ? usage.memoryUsageBytes - inactiveFile : 0
        usage.memoryRSSBytes = meminfo["AnonPages"] ?? 0
        let faults = StatsFile.values("\(procRoot)/vmstat", Self.faultKeys)
        usage.pageFaults = faults[0]
        usage.majorPageFaults = faults[1]
        usage.maxPID = StatsFile.number("\(procRoot)/sys/kernel/pid_max")
        usage.processes = Self.tasks(procRoot: procRoot)
        return usage
    }
}

/// A filesystem's size and free space, for the node's and the image filesystem's figures.
public struct FilesystemStats: Sendable, Equatable {
    public var capacityBytes: UInt64 = 0
    public var availableBytes: UInt64 = 0
    public var usedBytes: UInt64 = 0
    public var inodes: UInt64 = 0
    public var inodesFree: UInt64 = 0

    public init() {}

    public static func of(_ path: String) -> FilesystemStats? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        var stats = FilesystemStats()
        let block = UInt64(info.f_frsize)
        stats.capacityBytes = UInt64(info.f_blocks) * block
        stats.availableBytes = UInt64(info.f_bavail) * block
        stats.usedBytes = (UInt64(info.f_blocks) - UInt64(info.f_bfree)) * block
        stats.inodes = UInt64(info.f_files)
        stats.inodesFree = UInt64(info.f_ffree)
        return stats
    }
}

/// `/proc/meminfo` in bytes.
enum Meminfo {
    static func parse(_ text: String) -> [String: UInt64] {
        var values: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let rest = line[line.index(after: colon)...].split(separator: " ")
            guard let number = rest.first.flatMap({ UInt64($0) }) else { continue }
            values[String(line[..<colon])] = rest.count > 1 && rest[1] == "kB" ? number * 1024 : number
        }
        return values
    }
}
