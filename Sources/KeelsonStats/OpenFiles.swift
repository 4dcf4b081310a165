#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// Descriptors of the files housekeeping reads every round, kept open and re-read from offset 0 (cgroupfs and
/// /proc regenerate a file's text on each read from the start). Opening a cgroupfs file costs more than reading
/// it — the path walk through kernfs was over half of a round — and an open descriptor does not keep a cgroup
/// from being removed: reads then fail with ENODEV, and the descriptor is dropped.
public final class OpenFiles: Sendable {
    private struct Entry {
        var fd: Int32
        var lastRound: Int
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var round = 0
    }

    private let state = Mutex(State())
    /// At most this many descriptors are kept; beyond it files are opened for each read.
    public let capacity: Int

    public init(capacity: Int = 4096) { self.capacity = capacity }

    deinit {
        state.withLock { state in
            for entry in state.entries.values { close(entry.fd) }
        }
    }

    /// Hands the file's bytes to `body`; nil when it cannot be read.
    func withContents<R>(_ path: String, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        let known = state.withLock { state -> Int32? in
            guard var entry = state.entries[path] else { return nil }
            entry.lastRound = state.round
            state.entries[path] = entry
            return entry.fd
        }
        var fd = known ?? -1
        if fd < 0 {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            let kept = state.withLock { state -> Bool in
                guard state.entries.count < capacity else { return false }
                state.entries[path] = Entry(fd: fd, lastRound: state.round)
                return true
            }
            if !kept { defer { close(fd) }; return StatsFile.read(fd, body) }
        }
        if let result = StatsFile.read(fd, body) { return result }
        // The file is gone (its cgroup removed, its process ended): forget it.
        state.withLock { _ = $0.entries.removeValue(forKey: path) }
        close(fd)
        return nil
    }

    /// Ends a housekeeping round; files no round has read for `idleRounds` are closed.
    func endRound(idleRounds: Int = 30) {
        let stale = state.withLock { state -> [Int32] in
            state.round += 1
            guard state.round % 10 == 0 else { return [] }
            let old = state.entries.filter { state.round - $0.value.lastRound > idleRounds }
            for key in old.keys { state.entries.removeValue(forKey: key) }
            return old.values.map(\.fd)
        }
        for fd in stale { close(fd) }
    }

    public var count: Int { state.withLock { $0.entries.count } }
}
