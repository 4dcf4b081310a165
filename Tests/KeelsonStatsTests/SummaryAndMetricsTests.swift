import Foundation
import KeelsonAPI
import Logging
import Testing
@testable import KeelsonStats

@Suite struct SummaryAndMetricsTests {
    static let fixtures = CgroupReaderTests.fixtures

    static func housekeeping() -> Housekeeping {
        var container = ContainerTarget(id: "ctr1", name: "main", image: "busybox:1.0", startTime: Date(timeIntervalSince1970: 1_700_000_000),
            cgroup: "/podabc/ctr1")
        container.writableLayerBytes = 4096
        container.writableLayerInodes = 3
        let pod = PodTarget(name: "web", namespace: "default", uid: "abc", startTime: Date(timeIntervalSince1970: 1_700_000_000),
            cgroup: "/podabc", containers: [container])
        return Housekeeping(history: StatsHistory(), reader: CgroupReader(hierarchy: .v1(root: fixtures + "/v1")),
            procRoot: fixtures + "/proc", logger: Logger(label: "test")) { [pod] }
    }

    @Test("the summary carries the node's, the pod's and the container's figures in stats/v1alpha1 form")
    func summary() async throws {
        let housekeeping = Self.housekeeping()
        await housekeeping.round(includeFilesystems: true)
        let summary = StatsSummary(nodeName: "node-1", history: housekeeping.history, nodeFilesystem: "/", imageFilesystem: "/",
            procRoot: Self.fixtures + "/proc").build()
        #expect(summary["node"]?["nodeName"] == "node-1")
        #expect(summary["node"]?["memory"]?["workingSetBytes"]?.intValue == 2_355_200_000)
        #expect(summary["node"]?["memory"]?["availableBytes"]?.intValue == 1_740_800_000)
        #expect(summary["node"]?["cpu"]?["usageCoreNanoSeconds"]?.intValue == 13_850_000_000)
        #expect(summary["node"]?["startTime"] == "2025-11-28T03:20:00Z")
        let pod = try #require(summary["pods"]?.arrayValue?.first)
        #expect(pod["podRef"] == ["name": "web", "namespace": "default", "uid": "abc"])
        #expect(pod["cpu"]?["usageCoreNanoSeconds"]?.intValue == 35_345_126)
        // One sample: no rate yet, and no made-up one.
        #expect(pod["cpu"]?["usageNanoCores"] == nil)
        #expect(pod["memory"]?["workingSetBytes"]?.intValue == 20_844_544)
        #expect(pod["network"]?["name"] == "eth0" && pod["network"]?["rxBytes"]?.intValue == 123_456 && pod["network"]?["txErrors"]?.intValue == 3)
        let container = try #require(pod["containers"]?.arrayValue?.first)
        #expect(container["name"] == "main")
        #expect(container["memory"]?["workingSetBytes"]?.intValue == 20_582_400)
        #expect(container["memory"]?["availableBytes"]?.intValue == 46_526_464)
        #expect(container["rootfs"]?["usedBytes"]?.intValue == 4096 && container["rootfs"]?["inodesUsed"]?.intValue == 3)
        #expect(pod["ephemeral-storage"]?["usedBytes"]?.intValue == 4096)
    }

    @Test("/metrics/cadvisor uses cAdvisor's names and labels, one group per family")
    func cadvisor() async throws {
        let housekeeping = Self.housekeeping()
        await housekeeping.round(includeFilesystems: false)
        let text = ContainerMetrics(history: housekeeping.history, machine: MachineInfo.read()).cadvisor()
        let labels = #"{container="main",id="/podabc/ctr1",image="busybox:1.0",name="ctr1",namespace="default",pod="web"}"#
        let lines = text.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("container_memory_working_set_bytes\(labels) 20582400 ") })
        #expect(lines.contains { $0.hasPrefix("container_cpu_usage_seconds_total\(labels) 0.035345126 ") })
        #expect(lines.contains { $0.hasPrefix("container_spec_memory_limit_bytes\(labels) 67108864 ") })
        #expect(lines.contains { $0.hasPrefix(#"container_network_receive_bytes_total{container="",id="/podabc",image="",name="",namespace="default",pod="web",interface="eth0"} 123456 "#) })
        try Self.expectWellFormed(text)
    }

    @Test("/metrics/resource has the stable figures metrics-server reads")
    func resource() async throws {
        let housekeeping = Self.housekeeping()
        await housekeeping.round(includeFilesystems: false)
        let text = ContainerMetrics(history: housekeeping.history, machine: MachineInfo.read()).resource()
        let lines = text.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix(#"container_memory_working_set_bytes{container="main",namespace="default",pod="web"} 20582400 "#) })
        #expect(lines.contains { $0.hasPrefix(#"pod_cpu_usage_seconds_total{namespace="default",pod="web"} 0.035345126 "#) })
        #expect(lines.contains { $0.hasPrefix("node_memory_working_set_bytes ") })
        #expect(lines.contains("resource_scrape_error 0"))
        try Self.expectWellFormed(text)
    }

    /// Every family's HELP, TYPE and samples together and once; every sample line NAME{LABELS} VALUE [TIMESTAMP].
    static func expectWellFormed(_ text: String) throws {
        var seen = Set<String>()
        var current = ""
        let sample = try Regex(#"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+0-9.eEInfNa]+( [0-9]+)?$"#)
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# HELP ") {
                let name = String(line.split(separator: " ")[2])
                #expect(seen.insert(name).inserted, "family \(name) appears twice")
                current = name
                continue
            }
            if line.hasPrefix("#") { continue }
            let match = try #require(try sample.wholeMatch(in: String(line)), "malformed: \(line)")
            #expect(String(match.output[1].substring!) == current, "\(line) outside its family \(current)")
        }
    }
}
