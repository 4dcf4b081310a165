import Foundation

/// Where the cgroup controllers are mounted, read from `/proc/self/mountinfo`. A machine runs either cgroup v1
/// (one hierarchy per controller, possibly combined as `cpu,cpuacct`), v2 (one unified tree), or the hybrid
/// layout of v1 controllers plus an empty v2 tree — which reads as v1, since the controllers live there.
public struct CgroupHierarchy: Sendable, Equatable {
    public enum Version: String, Sendable { case v1, v2 }

    public let version: Version
    /// v1: controller name → mount point; v2: the single entry "" → mount point.
    let mounts: [String: String]

    /// The controllers whose files the readers use.
    static let controllers = ["cpu", "cpuacct", "memory", "pids"]

    /// A v1 layout with every controller in its own directory under `root` (recorded fixture trees, tests).
    public static func v1(root: String) -> CgroupHierarchy {
        CgroupHierarchy(version: .v1, mounts: Dictionary(uniqueKeysWithValues: controllers.map { ($0, root + "/" + $0) }))
    }

    /// A v2 layout rooted at `root`.
    public static func v2(root: String) -> CgroupHierarchy { CgroupHierarchy(version: .v2, mounts: ["": root]) }

    /// This machine's layout.
    public static func live() -> CgroupHierarchy {
        let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return parse(mountinfo: text) ?? .v2(root: "/sys/fs/cgroup")
    }

    /// The layout a mountinfo text describes; nil when it has no cgroup mounts.
    static func parse(mountinfo: String) -> CgroupHierarchy? {
        var v1: [String: String] = [:]
        var v2: String?
        for mount in MountInfo.parse(mountinfo) {
            switch mount.fsType {
            case "cgroup":
                for option in mount.superOptions.split(separator: ",") where controllers.contains(String(option)) {
                    v1[String(option)] = v1[String(option)] ?? mount.mountPoint
                }
            case "cgroup2":
                v2 = v2 ?? mount.mountPoint
            default:
                continue
            }
        }
        if v1["memory"] != nil { return CgroupHierarchy(version: .v1, mounts: v1) }
        return v2.map { .v2(root: $0) }
    }

    /// The directory of cgroup `path` (absolute within the hierarchy, e.g. `/keelson/podUID`) for a controller.
    public func directory(_ controller: String, _ path: String) -> String? {
        let mount = version == .v2 ? mounts[""] : mounts[controller]
        guard let mount else { return nil }
        return path == "/" || path.isEmpty ? mount : mount + (path.hasPrefix("/") ? path : "/" + path)
    }
}
