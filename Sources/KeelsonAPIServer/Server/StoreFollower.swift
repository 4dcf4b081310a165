import KeelsonAPI
import KeelsonStore
import Logging
import ServiceLifecycle

/// Keeps an in-memory view of one key prefix current, as an informer does: it lists the prefix, then follows its
/// watch from that revision, and after a failure (a compaction it fell behind, a store error) lists again. `reset`
/// gets each whole listing (objects by key), `apply` each change after it (nil for a deletion). Ends on
/// cancellation or graceful shutdown.
struct StoreFollower: Sendable {
    let store: any Store
    let prefix: String
    let logger: Logger
    var retryDelay: Duration = .seconds(1)

    /// The objects under the prefix now, and the revision they are at.
    func list() async throws -> (objects: [String: JSONValue], revision: Int64) {
        let page = try await store.range(prefix: prefix, at: nil, startAfter: nil, limit: nil)
        var objects: [String: JSONValue] = [:]
        for item in page.items {
            if let object = try? JSONParser.parse(item.value) { objects[item.key] = object }
        }
        return (objects, page.revision)
    }

    /// - Parameters:
    ///   - listedAt: the revision of a listing the caller already applied, so the first round only watches.
    ///   - unchanged: says from a changed object's key and stored bytes, before any parsing, that the change
    ///     cannot matter to the view (parsing every write of a busy prefix is most of a follower's cost).
    func run(listedAt: Int64? = nil, reset: @escaping @Sendable ([String: JSONValue]) -> Void,
        unchanged: (@Sendable (String, [UInt8]) -> Bool)? = nil,
        apply: @escaping @Sendable (String, JSONValue?) -> Void) async
    {
        var revision = listedAt
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let from: Int64
                if let known = revision {
                    from = known
                    revision = nil
                } else {
                    let listing = try await list()
                    reset(listing.objects)
                    from = listing.revision
                }
                try await cancelWhenGracefulShutdown {
                    for try await event in store.watch(prefix: prefix, after: from) {
                        if event.kind != .delete, let unchanged, unchanged(event.value.key, event.value.value) { continue }
                        apply(event.value.key, event.kind == .delete ? nil : try? JSONParser.parse(event.value.value))
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                logger.debug("following the store again", metadata: ["prefix": "\(prefix)", "error": "\(error)"])
                try? await Task.sleep(for: retryDelay)
            }
        }
    }
}
