/// Creates in batches of 1, 2, 4, … stopping at the first batch with a failure, as upstream controllers create
/// pods: a broken template or an exhausted quota costs one request, not hundreds.
enum SlowStart {
    struct Failure: Error, CustomStringConvertible {
        var succeeded: Int
        var underlying: any Error
        var description: String { "\(underlying)" }
    }

    /// Runs `create` `count` times; returns how many succeeded, or throws `Failure` saying so.
    @discardableResult
    static func run(_ count: Int, _ create: @escaping @Sendable () async throws -> Void) async throws -> Int {
        var done = 0
        var batch = 1
        while done < count {
            let size = min(batch, count - done)
            let failures = await withTaskGroup(of: (any Error)?.self) { group in
                for _ in 0..<size {
                    group.addTask {
                        do {
                            try await create()
                            return nil
                        } catch {
                            return error
                        }
                    }
                }
                var failures: [any Error] = []
                for await failure in group { if let failure { failures.append(failure) } }
                return failures
            }
            done += size - failures.count
            if let first = failures.first { throw Failure(succeeded: done, underlying: first) }
            batch *= 2
        }
        return done
    }
}
