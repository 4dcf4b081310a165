import KeelsonAPI
import KeelsonStore
import Logging
import ServiceLifecycle
import Synchronization

/// The namespaces the server knows, kept current by a watch, so the per-request "does the namespace exist and
/// accept content" check (the NamespaceLifecycle admission plugin) costs no store read. A miss falls back to the
/// store, so a namespace created a moment ago is never refused.
final class NamespaceCache: Service, Sendable {
    enum State: Sendable, Equatable {
        case active
        case terminating
    }

    private let store: any Store
    private let prefix: String
    private let logger: Logger
    private let namespaces = Mutex<[String: State]>([:])

    init(store: any Store, prefix: String, logger: Logger) {
        self.store = store
        self.prefix = prefix
        self.logger = logger
    }

    func state(of name: String) -> State? {
        namespaces.withLock { $0[name] }
    }

    static func state(of namespace: JSONValue) -> State {
        namespace.deletionTimestamp != nil || namespace.value(at: ["status", "phase"])?.stringValue == "Terminating"
            ? .terminating : .active
    }

    private func apply(_ key: String, _ bytes: [UInt8]?) {
        let name = String(key.dropFirst(prefix.count))
        let state = bytes.flatMap { try? JSONParser.parse($0) }.map(Self.state(of:))
        namespaces.withLock { $0[name] = state }
    }

    /// List, then follow the watch; on any failure (a compaction it fell behind, a store error) start over.
    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let page = try await store.range(prefix: prefix, at: nil, startAfter: nil, limit: nil)
                var fresh: [String: State] = [:]
                for item in page.items {
                    if let object = try? JSONParser.parse(item.value) { fresh[String(item.key.dropFirst(prefix.count))] = Self.state(of: object) }
                }
                namespaces.withLock { $0 = fresh }
                try await cancelWhenGracefulShutdown {
                    for try await event in self.store.watch(prefix: self.prefix, after: page.revision) {
                        self.apply(event.value.key, event.kind == .delete ? nil : event.value.value)
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                logger.debug("namespace cache restarts", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}
