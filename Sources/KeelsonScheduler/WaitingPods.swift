import Synchronization

/// Pods held at Permit: each waits for every plugin that asked it to wait to allow it; one rejection, or the
/// earliest timeout, sends it back to the queue. The binding cycle waits here before PreBind, off the scheduling loop.
public final class WaitingPods: Sendable {
    public enum Outcome: Sendable, Equatable {
        case allowed
        case rejected(plugin: String, reason: String)
    }

    private struct Waiting {
        var pending: Set<String>
        var outcome: Outcome?
        var continuation: CheckedContinuation<Outcome, Never>?
        var node: String
    }

    private let state = Mutex<[String: Waiting]>([:])

    public init() {}

    /// Registers a pod that `plugins` asked to wait; it must then be awaited with `wait(for:)`.
    func add(_ key: String, node: String, plugins: Set<String>) {
        state.withLock { $0[key] = Waiting(pending: plugins, node: node) }
    }

    /// The waiting pods' keys and the nodes reserved for them.
    public var all: [(key: String, node: String)] {
        state.withLock { $0.filter { $0.value.outcome == nil }.map { ($0.key, $0.value.node) } }
    }

    public func isWaiting(_ key: String) -> Bool { state.withLock { $0[key]?.outcome == nil && $0[key] != nil } }

    /// `plugin` lets the pod go; it proceeds once no plugin still holds it.
    public func allow(_ key: String, plugin: String) {
        settle(key) { waiting in
            waiting.pending.remove(plugin)
            return waiting.pending.isEmpty ? .allowed : nil
        }
    }

    public func reject(_ key: String, plugin: String, reason: String) {
        settle(key) { _ in .rejected(plugin: plugin, reason: reason) }
    }

    /// Rejects every waiting pod (the scheduler is stopping).
    func rejectAll(reason: String) {
        for key in state.withLock({ Array($0.keys) }) { reject(key, plugin: "", reason: reason) }
    }

    private func settle(_ key: String, _ decide: (inout Waiting) -> Outcome?) {
        let resume = state.withLock { all -> (CheckedContinuation<Outcome, Never>, Outcome)? in
            guard var waiting = all[key], waiting.outcome == nil else { return nil }
            let outcome = decide(&waiting)
            waiting.outcome = outcome
            if let outcome, let continuation = waiting.continuation {
                all[key] = nil
                return (continuation, outcome)
            }
            all[key] = waiting
            return nil
        }
        if let (continuation, outcome) = resume { continuation.resume(returning: outcome) }
    }

    /// Waits for the pod's outcome; past `timeout` it is rejected.
    func wait(for key: String, timeout: Duration) async -> Outcome {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [weak self] in
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { self?.reject(key, plugin: "", reason: "rejected due to timeout after waiting \(timeout) at permit") }
            }
            let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                let ready: Outcome? = state.withLock { all in
                    guard var waiting = all[key] else { return .rejected(plugin: "", reason: "not waiting") }
                    if let outcome = waiting.outcome {
                        all[key] = nil
                        return outcome
                    }
                    waiting.continuation = continuation
                    all[key] = waiting
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
            group.cancelAll()
            return outcome
        }
    }
}
