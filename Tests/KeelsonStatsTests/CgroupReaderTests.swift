import Foundation
import Testing
@testable import KeelsonStats

/// Fixtures: `Fixtures/v1` was recorded from this project's hybrid-v1 machine (a pod cgroup with one container
/// that spun a shell loop and filled 20 MB of shared memory, under a 64 MiB limit and a 20 ms CFS quota);
/// `Fixtures/v2` follows the kernel's cgroup-v2 documentation of each file, as no v2 machine was at hand.
@Suite struct CgroupReaderTests {
    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path

    @Test("a recorded cgroup v1 container reads with exact figures")
    func v1Container() throws {
        let reader = CgroupReader(hierarchy: .v1(root: Self.fixtures + "/v1"))
        let sample = try #require(reader.read("/podabc/ctr1", at: Date(timeIntervalSince1970: 100)))
        #expect(sample.cpu.usageNanoseconds == 35_345_126)
        #expect(sample.cpu.perCPUNanoseconds == [13_642_718, 21_702_408])
        #expect(sample.cpu.userNanoseconds == 20_000_000 && sample.cpu.systemNanoseconds == 10_000_000)
        #expect(sample.cpu.periods == 4 && sample.cpu.throttledPeriods == 1 && sample.cpu.throttledNanoseconds == 73_598_312)
        #expect(sample.memory.usageBytes == 20_582_400)
        // Shared memory is anonymous, not inactive file: all of it is working set.
        #expect(sample.memory.workingSetBytes == 20_582_400)
        #expect(sample.memory.rssBytes == 114_688 && sample.memory.cacheBytes == 20_000_768)
        #expect(sample.memory.pageFaults == 157 && sample.memory.majorPageFaults == 0)
        #expect(sample.memory.limitBytes == 67_108_864)
        #expect(sample.memory.oomKills == 0 && sample.memory.failCount == 0)
        #expect(sample.processes == 2 && sample.threads == 2)
    }

    @Test("a v1 pod cgroup counts its children, and an unlimited cgroup has no limit")
    func v1Pod() throws {
        let reader = CgroupReader(hierarchy: .v1(root: Self.fixtures + "/v1"))
        let sample = try #require(reader.read("/podabc"))
        #expect(sample.cpu.usageNanoseconds == 35_345_126)
        #expect(sample.memory.usageBytes == 20_844_544)
        #expect(sample.memory.limitBytes == nil)
        #expect(sample.processes == 0)
        #expect(reader.processIDs("/podabc") == [24095, 24098])
        #expect(reader.read("/gone") == nil)
    }

    @Test("a round with the previous sample reads usage afresh and carries the slow figures over")
    func carryOver() throws {
        let reader = CgroupReader(hierarchy: .v1(root: Self.fixtures + "/v1"), files: OpenFiles())
        var previous = CgroupSample(timestamp: Date(timeIntervalSince1970: 1))
        previous.processes = 99
        previous.memory.limitBytes = 5
        previous.cpu.throttledPeriods = 7
        let sample = try #require(reader.read("/podabc/ctr1", at: Date(timeIntervalSince1970: 2), previous: previous))
        #expect(sample.timestamp == Date(timeIntervalSince1970: 2))
        #expect(sample.cpu.usageNanoseconds == 35_345_126 && sample.memory.workingSetBytes == 20_582_400)
        #expect(sample.processes == 99 && sample.memory.limitBytes == 5 && sample.cpu.throttledPeriods == 7)
        // Read again through the kept descriptors: the same figures.
        #expect(reader.read("/podabc/ctr1", at: Date(timeIntervalSince1970: 3), previous: previous)?.memory.usageBytes == 20_582_400)
        #expect(reader.read("/gone", previous: previous) == nil)
    }

    @Test("a cgroup v2 container reads with exact figures")
    func v2Container() throws {
        let reader = CgroupReader(hierarchy: .v2(root: Self.fixtures + "/v2"))
        let sample = try #require(reader.read("/podabc/ctr1"))
        #expect(sample.cpu.usageNanoseconds == 35_345_000)
        #expect(sample.cpu.perCPUNanoseconds.isEmpty)
        #expect(sample.cpu.userNanoseconds == 20_000_000 && sample.cpu.systemNanoseconds == 15_345_000)
        #expect(sample.cpu.periods == 4 && sample.cpu.throttledPeriods == 1 && sample.cpu.throttledNanoseconds == 73_598_000)
        #expect(sample.memory.usageBytes == 20_582_400)
        #expect(sample.memory.workingSetBytes == 20_582_400 - 1_048_576)
        #expect(sample.memory.rssBytes == 114_688 && sample.memory.cacheBytes == 20_000_768 && sample.memory.mappedFileBytes == 4096)
        #expect(sample.memory.pageFaults == 157 && sample.memory.majorPageFaults == 2)
        #expect(sample.memory.failCount == 3 && sample.memory.oomKills == 1)
        #expect(sample.memory.limitBytes == 67_108_864)
        #expect(sample.processes == 2 && sample.threads == 3)
        let pod = try #require(reader.read("/podabc"))
        #expect(pod.memory.limitBytes == nil && pod.memory.workingSetBytes == 25_000_000)
    }

    @Test("the layout is detected from mountinfo: v1, v1 with combined controllers, hybrid, and v2")
    func detection() throws {
        let v1 = """
            32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:5 - cgroup cgroup rw,cpu,cpuacct
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:8 - cgroup cgroup rw,memory
            39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
            """
        let combined = try #require(CgroupHierarchy.parse(mountinfo: v1))
        #expect(combined.version == .v1)
        #expect(combined.directory("cpu", "/a") == "/sys/fs/cgroup/cpu,cpuacct/a")
        #expect(combined.directory("cpuacct", "/a") == "/sys/fs/cgroup/cpu,cpuacct/a")
        #expect(combined.directory("memory", "/") == "/sys/fs/cgroup/memory")
        let hybrid = try #require(CgroupHierarchy.parse(mountinfo: v1 + "\n41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw"))
        #expect(hybrid.version == .v1)
        let v2 = try #require(CgroupHierarchy.parse(mountinfo: "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate"))
        #expect(v2.version == .v2 && v2.directory("memory", "/keelson/pod1") == "/sys/fs/cgroup/keelson/pod1")
        #expect(CgroupHierarchy.parse(mountinfo: "22 1 8:1 / / rw - ext4 /dev/sda1 rw") == nil)
    }

    @Test("mountinfo lines: the mount point unescaped, the filesystem type and super options; malformed lines skipped")
    func mountInfo() {
        let mounts = MountInfo.parse("""
            120 31 0:50 / /var/lib/keelson/pods/uid/volumes/my\\040cache rw,nosuid,nodev shared:60 - tmpfs tmpfs rw,size=65536k,mode=777
            not a mountinfo line
            22 1 8:1 / / rw - ext4 /dev/sda1 rw
            """)
        #expect(mounts == [
            MountInfo(mountPoint: "/var/lib/keelson/pods/uid/volumes/my cache", fsType: "tmpfs", superOptions: "rw,size=65536k,mode=777"),
            MountInfo(mountPoint: "/", fsType: "ext4", superOptions: "rw"),
        ])
    }

    @Test("this machine's own cgroups read live")
    func live() throws {
        let hierarchy = CgroupHierarchy.live()
        let reader = CgroupReader(hierarchy: hierarchy)
        // The root cgroup always exists and, on either version, has processes and CPU time below it.
        let root = try #require(reader.read("/"))
        #expect(root.memory.usageBytes > 0 || hierarchy.version == .v2)
        #expect(!reader.processIDs("/", limit: 1).isEmpty)
    }
}
