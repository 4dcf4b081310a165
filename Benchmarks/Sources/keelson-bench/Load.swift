import Foundation

/// Latencies and throughput of one measured run.
struct RunStats: Sendable {
    var operations: Int
    var errors: Int
    var seconds: Double
    var latenciesMicros: [Double]

    var perSecond: Double { Double(operations) / seconds }

    func percentile(_ p: Double) -> Double {
        guard !latenciesMicros.isEmpty else { return .nan }
        let sorted = latenciesMicros.sorted()
        let index = min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1)
        return sorted[max(0, index)]
    }

    func line(_ label: String) -> String {
        String(format: "%-34@ %10.0f ops/s   p50 %8.2f ms   p99 %8.2f ms   (%d ops, %d errors, %.1f s)",
            label as NSString, perSecond, percentile(50) / 1000, percentile(99) / 1000, operations, errors, seconds)
    }
}

/// Runs `operation` from `concurrency` workers until `duration` passes; each worker counts its own operations.
func runLoad(concurrency: Int, duration: Duration, _ operation: @escaping @Sendable (_ worker: Int, _ iteration: Int) async throws -> Void) async -> RunStats {
    let clock = ContinuousClock()
    let start = clock.now
    let deadline = start + duration
    let results = await withTaskGroup(of: ([Double], Int).self) { group in
        for worker in 0..<concurrency {
            group.addTask {
                var latencies: [Double] = []
                var errors = 0
                var i = 0
                while clock.now < deadline {
                    let t0 = clock.now
                    do {
                        try await operation(worker, i)
                        let elapsed = clock.now - t0
                        latencies.append(Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12)
                    } catch {
                        errors += 1
                        if errors > 1000 { break }
                    }
                    i += 1
                }
                return (latencies, errors)
            }
        }
        var all: [Double] = []
        var errors = 0
        for await (latencies, e) in group {
            all += latencies
            errors += e
        }
        return (all, errors)
    }
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return RunStats(operations: results.0.count, errors: results.1, seconds: seconds, latenciesMicros: results.0)
}

func wallNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
}
