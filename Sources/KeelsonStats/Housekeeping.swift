import Foundation
import Logging
import Synchronization
import ServiceLifecycle

/// cAdvisor's housekeeping: every interval, asks who runs on the node, samples the node, each pod's and each
/// container's cgroup and each pod's network into the history; the slower disk walks (volumes, logs) run every
/// `filesystemEvery` rounds, as cAdvisor's filesystem stats do, since they cost far more than cgroup files.
public struct Housekeeping: Service {
    public let history: StatsHistory
    let reader: CgroupReader
    let interval: Duration
    let filesystemEvery: Int
    let procRoot: String
    let targets: @Sendable () async -> [PodTarget]?
    let logger: Logger
    private let memo = Memo()

    /// What one round hands the next: each pod's process to read its network from.
    private final class Memo: Sendable {
        let state = Mutex<[String: Int32]>([:])
    }

    public init(history: StatsHistory, reader: CgroupReader, interval: Duration = .seconds(1), filesystemEvery: Int = 10,
                procRoot: String = "/proc", logger: Logger, targets: @escaping @Sendable () async -> [PodTarget]?) {
        self.history = history
        self.reader = reader
        self.interval = interval
        self.filesystemEvery = max(1, filesystemEvery)
        self.procRoot = procRoot
        self.targets = targets
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var round = 0
            while !Task.isCancelled {
                let deadline = ContinuousClock.now + interval
                await self.round(includeFilesystems: round % filesystemEvery == 0)
                round += 1
                try await Task.sleep(until: deadline)
            }
        }
    }

    /// One housekeeping pass (public for the benchmark and tests).
    public func round(includeFilesystems: Bool) async {
        if let pods = await targets() { history.setTargets(pods) }
        sample(includeFilesystems: includeFilesystems)
    }

    func sample(includeFilesystems: Bool) {
        let now = Date()
        history.record(node: NodeUsage.read(procRoot: procRoot, at: now))
        let knownPIDs = memo.state.withLock { $0 }
        var pids: [String: Int32] = [:]
        for pod in history.pods {
            for cgroup in [pod.cgroup] + pod.containers.map(\.cgroup) {
                let previous = includeFilesystems ? nil : history.latest(cgroup: cgroup)
                if let sample = reader.read(cgroup, at: now, previous: previous) { history.record(cgroup: cgroup, sample) }
            }
            // Every process of a pod shares its network namespace: any one of them shows the pod's interfaces.
            // The last round's process is read again; on the slow rounds (its number could have been reused), or
            // when it is gone, one is looked up: first among the containers' own processes, which costs one read,
            // then anywhere under the pod's cgroup.
            func network(_ pid: Int32?) -> [InterfaceStats]? {
                guard let pid, let interfaces = InterfaceStats.read(pid: pid, procRoot: procRoot, files: reader.files) else { return nil }
                pids[pod.uid] = pid
                return interfaces
            }
            let interfaces = (includeFilesystems ? nil : network(knownPIDs[pod.uid]))
                ?? network(pod.containers.lazy.compactMap { reader.firstProcess($0.cgroup) }.first)
                ?? network(reader.processIDs(pod.cgroup, limit: 1).first)
            if let interfaces { history.record(podUID: pod.uid, network: .init(timestamp: now, interfaces: interfaces)) }
            if includeFilesystems {
                for (name, path) in pod.volumes {
                    history.record(podUID: pod.uid, volume: name, usage: .init(timestamp: now, usage: DirectoryUsage.measure(path)))
                }
                if let logs = pod.logDirectory {
                    for container in pod.containers {
                        history.record(podUID: pod.uid, volume: Self.logsKey(container.name),
                            usage: .init(timestamp: now, usage: DirectoryUsage.measure(logs + "/" + container.name)))
                    }
                }
            }
        }
        memo.state.withLock { $0 = pids }
        reader.files?.endRound()
    }

    /// The history key of a container's logs, which is no volume name (those are DNS labels).
    static func logsKey(_ container: String) -> String { "/logs/" + container }
}
