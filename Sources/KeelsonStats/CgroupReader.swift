import Foundation

/// Reads the counters of one cgroup from its files, for either cgroup version. A cgroup whose usage file is gone
/// reads as absent (it can vanish between listing and reading); other missing files read as zero, since not every
/// kernel has every file.
public struct CgroupReader: Sendable {
    public let hierarchy: CgroupHierarchy
    /// Keeps the descriptors of the files read every round (housekeeping); nil opens each file for each read.
    let files: OpenFiles?

    public init(hierarchy: CgroupHierarchy, files: OpenFiles? = nil) {
        self.hierarchy = hierarchy
        self.files = files
    }

    /// The cgroup's counters now; nil when the cgroup does not exist (any more). With `previous`, only what a
    /// rate or the eviction signals need every round is read — CPU usage, memory usage and working set — and
    /// the rest (v1's per-CPU, user/system and throttling files; limits, fail and OOM counts, processes and
    /// threads) is carried over from it: housekeeping reads those every tenth round. Each file read costs a
    /// kernel call that formats the file afresh, and that is most of housekeeping's CPU.
    public func read(_ path: String, at time: Date = Date(), previous: CgroupSample? = nil) -> CgroupSample? {
        var sample = previous ?? CgroupSample(timestamp: time)
        sample.timestamp = time
        let found = hierarchy.version == .v1 ? readV1(path, into: &sample, full: previous == nil) : readV2(path, into: &sample, full: previous == nil)
        return found ? sample : nil
    }

    /// The first process listed directly in the cgroup (not its descendants); nil when it has none.
    public func firstProcess(_ path: String) -> Int32? {
        let dir = hierarchy.version == .v1 ? hierarchy.directory("pids", path) ?? hierarchy.directory("memory", path) : hierarchy.directory("", path)
        guard let dir else { return nil }
        return StatsFile.withContents(dir + "/cgroup.procs", files: files) { bytes -> Int32? in
            var pid: Int32 = 0
            for byte in bytes {
                guard byte >= 0x30 && byte <= 0x39 else { break }
                pid = pid &* 10 &+ Int32(byte - 0x30)
            }
            return pid > 0 ? pid : nil
        } ?? nil
    }

    /// The processes in the cgroup and its descendants (for finding one to read a pod's network from).
    public func processIDs(_ path: String, limit: Int = .max) -> [Int32] {
        guard let dir = hierarchy.directory(hierarchy.version == .v1 ? "memory" : "", path) else { return [] }
        var found: [Int32] = []
        var pending = [dir]
        while let next = pending.popLast(), found.count < limit {
            found += StatsFile.lines(next + "/cgroup.procs").compactMap { Int32($0) }
            let children = (try? FileManager.default.contentsOfDirectory(atPath: next)) ?? []
            // Control files all have a dot in their names; child cgroups here (pods, container IDs) have none.
            for child in children where !child.contains(".") {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: next + "/" + child, isDirectory: &isDirectory), isDirectory.boolValue {
                    pending.append(next + "/" + child)
                }
            }
        }
        return Array(found.prefix(limit))
    }


    private static let v1CPUStat = StatsFile.KeySet(["user", "system"])
    private static let v1Throttling = StatsFile.KeySet(["nr_periods", "nr_throttled", "throttled_time"])
    // The total_ counters include descendants, which a pod's cgroup needs; a leaf has the same in both.
    private static let v1Memory = StatsFile.KeySet(["total_inactive_file", "total_rss", "total_cache", "total_mapped_file",
                                                    "total_pgfault", "total_pgmajfault"])
    private static let v1OOM = StatsFile.KeySet(["oom_kill"])
    private static let v2CPU = StatsFile.KeySet(["usage_usec", "user_usec", "system_usec", "nr_periods", "nr_throttled", "throttled_usec"])
    private static let v2Memory = StatsFile.KeySet(["inactive_file", "anon", "file", "file_mapped", "pgfault", "pgmajfault"])
    private static let v2Events = StatsFile.KeySet(["max", "oom_kill"])

    /// Usage and memory.stat's figures, in the order both versions' key sets list them: inactive file, anonymous
    /// (v1 rss), page cache, mapped file, faults, major faults.
    private static func apply(usage: UInt64, stat: [UInt64], to memory: inout CgroupSample.Memory) {
        memory.usageBytes = usage
        memory.workingSetBytes = usage > stat[0] ? usage - stat[0] : 0
        memory.rssBytes = stat[1]
        memory.cacheBytes = stat[2]
        memory.mappedFileBytes = stat[3]
        memory.pageFaults = stat[4]
        memory.majorPageFaults = stat[5]
    }

    private func readV1(_ path: String, into sample: inout CgroupSample, full: Bool) -> Bool {
        guard let memory = hierarchy.directory("memory", path), let cpuacct = hierarchy.directory("cpuacct", path),
              let cpu = hierarchy.directory("cpu", path) else { return false }
        // The usage file doubles as the existence check: a cgroup can vanish between listing and reading.
        guard let usage = StatsFile.optionalNumber(memory + "/memory.usage_in_bytes", files: files) else { return false }
        sample.cpu.usageNanoseconds = StatsFile.number(cpuacct + "/cpuacct.usage", files: files)
        Self.apply(usage: usage, stat: StatsFile.values(memory + "/memory.stat", Self.v1Memory, files: files), to: &sample.memory)
        guard full else { return true }

        sample.cpu.perCPUNanoseconds = StatsFile.numbers(cpuacct + "/cpuacct.usage_percpu", files: files)
        // cpuacct.stat counts USER_HZ ticks, which Linux fixes at 100 per second for userspace.
        let ticks = StatsFile.values(cpuacct + "/cpuacct.stat", Self.v1CPUStat, files: files)
        sample.cpu.userNanoseconds = ticks[0] * 10_000_000
        sample.cpu.systemNanoseconds = ticks[1] * 10_000_000
        let throttling = StatsFile.values(cpu + "/cpu.stat", Self.v1Throttling, files: files)
        sample.cpu.periods = throttling[0]
        sample.cpu.throttledPeriods = throttling[1]
        sample.cpu.throttledNanoseconds = throttling[2]
        sample.memory.failCount = StatsFile.number(memory + "/memory.failcnt", files: files)
        sample.memory.oomKills = StatsFile.values(memory + "/memory.oom_control", Self.v1OOM, files: files)[0]
        let limit = StatsFile.number(memory + "/memory.limit_in_bytes", files: files)
        // v1 writes "no limit" as the largest page-aligned signed value.
        sample.memory.limitBytes = limit == 0 || limit >= 1 << 62 ? nil : limit
        let pids = hierarchy.directory("pids", path) ?? memory
        sample.processes = StatsFile.lineCount(pids + "/cgroup.procs", files: files)
        sample.threads = StatsFile.lineCount(pids + "/tasks", files: files)
        return true
    }

    private func readV2(_ path: String, into sample: inout CgroupSample, full: Bool) -> Bool {
        guard let dir = hierarchy.directory("", path), let usage = StatsFile.optionalNumber(dir + "/memory.current", files: files) else { return false }
        // One file has all of v2's CPU figures.
        let cpu = StatsFile.values(dir + "/cpu.stat", Self.v2CPU, files: files)
        sample.cpu.usageNanoseconds = cpu[0] * 1000
        sample.cpu.userNanoseconds = cpu[1] * 1000
        sample.cpu.systemNanoseconds = cpu[2] * 1000
        sample.cpu.periods = cpu[3]
        sample.cpu.throttledPeriods = cpu[4]
        sample.cpu.throttledNanoseconds = cpu[5] * 1000
        Self.apply(usage: usage, stat: StatsFile.values(dir + "/memory.stat", Self.v2Memory, files: files), to: &sample.memory)
        guard full else { return true }

        let events = StatsFile.values(dir + "/memory.events", Self.v2Events, files: files)
        sample.memory.failCount = events[0]
        sample.memory.oomKills = events[1]
        // "max" (no limit) has no digits and reads as 0.
        let limit = StatsFile.number(dir + "/memory.max", files: files)
        sample.memory.limitBytes = limit == 0 ? nil : limit
        sample.processes = StatsFile.lineCount(dir + "/cgroup.procs", files: files)
        sample.threads = StatsFile.lineCount(dir + "/cgroup.threads", files: files)
        return true
    }
}
