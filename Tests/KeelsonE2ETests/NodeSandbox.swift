import Foundation
import Testing

/// A network namespace of its own for a cluster whose node runs real containers: `lo`, the pods' bridge and a
/// dead-end uplink, no route out of the machine. The server (and so its containerd) and kubectl run inside it through
/// `nsenter --net=` — not `ip netns exec`, which remounts /sys and hides the cgroup hierarchy runc needs.
///
/// `destroy()` leaves nothing behind: it kills the runtime shims of this node's containerd, unmounts what
/// containerd mounted under the data dir, removes the pods' cgroups and the namespace.
final class NodeSandbox: Sendable {
    let name: String
    let cgroupRoot: String
    var netnsPath: String { "/run/netns/\(name)" }

    init() throws {
        let id = UUID().uuidString.prefix(8).lowercased()
        name = "keelson-e2e-\(id)"
        cgroupRoot = "/keelson-e2e-\(id)"
        try Self.sh("ip", "netns", "add", name)
        try Self.sh("ip", "-n", name, "link", "set", "lo", "up")
        // A host has a default route; without one, traffic to a service with no endpoints fails at routing
        // ("no route to host") before the filter rules that REJECT it are reached. This one leads into a veth
        // whose other end stays down, inside the namespace: nothing leaves it.
        try Self.sh("ip", "-n", name, "link", "add", "uplink", "type", "veth", "peer", "name", "uplink-void")
        try Self.sh("ip", "-n", name, "link", "set", "uplink", "up")
        try Self.sh("ip", "-n", name, "route", "add", "default", "dev", "uplink")
    }

    /// The arguments that run `executable` inside the namespace.
    func wrap(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        ("/usr/bin/nsenter", ["--net=\(netnsPath)", executable] + arguments)
    }

    /// Builds the pause, busybox and spare images once per test run (scripts/build-images.sh, into the build directory)
    /// for the agents' image directories, which each agent imports at start.
    static let imageCache: Result<URL, any Error> = Result {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let directory = root.appendingPathComponent(".build/test-images")
        let script = root.appendingPathComponent("scripts/build-images.sh")
        try sh(script.path, directory.path)
        return directory
    }

    func installImages(into dataDir: URL) throws {
        let cache = try Self.imageCache.get()
        let images = dataDir.appendingPathComponent("agent/images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        for file in ["pause.tar", "busybox.tar", "spare.tar"] where !FileManager.default.fileExists(atPath: images.appendingPathComponent(file).path) {
            try FileManager.default.copyItem(at: cache.appendingPathComponent(file), to: images.appendingPathComponent(file))
        }
    }

    func destroy(dataDir: URL) {
        let socket = dataDir.appendingPathComponent("agent/containerd/containerd.sock").path
        let config = dataDir.appendingPathComponent("agent/containerd/config.toml").path
        for pid in Self.processes(withArgument: config) { kill(pid, SIGKILL) }
        // The shims outlive containerd; each names the socket of the containerd that started it.
        for pid in Self.processes(withArgument: socket) { kill(pid, SIGKILL) }
        // Processes of the pods themselves, found through their cgroups.
        for pid in Self.pidsInCgroup(cgroupRoot) { kill(pid, SIGKILL) }
        // A killed process leaves its cgroup only once it has exited, and rmdir refuses a cgroup until then.
        let deadline = ContinuousClock.now + .seconds(10)
        while !Self.pidsInCgroup(cgroupRoot).isEmpty && ContinuousClock.now < deadline {
            for pid in Self.pidsInCgroup(cgroupRoot) { kill(pid, SIGKILL) }
            usleep(20_000)
        }
        let prefix = dataDir.resolvingSymlinksInPath().path
        let mounts = Self.read("/proc/self/mountinfo").split(separator: "\n")
            .compactMap { line -> String? in
                let fields = line.split(separator: " ")
                guard fields.count > 4 else { return nil }
                let point = String(fields[4]).replacingOccurrences(of: "\\040", with: " ")
                return point.hasPrefix(prefix) ? point : nil
            }
        for point in mounts.sorted(by: { $0.count > $1.count }) { umount2(point, Int32(MNT_DETACH)) }
        removeCgroups()
        try? Self.sh("ip", "netns", "del", name)
    }

    private func removeCgroups() {
        let root = "/sys/fs/cgroup"
        let controllers = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for directory in [root] + controllers.map({ "\(root)/\($0)" }) {
            let base = directory + cgroupRoot
            guard let entries = FileManager.default.enumerator(atPath: base)?.allObjects as? [String] else { continue }
            for entry in entries.sorted(by: { $0.count > $1.count }) { rmdir(base + "/" + entry) }
            rmdir(base)
        }
    }

    static func pidsInCgroup(_ relative: String) -> [Int32] {
        let base = "/sys/fs/cgroup/pids" + relative
        let alternative = "/sys/fs/cgroup" + relative
        var pids: [Int32] = []
        for root in [base, alternative] {
            guard let entries = FileManager.default.enumerator(atPath: root)?.allObjects as? [String] else { continue }
            for entry in entries + [""] where entry.isEmpty || entry.hasSuffix("cgroup.procs") {
                let file = entry.isEmpty ? root + "/cgroup.procs" : root + "/" + entry
                let text = Self.read(file)
                pids += text.split(separator: "\n").compactMap { Int32($0) }
            }
        }
        return pids
    }

    /// Files of /proc and /sys claim a size of 0, so they are read to their end rather than by their size.
    static func read(_ path: String) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    }

    static func processes(withArgument argument: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return data.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == argument }
        }
    }

    @discardableResult
    static func sh(_ executable: String, _ arguments: String...) throws -> String {
        let output = try KeelsonProcess.run(executable.hasPrefix("/") ? executable : "/usr/bin/env",
            executable.hasPrefix("/") ? arguments : [executable] + arguments)
        guard output.status == 0 else {
            throw KeelsonProcess.Failure("\(executable) \(arguments.joined(separator: " ")) failed: \(output.stderr)")
        }
        return output.stdout
    }
}
