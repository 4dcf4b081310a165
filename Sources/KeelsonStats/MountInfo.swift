import Foundation

/// The mounts of a `/proc/PID/mountinfo` text: each line's mount point (unescaped), filesystem type and super
/// options — what the cgroup layout and the kubelet's own mounts are found from.
public struct MountInfo: Sendable, Equatable {
    public var mountPoint: String
    public var fsType: String
    public var superOptions: String

    /// This process's mounts.
    public static func current() -> [MountInfo] {
        parse((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "")
    }

    public static func parse(_ text: String) -> [MountInfo] {
        text.split(separator: "\n").compactMap { line in
            // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS"
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2 else { return nil }
            let before = halves[0].split(separator: " ")
            let after = halves[1].split(separator: " ")
            guard before.count >= 5, after.count >= 3 else { return nil }
            return MountInfo(mountPoint: unescape(String(before[4])), fsType: String(after[0]), superOptions: String(after[2]))
        }
    }

    /// mountinfo escapes spaces, tabs, newlines and backslashes as octal.
    static func unescape(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var out = ""
        var chars = Array(field)[...]
        while let c = chars.popFirst() {
            if c == "\\", chars.count >= 3, let code = UInt8(String(chars.prefix(3)), radix: 8) {
                out.append(Character(UnicodeScalar(code)))
                chars = chars.dropFirst(3)
            } else {
                out.append(c)
            }
        }
        return out
    }
}
