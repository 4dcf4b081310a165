import NIOCore
import Synchronization

/// Bounds how long requests to etcd may go unanswered, without a timer per request.
///
/// grpc-swift runs each call's deadline as a task racing the call, which cost about a fifth of the API server's
/// create throughput on etcd. Instead every request notes when it started, and one loop looks at the oldest: when
/// it has waited longer than the timeout, etcd is taken to be unresponsive (frozen, or its network gone) and the
/// request connections are closed, which fails every request on them as unavailable (503 at the API). The gRPC
/// client then connects again.
final class RequestWatchdog: Sendable {
    private struct State {
        var next: UInt64 = 0
        var started: [UInt64: ContinuousClock.Instant] = [:]
        var channels: [ObjectIdentifier: any Channel] = [:]
    }

    let timeout: Duration
    private let state = Mutex(State())

    init(timeout: Duration) {
        self.timeout = timeout
    }

    /// A request connection, closed when requests on it stop being answered.
    func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock { $0.channels[id] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.state.withLock { $0.channels.removeValue(forKey: id) }
        }
    }

    func begin() -> UInt64 {
        let now = ContinuousClock.now
        return state.withLock { state in
            state.next += 1
            state.started[state.next] = now
            return state.next
        }
    }

    func end(_ id: UInt64) {
        _ = state.withLock { $0.started.removeValue(forKey: id) }
    }

    /// Runs until cancelled; returns how many times it gave up on the connections (for tests).
    func run(onGiveUp: @Sendable (Duration) -> Void = { _ in }) async {
        let tick = max(timeout / 4, .milliseconds(100))
        while !Task.isCancelled {
            do { try await Task.sleep(for: tick) } catch { return }
            let now = ContinuousClock.now
            let stuck = state.withLock { state -> (channels: [any Channel], waited: Duration)? in
                guard let oldest = state.started.values.min(), now - oldest > timeout else { return nil }
                // The requests still waiting get a full timeout on the next connection.
                for id in state.started.keys { state.started[id] = now }
                return (Array(state.channels.values), now - oldest)
            }
            guard let stuck else { continue }
            onGiveUp(stuck.waited)
            for channel in stuck.channels { channel.close(promise: nil) }
        }
    }
}
