import ArgumentParser
import Foundation
import KeelsonStats
import Logging

/// The stats housekeeping's cost: N pods of one container each, as real cgroups on this machine with a process in
/// each container's, sampled round after round; the CPU this process spends per round is what the kubelet spends
/// every housekeeping interval. The runtime listing the kubelet adds per round (two CRI calls) is not included.
struct HousekeepingBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "housekeeping",
        abstract: "CPU cost of sampling container cgroups, and the memory of the stats history.")
    @Option(help: "Container counts, comma-separated") var containers: String = "30,100"
    @Option(help: "Measured rounds per count") var rounds: Int = 300

    func run() async throws {
        let hierarchy = CgroupHierarchy.live()
        for count in containers.split(separator: ",").compactMap({ Int($0) }) {
            let tree = try CgroupTree(hierarchy: hierarchy, pods: count)
            defer { tree.remove() }
            let history = StatsHistory(duration: .seconds(120), interval: .seconds(1))
            let rssBefore = Self.rssKiB()
            let housekeeping = Housekeeping(history: history, reader: CgroupReader(hierarchy: hierarchy, files: OpenFiles()), logger: Logger(label: "bench")) {
                tree.targets
            }
            // Fill the history to its bound first (120 samples a cgroup), so the memory figure is the steady one.
            for i in 0..<120 { await housekeeping.round(includeFilesystems: i % 10 == 0) }
            let rssFull = Self.rssKiB()
            var perRound: [Double] = []
            // As the service runs it: every tenth round also reads the slow figures.
            for i in 0..<rounds {
                let cpu = Self.cpuSeconds()
                await housekeeping.round(includeFilesystems: i % 10 == 0)
                perRound.append(Self.cpuSeconds() - cpu)
            }
            let sorted = perRound.sorted()
            let median = sorted[sorted.count / 2], mean = perRound.reduce(0, +) / Double(perRound.count)
            print(String(format: "housekeeping: %d containers (%d cgroups, %@): CPU per round median %.2f ms, mean %.2f ms = %.2f%% of one core at a 1 s interval; %.1f µs per container",
                count, count * 2, hierarchy.version.rawValue, median * 1000, mean * 1000, mean * 100, mean / Double(count) * 1e6))
            print(String(format: "housekeeping: %d containers: history of %d samples, RSS growth %.1f MiB",
                count, history.sampleCount, Double(rssFull - rssBefore) / 1024))
        }
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    static func rssKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
        return line.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
    }
}

/// Pod and container cgroups made for the benchmark, each container's holding a sleeping process, all removed after.
final class CgroupTree: @unchecked Sendable {
    let root = "/keelson-bench-housekeeping-\(getpid())"
    let hierarchy: CgroupHierarchy
    let targets: [PodTarget]
    private var processes: [Process] = []

    init(hierarchy: CgroupHierarchy, pods: Int) throws {
        self.hierarchy = hierarchy
        var targets: [PodTarget] = []
        for i in 0..<pods {
            let pod = "\(root)/pod\(i)", container = "\(pod)/ctr\(i)"
            targets.append(PodTarget(name: "pod\(i)", namespace: "bench", uid: "\(i)", startTime: Date(), cgroup: pod,
                containers: [ContainerTarget(id: "ctr\(i)", name: "main", image: "busybox", startTime: Date(), cgroup: container)]))
        }
        self.targets = targets
        for target in targets {
            for dir in Self.directories(hierarchy, target.containers[0].cgroup) {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            }
            let sleeper = Process()
            sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
            sleeper.arguments = ["3600"]
            try sleeper.run()
            processes.append(sleeper)
            for dir in Self.directories(hierarchy, target.containers[0].cgroup) {
                try "\(sleeper.processIdentifier)\n".write(toFile: dir + "/cgroup.procs", atomically: false, encoding: .utf8)
            }
        }
    }

    static func directories(_ hierarchy: CgroupHierarchy, _ path: String) -> [String] {
        Array(Set(["cpu", "cpuacct", "memory", "pids"].compactMap { hierarchy.directory($0, path) }))
    }

    func remove() {
        for process in processes {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        // Children first: rmdir removes only empty cgroups.
        for target in targets {
            for dir in Self.directories(hierarchy, target.containers[0].cgroup) + Self.directories(hierarchy, target.cgroup) { rmdir(dir) }
        }
        for dir in Self.directories(hierarchy, root) { rmdir(dir) }
    }
}
