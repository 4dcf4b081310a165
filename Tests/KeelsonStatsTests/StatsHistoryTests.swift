import Foundation
import Testing
@testable import KeelsonStats

@Suite struct StatsHistoryTests {
    func sample(_ seconds: Double, cpu: UInt64) -> CgroupSample {
        var s = CgroupSample(timestamp: Date(timeIntervalSince1970: seconds))
        s.cpu.usageNanoseconds = cpu
        return s
    }

    @Test("the history keeps a bounded number of samples per cgroup")
    func bounded() {
        let history = StatsHistory(duration: .seconds(5), interval: .seconds(1))
        for i in 0..<20 { history.record(cgroup: "/a", sample(Double(i), cpu: UInt64(i))) }
        #expect(history.samples(cgroup: "/a").count == 5)
        #expect(history.samples(cgroup: "/a").map(\.cpu.usageNanoseconds) == [19, 18, 17, 16, 15])
    }

    @Test("the CPU rate is the counter's growth over the window, in nanocores")
    func rate() {
        let history = StatsHistory(duration: .seconds(120), interval: .seconds(1))
        #expect(history.cpuNanoCores(cgroup: "/a") == nil)
        // 200 millicores: 0.2 s of CPU per second.
        for i in 0..<30 { history.record(cgroup: "/a", sample(Double(i), cpu: UInt64(i) * 200_000_000)) }
        #expect(history.cpuNanoCores(cgroup: "/a", window: .seconds(10)) == 200_000_000)
        #expect(history.cpuNanoCores(cgroup: "/a", window: .seconds(1)) == 200_000_000)
        // A restarted cgroup's counter starts again from zero: no rate rather than a huge one.
        history.record(cgroup: "/a", sample(30, cpu: 5))
        #expect(history.cpuNanoCores(cgroup: "/a") == nil)
    }

    @Test("cgroups of pods that are gone are forgotten")
    func forget() {
        let history = StatsHistory()
        history.record(cgroup: "/p1", sample(0, cpu: 0))
        history.record(cgroup: "/p1/c", sample(0, cpu: 0))
        history.record(cgroup: "/p2", sample(0, cpu: 0))
        history.setTargets([PodTarget(name: "a", namespace: "n", uid: "u1", startTime: Date(), cgroup: "/p1",
            containers: [ContainerTarget(id: "c", name: "c", image: "i", startTime: Date(), cgroup: "/p1/c")])])
        #expect(history.latest(cgroup: "/p1") != nil && history.latest(cgroup: "/p1/c") != nil)
        #expect(history.latest(cgroup: "/p2") == nil)
    }
}
