import Foundation
import KeelsonAPI

/// Runs a command to its end: its exit status and output (through `SystemCommand`). It blocks the calling
/// thread: call it off Swift's cooperative pool.
public enum Command {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs blocking work (a child process, a blocking wait) on a thread of its own, so that Swift's few
    /// cooperative threads stay free for the tasks the test is waiting on.
    public static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], stdin: String? = nil, environment: [String: String]? = nil) throws -> Output {
        // The test process starts long-lived servers while it runs commands: the pipes must be close-on-exec.
        let result = try SystemCommand.run(executable: executable, arguments, input: stdin, environment: environment)
        return Output(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }
}
