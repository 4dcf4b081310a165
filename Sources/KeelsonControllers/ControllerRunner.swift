import KeelsonClient
import Logging
import ServiceLifecycle

/// What a reconcile asks of the runner.
public enum ReconcileResult: Sendable, Equatable {
    case done
    /// Look again later even though nothing failed (waiting for something else to happen).
    case requeue(after: Duration)
}

/// Runs one level-triggered controller: workers take keys from its queue and reconcile them; failures retry with
/// the queue's per-key back-off, and retries stop after `maxRetries` (the next change of the object brings it back),
/// as client-go's canonical controller loop does. The retry policy lives here, never in the reconcile function.
public struct ControllerRunner: Service {
    public let name: String
    public let queue: WorkQueue<String>
    let workers: Int
    let waitFor: [Informer]
    let maxRetries: Int
    let reconcile: @Sendable (String) async throws -> ReconcileResult
    let logger: Logger

    public init(name: String, queue: WorkQueue<String>, workers: Int = 2, waitFor: [Informer], maxRetries: Int = 15,
        logger: Logger, reconcile: @escaping @Sendable (String) async throws -> ReconcileResult)
    {
        self.name = name
        self.queue = queue
        self.workers = workers
        self.waitFor = waitFor
        self.maxRetries = maxRetries
        self.reconcile = reconcile
        self.logger = logger
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                for informer in waitFor { try await informer.waitUntilSynced() }
            }
        } catch is CancellationError {
            return
        }
        // Workers wait in `queue.next()`, which knows nothing of cancellation: shutting the queue down is what
        // releases them, on graceful shutdown and on cancellation alike (leader election cancels on lost leadership).
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withDiscardingTaskGroup { group in
                    for _ in 0..<workers {
                        group.addTask { await self.work() }
                    }
                }
            } onGracefulShutdown: {
                queue.shutDown()
            }
        } onCancel: {
            queue.shutDown()
        }
    }

    private func work() async {
        while let key = await queue.next() {
            do {
                switch try await reconcile(key) {
                case .done:
                    queue.forget(key)
                case .requeue(let delay):
                    queue.forget(key)
                    queue.add(key, after: delay)
                }
            } catch {
                if queue.failures(key) < maxRetries {
                    logger.debug("reconcile failed; retrying", metadata: ["controller": "\(name)", "key": "\(key)", "error": "\(error)"])
                    queue.addRateLimited(key)
                } else {
                    logger.warning("reconcile keeps failing; dropping until the object changes",
                        metadata: ["controller": "\(name)", "key": "\(key)", "error": "\(error)"])
                    queue.forget(key)
                }
            }
            queue.done(key)
        }
    }
}
