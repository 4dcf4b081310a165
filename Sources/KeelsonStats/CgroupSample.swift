import Foundation

/// One reading of a cgroup's counters. CPU and fault counters are cumulative; rates come from two readings.
public struct CgroupSample: Sendable, Equatable {
    public struct CPU: Sendable, Equatable {
        public var usageNanoseconds: UInt64 = 0
        public var userNanoseconds: UInt64 = 0
        public var systemNanoseconds: UInt64 = 0
        /// Per-CPU usage; empty on cgroup v2, which does not account per CPU.
        public var perCPUNanoseconds: [UInt64] = []
        public var periods: UInt64 = 0
        public var throttledPeriods: UInt64 = 0
        public var throttledNanoseconds: UInt64 = 0
        public init() {}
    }

    public struct Memory: Sendable, Equatable {
        public var usageBytes: UInt64 = 0
        /// Usage less inactive file pages: what Kubernetes evicts and OOM-kills on.
        public var workingSetBytes: UInt64 = 0
        public var rssBytes: UInt64 = 0
        public var cacheBytes: UInt64 = 0
        public var mappedFileBytes: UInt64 = 0
        public var pageFaults: UInt64 = 0
        public var majorPageFaults: UInt64 = 0
        /// Times usage hit the limit (v1 `failcnt`, v2 `max` events).
        public var failCount: UInt64 = 0
        /// Processes the kernel OOM-killed in this cgroup.
        public var oomKills: UInt64 = 0
        /// nil when unlimited.
        public var limitBytes: UInt64?
        public init() {}
    }

    public var timestamp: Date
    public var cpu = CPU()
    public var memory = Memory()
    public var processes: UInt64 = 0
    public var threads: UInt64 = 0

    public init(timestamp: Date) { self.timestamp = timestamp }
}
