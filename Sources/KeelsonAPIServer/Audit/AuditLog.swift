import Foundation
import KeelsonAPI
import Logging

/// The audit log (`--audit-log-path`): one audit.k8s.io/v1 `Event` per line, JSON, as kube-apiserver's log backend
/// writes them. Requests hand their events over without waiting (kube-apiserver's `batch` mode); one task appends
/// them in order and rotates the file by size (`--audit-log-maxsize` MB, keeping `--audit-log-maxbackup` files).
public final class AuditLog: Sendable {
    public struct Configuration: Sendable {
        public var path: String
        public var policy: AuditPolicy
        /// Rotate when the file would grow past this many bytes; nil never rotates.
        public var maxBytes: Int?
        /// Rotated files kept (the oldest are removed); 0 keeps them all, as kube-apiserver's default.
        public var maxBackups: Int

        public init(path: String, policy: AuditPolicy = .metadataForAll, maxBytes: Int? = nil, maxBackups: Int = 0) {
            self.path = path
            self.policy = policy
            self.maxBytes = maxBytes
            self.maxBackups = maxBackups
        }
    }

    public let configuration: Configuration
    private let lines: AsyncStream<[UInt8]>
    private let continuation: AsyncStream<[UInt8]>.Continuation
    private let logger: Logger

    public init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        (lines, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .unbounded)
        // Fail at start, with the path, rather than lose events later.
        let directory = (configuration.path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let fd = Glibc.open(configuration.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "--audit-log-path \(configuration.path): \(String(cString: strerror(errno)))") }
        Glibc.close(fd)
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Queues one event.
    func record(_ event: JSONValue) {
        continuation.yield(event.encoded() + [0x0A])
    }

    /// Writes queued events until `finish()`, then everything still queued.
    public func run() async {
        var file = openFile()
        var size = file.map { Int(lseek($0, 0, SEEK_END)) } ?? 0
        for await line in lines {
            if let maxBytes = configuration.maxBytes, size > 0, size + line.count > maxBytes {
                if let fd = file { Glibc.close(fd) }
                rotate()
                file = openFile()
                size = 0
            }
            guard let fd = file else { continue }
            let written = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written != line.count {
                logger.error("cannot write the audit log", metadata: ["file": "\(configuration.path)", "error": "\(String(cString: strerror(errno)))"])
            } else {
                size += line.count
            }
        }
        if let fd = file { Glibc.close(fd) }
    }

    public func finish() { continuation.finish() }

    private func openFile() -> Int32? {
        let fd = Glibc.open(configuration.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0 {
            logger.error("cannot open the audit log", metadata: ["file": "\(configuration.path)", "error": "\(String(cString: strerror(errno)))"])
            return nil
        }
        return fd
    }

    /// `audit.log` becomes `audit-2026-11-29T10-00-00.123.log` beside it (the names kube-apiserver's rotation gives).
    private func rotate() {
        let url = URL(fileURLWithPath: configuration.path)
        let base = url.deletingPathExtension().lastPathComponent
        let ext = url.pathExtension.isEmpty ? "" : "." + url.pathExtension
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH-mm-ss.SSS"
        let directory = url.deletingLastPathComponent()
        var target = directory.appendingPathComponent("\(base)-\(formatter.string(from: Date()))\(ext)")
        var suffix = 1
        while FileManager.default.fileExists(atPath: target.path) {
            target = directory.appendingPathComponent("\(base)-\(formatter.string(from: Date()))-\(suffix)\(ext)")
            suffix += 1
        }
        if Glibc.rename(url.path, target.path) != 0 {
            logger.error("cannot rotate the audit log", metadata: ["file": "\(url.path)", "error": "\(String(cString: strerror(errno)))"])
            return
        }
        guard configuration.maxBackups > 0 else { return }
        let backups = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasPrefix(base + "-") && $0.hasSuffix(ext) }
            .sorted()
        for old in backups.dropLast(configuration.maxBackups) {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(old))
        }
    }
}
