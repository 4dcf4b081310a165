import Synchronization

/// client-go's work queue: keys, not events, so a burst of changes to one object is handled once.
///
/// Guarantees, as client-go states them: a key is never processed by two workers at once; a key added while it is
/// being processed is processed again after `done`; a key added several times before a worker takes it is taken
/// once. Failures back off per key, exponentially from 5 ms to 1000 s (`addRateLimited`), until `forget`.
public final class WorkQueue<Key: Hashable & Sendable>: Sendable {
    private struct State {
        var queue: [Key] = []
        var head = 0
        var dirty: Set<Key> = []
        var processing: Set<Key> = []
        var waiters: [CheckedContinuation<Key?, Never>] = []
        var failures: [Key: Int] = [:]
        var shuttingDown = false
        /// The overall token bucket: tokens left and when they were last counted.
        var tokens: Double
        var tokensAt: ContinuousClock.Instant

        mutating func popFront() -> Key? {
            guard head < queue.count else { return nil }
            let key = queue[head]
            head += 1
            if head > 1024 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            return key
        }

        var isEmpty: Bool { head >= queue.count }
    }

    private let state: Mutex<State>
    public let name: String
    let baseDelay: Duration
    let maxDelay: Duration
    let retriesPerSecond: Double
    let burst: Double

    /// Retries back off per key from `baseDelay` to `maxDelay`, and all retries together are held to
    /// `retriesPerSecond` with bursts of `burst` — client-go's default controller rate limiter (5 ms … 1000 s, and
    /// 10 per second with a burst of 100, whichever is slower).
    public init(name: String, baseDelay: Duration = .milliseconds(5), maxDelay: Duration = .seconds(1000),
        retriesPerSecond: Double = 10, burst: Int = 100)
    {
        self.name = name
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.retriesPerSecond = retriesPerSecond
        self.burst = Double(burst)
        self.state = Mutex(State(tokens: Double(burst), tokensAt: .now))
    }

    /// Queues `key` unless it is already waiting; never blocks.
    public func add(_ key: Key) {
        let waiter: CheckedContinuation<Key?, Never>? = state.withLock { s in
            if s.shuttingDown || s.dirty.contains(key) { return nil }
            if s.processing.contains(key) {
                s.dirty.insert(key)
                return nil
            }
            if !s.waiters.isEmpty {
                s.processing.insert(key)
                return s.waiters.removeFirst()
            }
            s.dirty.insert(key)
            s.queue.append(key)
            return nil
        }
        waiter?.resume(returning: key)
    }

    /// Queues `key` once `delay` has passed.
    public func add(_ key: Key, after delay: Duration) {
        if delay <= .zero {
            add(key)
            return
        }
        Task { [weak self] in
            try? await Task.sleep(for: delay)
            self?.add(key)
        }
    }

    /// Queues `key` after its per-key back-off, which doubles with every failure, or later if retries overall
    /// exceed the bucket's rate.
    public func addRateLimited(_ key: Key) {
        let (failures, bucketDelay) = state.withLock { s -> (Int, Duration) in
            s.failures[key, default: 0] += 1
            return (s.failures[key]!, Self.reserveToken(&s, now: .now, rate: retriesPerSecond, burst: burst))
        }
        add(key, after: max(backoff(forFailures: failures), bucketDelay))
    }

    /// Takes a token from the bucket, returning how long to wait until it is really there (a reservation, as Go's
    /// `rate.Limiter.Reserve`: the bucket may go negative, pushing later callers further out).
    private static func reserveToken(_ s: inout State, now: ContinuousClock.Instant, rate: Double, burst: Double) -> Duration {
        let elapsed = now - s.tokensAt
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        s.tokens = min(burst, s.tokens + seconds * rate)
        s.tokensAt = now
        s.tokens -= 1
        if s.tokens >= 0 { return .zero }
        return .milliseconds(Int64((-s.tokens / rate * 1000).rounded(.up)))
    }

    /// The delay the bucket alone would impose on the next retry, for tests.
    func reserveTokenForTesting() -> Duration {
        state.withLock { Self.reserveToken(&$0, now: .now, rate: retriesPerSecond, burst: burst) }
    }

    func backoff(forFailures failures: Int) -> Duration {
        let exponent = min(failures - 1, 40)
        let delay = baseDelay * Double(1 << UInt64(max(0, min(exponent, 62))))
        return min(delay, maxDelay)
    }

    public func failures(_ key: Key) -> Int { state.withLock { $0.failures[key] ?? 0 } }

    /// Clears the back-off of `key` after a success.
    public func forget(_ key: Key) {
        _ = state.withLock { $0.failures.removeValue(forKey: key) }
    }

    /// The next key to process, waiting for one; nil once the queue is shut down and drained.
    public func next() async -> Key? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Key?, Never>) in
            let result: Key?? = state.withLock { s in
                if let key = s.popFront() {
                    s.dirty.remove(key)
                    s.processing.insert(key)
                    return .some(key)
                }
                if s.shuttingDown { return .some(nil) }
                s.waiters.append(continuation)
                return nil
            }
            if let result { continuation.resume(returning: result) }
        }
    }

    /// Marks `key` processed; if it was added meanwhile it is queued again.
    public func done(_ key: Key) {
        let waiter: CheckedContinuation<Key?, Never>? = state.withLock { s in
            s.processing.remove(key)
            guard s.dirty.contains(key) else { return nil }
            if !s.waiters.isEmpty {
                s.dirty.remove(key)
                s.processing.insert(key)
                return s.waiters.removeFirst()
            }
            s.queue.append(key)
            return nil
        }
        waiter?.resume(returning: key)
    }

    /// Stops accepting keys; waiting workers get nil.
    public func shutDown() {
        let waiters = state.withLock { s -> [CheckedContinuation<Key?, Never>] in
            s.shuttingDown = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    public var count: Int { state.withLock { $0.queue.count - $0.head } }
}
