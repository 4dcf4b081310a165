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
    /// The labels of each namespace that has any (for Pod Security and webhooks' namespace selectors).
    private let labels = Mutex<[String: [String: String]]>([:])

    init(store: any Store, prefix: String, logger: Logger) {
        self.store = store
        self.prefix = prefix
        self.logger = logger
    }

    func state(of name: String) -> State? {
        namespaces.withLock { $0[name] }
    }

    /// Nil when the namespace is not known (yet).
    func labels(of name: String) -> [String: String]? {
        guard state(of: name) != nil else { return nil }
        return labels.withLock { $0[name] ?? [:] }
    }

    static func labels(of namespace: JSONValue) -> [String: String] {
        (namespace.metadata?["labels"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
    }

    static func state(of namespace: JSONValue) -> State {
        namespace.deletionTimestamp != nil || namespace.value(at: ["status", "phase"])?.stringValue == "Terminating"
            ? .terminating : .active
    }

    private func apply(_ key: String, _ object: JSONValue?) {
        let name = String(key.dropFirst(prefix.count))
        let found = object.map(Self.labels(of:))
        labels.withLock { $0[name] = found?.isEmpty == false ? found : nil }
        namespaces.withLock { $0[name] = object.map(Self.state(of:)) }
    }

    private func reset(_ objects: [String: JSONValue]) {
        var fresh: [String: State] = [:]
        var freshLabels: [String: [String: String]] = [:]
        for (key, object) in objects {
            let name = String(key.dropFirst(prefix.count))
            fresh[name] = Self.state(of: object)
            let found = Self.labels(of: object)
            if !found.isEmpty { freshLabels[name] = found }
        }
        labels.withLock { $0 = freshLabels }
        namespaces.withLock { $0 = fresh }
    }

    func run() async throws {
        await StoreFollower(store: store, prefix: prefix, logger: logger, retryDelay: .milliseconds(100))
            .run(reset: reset, apply: apply)
    }
}
