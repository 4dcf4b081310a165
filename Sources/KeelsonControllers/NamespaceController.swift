import Foundation
import KeelsonAPI
import KeelsonClient
import Logging

/// Empties a namespace being deleted, then releases its `kubernetes` finalizer so it goes, as kube-controller-
/// manager's namespace controller does: delete every namespaced resource in it (through discovery, so every kind the
/// server serves is covered), wait while anything remains (graceful pods, other finalizers), then finalize.
public struct NamespaceController: Sendable {
    public static let name = "namespace-controller"
    static let finalizer = "kubernetes"

    let client: any KubernetesClient
    let namespaces: Informer
    let logger: Logger
    /// How soon to look again while content remains.
    let recheckInterval: Duration

    public init(client: any KubernetesClient, namespaces: Informer, logger: Logger, recheckInterval: Duration = .seconds(1)) {
        self.client = client
        self.namespaces = namespaces
        self.logger = logger
        self.recheckInterval = recheckInterval
    }

    /// Namespace events map to the namespace's own key; only terminating ones need work.
    public func register(_ queue: WorkQueue<String>) {
        namespaces.addHandler { event in
            switch event {
            case .added(let ns), .updated(_, let ns):
                if ns.deletionTimestamp != nil { queue.add(Informer.key(of: ns)) }
            case .deleted:
                break
            }
        }
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        guard let namespace = namespaces.get(key), namespace.deletionTimestamp != nil else { return .done }
        let finalizers = (namespace.value(at: ["spec", "finalizers"])?.arrayValue ?? []).compactMap(\.stringValue)
        guard finalizers.contains(Self.finalizer) else { return .done }
        let resources = try await namespacedResources()
        var remaining: [String: Int] = [:]
        var finalizersLeft: [String: Int] = [:]
        for resource in resources {
            do {
                try await client.deleteCollection(resource, namespace: key)
                let left = try await client.listAll(resource, namespace: key).items
                if !left.isEmpty { remaining[resource.description] = left.count }
                for item in left { for finalizer in item.finalizers { finalizersLeft[finalizer, default: 0] += 1 } }
            } catch let error as APIError where error.isNotFound || error.code == 405 {
                continue
            }
        }
        let current = try await setDeletionConditions(namespace, remaining: remaining, finalizers: finalizersLeft)
        if !remaining.isEmpty { return .requeue(after: recheckInterval) }
        var finalized = current
        finalized.setValue(.array(finalizers.filter { $0 != Self.finalizer }.map(JSONValue.string)), at: ["spec", "finalizers"])
        do {
            try await client.update(.namespaces, namespace: nil, finalized, subresource: "finalize")
            logger.debug("namespace emptied and finalized", metadata: ["namespace": "\(key)"])
        } catch let error as APIError where error.isNotFound {
            return .done
        }
        return .done
    }

    /// The five `NamespaceDeletion*` conditions Kubernetes reports on a terminating namespace; discovery and
    /// deletion failures surface as errors of the sync instead, so those two stay False here.
    /// Returns the namespace as written (or as it was, when nothing changed).
    private func setDeletionConditions(_ namespace: JSONValue, remaining: [String: Int], finalizers: [String: Int]) async throws -> JSONValue {
        let now = JSONValue.string(Timestamp.format(Date()))
        let content = remaining.sorted { $0.key < $1.key }.map { "\($0.key) has \($0.value) resource instances" }.joined(separator: ", ")
        let held = finalizers.sorted { $0.key < $1.key }.map { "\($0.key) in \($0.value) resource instances" }.joined(separator: ", ")
        let wanted: [(String, Bool, String, String)] = [
            ("NamespaceDeletionDiscoveryFailure", false, "ResourcesDiscovered", "All resources successfully discovered"),
            ("NamespaceDeletionGroupVersionParsingFailure", false, "ParsedGroupVersions", "All legacy kube types successfully parsed"),
            ("NamespaceDeletionContentFailure", false, "ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
            ("NamespaceContentRemaining", !remaining.isEmpty, remaining.isEmpty ? "ContentRemoved" : "SomeResourcesRemain",
             remaining.isEmpty ? "All content successfully removed" : "Some resources are remaining: \(content)"),
            ("NamespaceFinalizersRemaining", !finalizers.isEmpty, finalizers.isEmpty ? "ContentHasNoFinalizers" : "SomeFinalizersRemain",
             finalizers.isEmpty ? "All content-preserving finalizers finished" : "Some content in the namespace has finalizers remaining: \(held)"),
        ]
        var conditions = namespace.value(at: ["status", "conditions"])?.arrayValue ?? []
        var changed = false
        for (type, status, reason, message) in wanted {
            let value: JSONValue = status ? "True" : "False"
            let index = conditions.firstIndex { $0["type"]?.stringValue == type }
            if let index, conditions[index]["status"] == value, conditions[index]["message"]?.stringValue == message { continue }
            let condition: JSONValue = ["type": .string(type), "status": value, "reason": .string(reason), "message": .string(message),
                                        "lastTransitionTime": now]
            if let index { conditions[index] = condition } else { conditions.append(condition) }
            changed = true
        }
        guard changed else { return namespace }
        var updated = namespace
        updated.setValue(.array(conditions), at: ["status", "conditions"])
        do {
            return try await client.updateStatus(.namespaces, updated)
        } catch let error as APIError where error.isConflict || error.isNotFound {
            return namespace
        }
    }

    /// Every namespaced resource that can be listed and deleted as a collection, from discovery.
    func namespacedResources() async throws -> [ResourceReference] {
        try await client.discoverResources()
            .filter { $0.reference.namespaced && $0.verbs.isSuperset(of: ["list", "deletecollection"]) }
            .map(\.reference)
    }
}
