import Foundation

/// Bytes and inodes a directory tree holds, counted as `du` does (allocated blocks, hard links once).
public struct DirectoryUsage: Sendable, Equatable {
    public var bytes: UInt64 = 0
    public var inodes: UInt64 = 0

    public init(bytes: UInt64 = 0, inodes: UInt64 = 0) {
        self.bytes = bytes
        self.inodes = inodes
    }

    public static func measure(_ path: String) -> DirectoryUsage {
        var usage = DirectoryUsage()
        var seen = Set<UInt64>()
        var root = stat()
        guard lstat(path, &root) == 0 else { return usage }
        var pending = [path]
        while let next = pending.popLast() {
            var info = stat()
            guard lstat(next, &info) == 0, info.st_dev == root.st_dev else { continue }
            if info.st_nlink > 1 && (info.st_mode & S_IFMT) != S_IFDIR {
                guard seen.insert(UInt64(info.st_ino)).inserted else { continue }
            }
            usage.inodes += 1
            usage.bytes += UInt64(max(0, info.st_blocks)) * 512
            // Symlinks are not followed and other filesystems not entered: what is counted is what this tree holds.
            if (info.st_mode & S_IFMT) == S_IFDIR, let children = try? FileManager.default.contentsOfDirectory(atPath: next) {
                pending += children.map { next + "/" + $0 }
            }
        }
        return usage
    }
}
