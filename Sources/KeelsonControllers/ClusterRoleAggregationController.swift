import KeelsonAPI
import KeelsonClient
import Logging

/// kube-controller-manager's `clusterrole-aggregation`: a ClusterRole with an `aggregationRule` holds the union of
/// the rules of the ClusterRoles its selectors match, rewritten whenever one of them changes — which is how a
/// role labelled `rbac.authorization.k8s.io/aggregate-to-view: "true"` extends `view`.
public struct ClusterRoleAggregationController: Sendable {
    public static let name = "clusterrole-aggregation"

    let client: any KubernetesClient
    let roles: Informer
    let logger: Logger

    public init(client: any KubernetesClient, roles: Informer, logger: Logger) {
        self.client = client
        self.roles = roles
        self.logger = logger
    }

    public func register(_ queue: WorkQueue<String>) {
        let roles = self.roles
        // Any role may be selected by any aggregated one, and aggregated roles are few: all are looked at again.
        roles.addHandler { _ in
            for role in roles.list() where Self.selectors(role) != nil { queue.add(role.name ?? "") }
        }
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        guard let role = roles.get(namespace: nil, name: key), let selectors = Self.selectors(role) else { return .done }
        var rules: [JSONValue] = []
        for other in roles.list().sorted(by: { ($0.name ?? "") < ($1.name ?? "") }) where other.name != key {
            let labels = (other.metadata?["labels"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
            guard selectors.contains(where: { $0.matches(labels) }) else { continue }
            for rule in other["rules"]?.arrayValue ?? [] where !rules.contains(rule) { rules.append(rule) }
        }
        if (role["rules"]?.arrayValue ?? []) == rules { return .done }
        var updated = role
        updated["rules"] = .array(rules)
        _ = try await client.update(.clusterRoles, namespace: nil, updated, subresource: nil)
        return .done
    }

    /// The selectors of an aggregated role; nil for a role that aggregates nothing. A selector that matches
    /// nothing (an empty one) selects nothing, as in Kubernetes.
    static func selectors(_ role: JSONValue) -> [LabelSelector]? {
        guard let terms = role["aggregationRule"]?["clusterRoleSelectors"]?.arrayValue else { return nil }
        return terms.compactMap { term in
            guard case .object(let fields) = term, !fields.isEmpty else { return nil }
            return try? LabelSelector.from(term)
        }
    }
}
