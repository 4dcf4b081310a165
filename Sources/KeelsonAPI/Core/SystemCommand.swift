import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a program of the machine (`ip`, `iptables-restore`) to its end, for the components that program the
/// node's kernel. Both output pipes are drained at once, so a child that writes a lot to one cannot block on
/// the other.
///
/// The pipes (socket pairs) are made close-on-exec. Foundation closes a new child's other descriptors from a list it takes
/// just before spawning, so a pipe opened by another thread in that moment would be inherited by that child:
/// when the child is long-lived (the containerd an agent starts), the pipe never reaches its end and whoever
/// reads it waits for ever.
public enum SystemCommand {
    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `arguments` through `/usr/bin/env` (found on PATH). Blocks the calling thread: from async code, use
    /// `output(_:input:)`.
    public static func run(_ arguments: [String], input: String? = nil) throws -> Output {
        try run(executable: "/usr/bin/env", arguments, input: input)
    }

    /// Blocks the calling thread.
    public static func run(executable: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil) throws -> Output {
        let stdout = try pipe(), stderr = try pipe(), stdin = try pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = stdout.write
        process.standardError = stderr.write
        process.standardInput = stdin.read
        defer {
            for handle in [stdout.read, stderr.read, stdin.write] { try? handle.close() }
        }
        do {
            try process.run()
        } catch {
            for handle in [stdout.write, stderr.write, stdin.read] { try? handle.close() }
            throw error
        }
        // The child has its copies; the parent's would keep the pipes from ever ending.
        for handle in [stdout.write, stderr.write, stdin.read] { try? handle.close() }
        if let input { try? stdin.write.write(contentsOf: Data(input.utf8)) }
        try? stdin.write.close()
        nonisolated(unsafe) var errors = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errors = (try? stderr.read.readToEnd()) ?? Data()
            group.leave()
        }
        let output = (try? stdout.read.readToEnd()) ?? Data()
        group.wait()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: output, as: UTF8.self),
                      stderr: String(decoding: errors, as: UTF8.self))
    }

    /// Runs the command on a thread of its own (Swift's few cooperative threads must not wait on a child) and
    /// returns its output; a non-zero exit is `Failed` with what the command wrote to stderr.
    @discardableResult
    public static func output(_ arguments: [String], input: String? = nil) async throws -> String {
        let result = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try run(arguments, input: input) }) }
        }
        guard result.status == 0 else {
            throw Failed(description: "\(arguments.prefix(4).joined(separator: " ")) failed (\(result.status)): \(result.stderr)")
        }
        return result.stdout
    }

    /// A connected pair of sockets, close-on-exec from birth (glibc's `pipe2` is not visible to Swift): the child
    /// writes into one end as into a pipe.
    private static func pipe() throws -> (read: FileHandle, write: FileHandle) {
        var descriptors: [Int32] = [0, 0]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &descriptors) == 0 else {
            throw Failed(description: "cannot create a socket pair: \(String(cString: strerror(errno)))")
        }
        // One-way, as a pipe is: the child's end only writes (or only reads, for stdin).
        shutdown(descriptors[0], Int32(SHUT_WR))
        shutdown(descriptors[1], Int32(SHUT_RD))
        return (FileHandle(fileDescriptor: descriptors[0], closeOnDealloc: false), FileHandle(fileDescriptor: descriptors[1], closeOnDealloc: false))
    }
}
