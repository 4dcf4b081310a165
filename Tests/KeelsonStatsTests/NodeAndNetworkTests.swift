import Foundation
import Testing
@testable import KeelsonStats

@Suite struct NodeAndNetworkTests {
    static let proc = CgroupReaderTests.fixtures + "/proc"

    @Test("a pod's interfaces come from /proc/PID/net/dev, without loopback")
    func network() {
        let interfaces = InterfaceStats.read(pid: 24095, procRoot: Self.proc) ?? []
        #expect(InterfaceStats.read(pid: 1, procRoot: Self.proc) == nil, "a process without net/dev is gone")
        #expect(interfaces.count == 1)
        let eth0 = interfaces[0]
        #expect(eth0.name == "eth0" && eth0.rxBytes == 123_456 && eth0.rxPackets == 321 && eth0.rxErrors == 1 && eth0.rxDropped == 2)
        #expect(eth0.txBytes == 65_432 && eth0.txPackets == 210 && eth0.txErrors == 3 && eth0.txDropped == 4)
    }

    @Test("the node's usage: busy CPU time from /proc/stat, working set as capacity less free less inactive file")
    func node() {
        let usage = NodeUsage.read(procRoot: Self.proc)
        // user+nice+system+irq+softirq+steal = 1000+50+300+10+20+5 ticks of 10 ms.
        #expect(usage.cpuNanoseconds == 1385 * 10_000_000)
        #expect(usage.memoryBytes == 4_000_000 * 1024)
        #expect(usage.memoryUsageBytes == 3_000_000 * 1024)
        #expect(usage.memoryWorkingSetBytes == 2_300_000 * 1024)
        #expect(usage.memoryAvailableBytes == 1_700_000 * 1024)
        #expect(usage.memoryRSSBytes == 900_000 * 1024)
        #expect(usage.pageFaults == 1_000_000 && usage.majorPageFaults == 500)
        #expect(usage.maxPID == 4_194_304 && usage.processes == 345, "processes and threads, from /proc/loadavg")
    }

    @Test("directory usage counts allocated blocks and inodes, hard links once")
    func directoryUsage() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-du-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(count: 100_000).write(to: URL(fileURLWithPath: dir + "/sub/a"))
        try FileManager.default.linkItem(atPath: dir + "/sub/a", toPath: dir + "/b")
        let usage = DirectoryUsage.measure(dir)
        #expect(usage.inodes == 3)
        // 100,000 bytes take at least that many bytes of blocks, once.
        #expect(usage.bytes >= 100_000 && usage.bytes < 200_000 + 16384)
    }
}
