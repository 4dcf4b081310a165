import Synchronization

/// Restart back-off per container, as kubelet's: the first restart after a crash is immediate, each following one
/// waits twice as long as the last (10 s, 20 s, … 5 min); a container that has run for twice the maximum without
/// crashing starts over.
final class CrashBackoff: Sendable {
    let initial: Duration
    let maximum: Duration
    private struct Entry { var delay: Duration; var lastStart: Int64 }
    private let entries = Mutex([String: Entry]())

    init(initial: Duration = .seconds(10), maximum: Duration = .seconds(300)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// How long a container that finished at `finishedAt` (ns since the epoch) must still wait; nil if it may start.
    func remaining(_ key: String, finishedAt: Int64, now: Int64) -> Duration? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            if finishedAt - entry.lastStart > Self.nanoseconds(maximum * 2) {
                entries[key] = nil
                return nil
            }
            let left = Self.nanoseconds(entry.delay) - (now - finishedAt)
            return left > 0 ? .nanoseconds(left) : nil
        }
    }

    /// Records a restart: the next one waits longer.
    func restarted(_ key: String, now: Int64) {
        entries.withLock { entries in
            let delay = entries[key].map { min($0.delay * 2, maximum) } ?? initial
            entries[key] = Entry(delay: delay, lastStart: now)
        }
    }

    func forget(prefix: String) {
        entries.withLock { entries in entries = entries.filter { !$0.key.hasPrefix(prefix) } }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}
