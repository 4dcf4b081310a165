import Foundation
import KeelsonAPI
import KeelsonStats

/// `emptyDir` volumes with `medium: Memory`: a tmpfs mounted on the volume's directory, sized as Kubernetes sizes
/// it (the volume's `sizeLimit`, else the pod's memory limit when every container has one, else the kernel's
/// default of half the node's memory). Its pages are charged to the pod's memory cgroup, as in Kubernetes.
enum MemoryVolume {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Mounts the tmpfs unless one is already there (a sync after the first, or after an agent restart).
    static func ensureMounted(at path: String, sizeBytes: Int64?) throws {
        guard !mountPoints(under: path).contains(path) else { return }
        var options = "mode=0777"
        if let sizeBytes, sizeBytes > 0 { options += ",size=\(sizeBytes)" }
        let status = mount("tmpfs", path, "tmpfs", UInt(MS_NOSUID) | UInt(MS_NODEV), options)
        guard status == 0 else {
            throw Failure(description: "cannot mount a tmpfs for the memory-backed volume at \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// The size of a memory-backed volume of `pod`, nil for the kernel's default.
    static func size(volume: JSONValue, pod: JSONValue) -> Int64? {
        if let limit = Quantity(json: volume["emptyDir"]?["sizeLimit"]), limit.milli > 0 { return limit.milli / 1000 }
        let containers = pod["spec"]?["containers"]?.arrayValue ?? []
        let limits = containers.map { Quantity(json: $0["resources"]?["limits"]?["memory"]) }
        guard !limits.isEmpty, limits.allSatisfy({ $0 != nil }) else { return nil }
        return limits.compactMap { $0 }.reduce(Int64(0)) { $0 + $1.milli / 1000 }
    }

    /// Unmounts every mount at or below `directory` (a removed pod's directory), deepest first.
    static func unmountAll(under directory: String) {
        for point in mountPoints(under: directory).sorted(by: { $0.count > $1.count }) {
            umount2(point, Int32(MNT_DETACH))
        }
    }

    /// Mount points at or below `directory`, from this process's mount table.
    static func mountPoints(under directory: String) -> [String] {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        return MountInfo.current().map(\.mountPoint).filter { $0 == directory || $0.hasPrefix(prefix) }
    }
}
