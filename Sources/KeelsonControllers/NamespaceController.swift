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
        for resource in resources {
            do {
                try await client.deleteCollection(resource, namespace: key)
                let left = try await client.list(resource, namespace: key, options: ListOptions(limit: 1))
                if !left.items.isEmpty { remaining[resource.description] = left.items.count }
            } catch let error as APIError where error.isNotFound || error.code == 405 {
                continue
            }
        }
        if !remaining.isEmpty {
            let summary = remaining.sorted { $0.key < $1.key }.map { "\($0.key) has \($0.value) resource instances" }.joined(separator: ", ")
            try await setContentCondition(namespace, remaining: "Some resources are remaining: \(summary)")
            return .requeue(after: recheckInterval)
        }
        var finalized = namespace
        finalized.setValue(.array(finalizers.filter { $0 != Self.finalizer }.map(JSONValue.string)), at: ["spec", "finalizers"])
        do {
            try await client.update(.namespaces, namespace: nil, finalized, subresource: "finalize")
            logger.debug("namespace emptied and finalized", metadata: ["namespace": "\(key)"])
        } catch let error as APIError where error.isNotFound {
            return .done
        }
        return .done
    }

    /// Records what is left in the `NamespaceContentRemaining` condition, as Kubernetes reports it.
    private func setContentCondition(_ namespace: JSONValue, remaining message: String) async throws {
        var conditions = namespace.value(at: ["status", "conditions"])?.arrayValue ?? []
        if conditions.contains(where: { $0["type"]?.stringValue == "NamespaceContentRemaining" && $0["message"]?.stringValue == message }) {
            return
        }
        conditions.removeAll { $0["type"]?.stringValue == "NamespaceContentRemaining" }
        conditions.append(["type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
                           "message": .string(message), "lastTransitionTime": .string(Timestamp.format(Date()))])
        var updated = namespace
        updated.setValue(.array(conditions), at: ["status", "conditions"])
        do {
            try await client.updateStatus(.namespaces, updated)
        } catch let error as APIError where error.isConflict || error.isNotFound {
            return
        }
    }

    /// Every namespaced resource that can be listed and deleted as a collection, from discovery.
    func namespacedResources() async throws -> [ResourceReference] {
        try await client.discoverResources()
            .filter { $0.reference.namespaced && $0.verbs.isSuperset(of: ["list", "deletecollection"]) }
            .map(\.reference)
    }
}
