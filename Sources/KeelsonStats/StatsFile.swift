#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation

/// Reading the small files of cgroupfs and /proc. They report a size of 0, so they are read to their end; and the
/// housekeeping reads thousands of them a second, so the hot readers parse the bytes in place, without Foundation
/// or a String per file.
enum StatsFile {
    /// Larger than any cgroup file read here; /proc files that can be longer (/proc/stat) are only read in part.
    static let bufferSize = 16 * 1024

    /// Hands the file's first `bufferSize` bytes to `body`; nil when the file cannot be read. Through `files`
    /// when given, which keeps the descriptor for the next read.
    static func withContents<R>(_ path: String, files: OpenFiles? = nil, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        if let files { return files.withContents(path, body) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return read(fd, body)
    }

    /// Reads an open file from its start.
    static func read<R>(_ fd: Int32, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        withUnsafeTemporaryAllocation(byteCount: bufferSize, alignment: 1) { buffer -> R? in
            var used = 0
            while used < buffer.count {
                let n = pread(fd, buffer.baseAddress! + used, buffer.count - used, off_t(used))
                if n < 0 {
                    if errno == EINTR { continue }
                    return nil
                }
                if n == 0 { break }
                used += n
            }
            return body(UnsafeRawBufferPointer(rebasing: buffer[..<used]))
        }
    }

    /// The whole file as trimmed text (cold paths: machine facts, tests).
    static func text(_ path: String) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func lines(_ path: String) -> [Substring] {
        let content = text(path)
        return content.isEmpty ? [] : content.split(separator: "\n")
    }

    /// The file's leading unsigned number; 0 when absent or unreadable.
    static func number(_ path: String, files: OpenFiles? = nil) -> UInt64 { optionalNumber(path, files: files) ?? 0 }

    /// The file's leading unsigned number (0 without digits); nil when the file cannot be read.
    static func optionalNumber(_ path: String, files: OpenFiles? = nil) -> UInt64? {
        withContents(path, files: files) { bytes in
            var value: UInt64 = 0
            for byte in bytes {
                guard byte >= 0x30 && byte <= 0x39 else { break }
                value = value &* 10 &+ UInt64(byte - 0x30)
            }
            return value
        }
    }

    /// Every unsigned number in the file, in order (cpuacct.usage_percpu).
    static func numbers(_ path: String, files: OpenFiles? = nil) -> [UInt64] {
        withContents(path, files: files) { bytes in
            var values: [UInt64] = []
            var current: UInt64 = 0
            var inNumber = false
            for byte in bytes {
                if byte >= 0x30 && byte <= 0x39 {
                    current = current &* 10 &+ UInt64(byte - 0x30)
                    inNumber = true
                } else if inNumber {
                    values.append(current)
                    current = 0
                    inNumber = false
                }
            }
            if inNumber { values.append(current) }
            return values
        } ?? []
    }

    /// Non-empty lines (cgroup.procs, tasks: one process or thread a line).
    static func lineCount(_ path: String, files: OpenFiles? = nil) -> UInt64 {
        withContents(path, files: files) { bytes in
            var count: UInt64 = 0
            var previous: UInt8 = 0x0A
            for byte in bytes {
                if byte == 0x0A && previous != 0x0A { count += 1 }
                previous = byte
            }
            if previous != 0x0A { count += 1 }
            return count
        } ?? 0
    }

    /// The values of `keys` in a file of "key value" lines (memory.stat, cpu.stat, memory.events), in the keys'
    /// order, 0 for a key the file lacks.
    static func values(_ path: String, _ keys: KeySet, files: OpenFiles? = nil) -> [UInt64] {
        withContents(path, files: files) { bytes in
            var values = [UInt64](repeating: 0, count: keys.keys.count)
            var index = 0
            let count = bytes.count
            while index < count {
                let lineStart = index
                while index < count && bytes[index] != 0x20 && bytes[index] != 0x0A { index += 1 }
                let keyEnd = index
                var value: UInt64 = 0
                if index < count && bytes[index] == 0x20 {
                    index += 1
                    while index < count && bytes[index] >= 0x30 && bytes[index] <= 0x39 {
                        value = value &* 10 &+ UInt64(bytes[index] - 0x30)
                        index += 1
                    }
                }
                while index < count && bytes[index] != 0x0A { index += 1 }
                index += 1
                if let slot = keys.slot(bytes, lineStart, keyEnd) { values[slot] = value }
            }
            return values
        } ?? [UInt64](repeating: 0, count: keys.keys.count)
    }

    /// The keys one reader wants from a keyed file, prepared once.
    struct KeySet: Sendable {
        let keys: [[UInt8]]

        init(_ keys: [String]) { self.keys = keys.map { Array($0.utf8) } }

        func slot(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int? {
            let length = end - start
            for (slot, key) in keys.enumerated() where key.count == length {
                var equal = true
                for offset in 0..<length where key[offset] != bytes[start + offset] {
                    equal = false
                    break
                }
                if equal { return slot }
            }
            return nil
        }
    }
}
