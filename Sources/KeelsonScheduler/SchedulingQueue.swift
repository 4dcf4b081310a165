import Foundation
import Synchronization

/// kube-scheduler's scheduling queue: an active queue ordered by priority, then age (PrioritySort); pods that
/// failed wait out an exponential back-off (1 s doubling to 10 s); pods found unschedulable wait until a cluster
/// event that may help (a node added or changed, a pod deleted) moves them back — not blind polling — and at the
/// latest after `unschedulableTimeout`.
public final class SchedulingQueue: Sendable {
    private struct Entry {
        var pod: PodInfo
        var attempts: Int
        var sequence: UInt64
    }

    private struct State {
        var active: [String: Entry] = [:]
        var order: PodHeap
        var backoff: [String: Entry] = [:]
        var unschedulable: [String: (entry: Entry, since: ContinuousClock.Instant)] = [:]
        var waiters: [CheckedContinuation<PodInfo?, Never>] = []
        var sequence: UInt64 = 0
        var closed = false
        var attempts: [String: Int] = [:]
    }

    private let state: Mutex<State>
    let initialBackoff: Duration
    let maxBackoff: Duration
    let unschedulableTimeout: Duration

    public init(sort: any QueueSortPlugin = PrioritySort(), initialBackoff: Duration = .seconds(1), maxBackoff: Duration = .seconds(10),
        unschedulableTimeout: Duration = .seconds(300))
    {
        self.state = Mutex(State(order: PodHeap(sort: sort)))
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.unschedulableTimeout = unschedulableTimeout
    }

    /// A new or changed pending pod. A pod already waiting keeps its place and takes the newer object.
    public func add(_ pod: PodInfo) {
        let waiter: (CheckedContinuation<PodInfo?, Never>, PodInfo)? = state.withLock { s in
            if s.closed { return nil }
            if s.active[pod.key] != nil {
                s.active[pod.key]?.pod = pod
                return nil
            }
            if s.backoff[pod.key] != nil {
                s.backoff[pod.key]?.pod = pod
                return nil
            }
            if let parked = s.unschedulable.removeValue(forKey: pod.key) {
                // The pod itself changed (labels, tolerations…): that may make it schedulable.
                return Self.push(&s, Entry(pod: pod, attempts: parked.entry.attempts, sequence: 0))
            }
            return Self.push(&s, Entry(pod: pod, attempts: s.attempts[pod.key] ?? 0, sequence: 0))
        }
        if let (waiter, pod) = waiter { waiter.resume(returning: pod) }
    }

    private static func push(_ s: inout State, _ entry: Entry) -> (CheckedContinuation<PodInfo?, Never>, PodInfo)? {
        if !s.waiters.isEmpty { return (s.waiters.removeFirst(), entry.pod) }
        s.sequence += 1
        var entry = entry
        entry.sequence = s.sequence
        s.active[entry.pod.key] = entry
        s.order.push(QueuedPod(pod: entry.pod, sequence: entry.sequence))
        return nil
    }

    /// The next pod to schedule, waiting for one; nil once closed.
    public func pop() async -> PodInfo? {
        await withCheckedContinuation { continuation in
            let result: PodInfo?? = state.withLock { s in
                // Entries of pods removed or re-added meanwhile are stale: skipped by their sequence number.
                while let top = s.order.pop() {
                    if let entry = s.active[top.pod.key], entry.sequence == top.sequence {
                        s.active[top.pod.key] = nil
                        return .some(entry.pod)
                    }
                }
                if s.closed { return .some(nil) }
                s.waiters.append(continuation)
                return nil
            }
            if let result { continuation.resume(returning: result) }
        }
    }

    /// A pod no node fits: parked until a cluster event.
    public func markUnschedulable(_ pod: PodInfo) {
        state.withLock { s in
            let attempts = (s.attempts[pod.key] ?? 0) + 1
            s.attempts[pod.key] = attempts
            s.unschedulable[pod.key] = (Entry(pod: pod, attempts: attempts, sequence: 0), .now)
        }
    }

    /// A pod whose attempt failed for another reason (a binding error): retried after its back-off.
    public func retryAfterBackoff(_ pod: PodInfo) {
        let attempts = state.withLock { s -> Int in
            let attempts = (s.attempts[pod.key] ?? 0) + 1
            s.attempts[pod.key] = attempts
            s.backoff[pod.key] = Entry(pod: pod, attempts: attempts, sequence: 0)
            return attempts
        }
        let delay = backoff(attempts)
        Task { [weak self] in
            try? await Task.sleep(for: delay)
            self?.leaveBackoff(pod.key)
        }
    }

    func backoff(_ attempts: Int) -> Duration {
        var delay = initialBackoff
        for _ in 1..<max(attempts, 1) {
            delay = delay * 2
            if delay >= maxBackoff { return maxBackoff }
        }
        return min(delay, maxBackoff)
    }

    private func leaveBackoff(_ key: String) {
        let waiter = state.withLock { s -> (CheckedContinuation<PodInfo?, Never>, PodInfo)? in
            guard let entry = s.backoff.removeValue(forKey: key) else { return nil }
            return Self.push(&s, entry)
        }
        if let (waiter, pod) = waiter { waiter.resume(returning: pod) }
    }

    /// A cluster event that may make parked pods fit: they go back, through their back-off.
    public func moveAllUnschedulable() {
        let parked = state.withLock { s -> [Entry] in
            defer { s.unschedulable = [:] }
            return s.unschedulable.values.map(\.entry)
        }
        for entry in parked { requeue(entry) }
    }

    /// Parked pods older than `unschedulableTimeout` go back even without an event.
    public func flushStaleUnschedulable() {
        let stale = state.withLock { s -> [Entry] in
            let old = s.unschedulable.filter { ContinuousClock.now - $0.value.since >= unschedulableTimeout }
            for key in old.keys { s.unschedulable[key] = nil }
            return old.values.map(\.entry)
        }
        for entry in stale { requeue(entry) }
    }

    private func requeue(_ entry: Entry) {
        state.withLock { $0.backoff[entry.pod.key] = entry }
        let delay = backoff(entry.attempts)
        Task { [weak self] in
            try? await Task.sleep(for: delay)
            self?.leaveBackoff(entry.pod.key)
        }
    }

    /// The pod was bound, deleted, or handed to another scheduler.
    public func remove(_ key: String) {
        state.withLock { s in
            s.active[key] = nil
            s.backoff[key] = nil
            s.unschedulable[key] = nil
            s.attempts[key] = nil
        }
    }

    public func close() {
        let waiters = state.withLock { s -> [CheckedContinuation<PodInfo?, Never>] in
            s.closed = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    public var counts: (active: Int, backoff: Int, unschedulable: Int) {
        state.withLock { ($0.active.count, $0.backoff.count, $0.unschedulable.count) }
    }
}

/// A pod in the active queue: when it (re-)entered is its sequence number.
public struct QueuedPod: Sendable {
    public let pod: PodInfo
    public let sequence: UInt64
}

/// A binary heap of queued pods, best first by the profile's QueueSort plugin.
struct PodHeap {
    let sort: any QueueSortPlugin
    private var items: [QueuedPod] = []

    init(sort: any QueueSortPlugin) {
        self.sort = sort
    }

    mutating func push(_ item: QueuedPod) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard sort.less(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> QueuedPod? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var best = parent
            if left < items.count && sort.less(items[left], items[best]) { best = left }
            if right < items.count && sort.less(items[right], items[best]) { best = right }
            if best == parent { break }
            items.swapAt(parent, best)
            parent = best
        }
        return top
    }
}
