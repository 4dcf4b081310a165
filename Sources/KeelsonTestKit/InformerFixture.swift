import KeelsonAPI
import KeelsonClient
import Logging

/// Runs informers over a client for the duration of a test body, synced before the body starts and cancelled when it
/// returns: the "seed the cache, call sync" shape of upstream controller tests, with real list+watch underneath.
public enum InformerFixture {
    public static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    public static func run<T: Sendable>(_ informers: [Informer], _ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for informer in informers {
                group.addTask { try await informer.run() }
            }
            for informer in informers { try await informer.waitUntilSynced() }
            do {
                let result = try await body()
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }
}

/// Waits until `condition` holds, checking after every scheduler turn and at most every millisecond; fails with
/// `Timeout` after `timeout`. For state that arrives asynchronously (an informer catching up with a write), where
/// the test asserts the state itself, never a duration.
public func waitUntil(timeout: Duration = .seconds(5), _ what: String = "condition", _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try !condition() {
        if ContinuousClock.now > deadline { throw Timeout(what: what) }
        try await Task.sleep(for: .milliseconds(1))
    }
}

public struct Timeout: Error, CustomStringConvertible {
    public var what: String
    public var description: String { "timed out waiting for \(what)" }
}
