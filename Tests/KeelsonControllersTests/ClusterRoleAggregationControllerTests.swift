import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Testing

@testable import KeelsonControllers

@Suite("ClusterRole aggregation")
struct ClusterRoleAggregationControllerTests {
    static func role(_ name: String, labels: [String: String] = [:], rules: [JSONValue] = [], aggregating: String? = nil) -> JSONValue {
        var role: JSONValue = ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": ["name": .string(name), "labels": .object(labels.mapValues(JSONValue.string))], "rules": .array(rules)]
        if let aggregating {
            role["aggregationRule"] = ["clusterRoleSelectors": [JSONValue.object(["matchLabels": .object([aggregating: "true"])])]]
        }
        return role
    }

    static let readPods: JSONValue = ["verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]]
    static let readWidgets: JSONValue = ["verbs": ["get"], "apiGroups": ["example.com"], "resources": ["widgets"]]

    @Test("an aggregated role holds the union of the labelled roles' rules, and follows a new labelled role and a removed one")
    func aggregates() async throws {
        let api = FakeKubernetesAPI()
        api.seed(.clusterRoles,
            Self.role("view", rules: [["verbs": ["delete"], "apiGroups": ["*"], "resources": ["*"]]], aggregating: "example/aggregate-to-view"),
            Self.role("pods-reader", labels: ["example/aggregate-to-view": "true"], rules: [Self.readPods]),
            Self.role("unlabelled", rules: [Self.readWidgets]))
        let roles = Informer(client: api, resource: .clusterRoles, logger: InformerFixture.logger)
        let controller = ClusterRoleAggregationController(client: api, roles: roles, logger: InformerFixture.logger)
        func viewRules() -> [JSONValue] { api.stored(.clusterRoles, name: "view")?["rules"]?.arrayValue ?? [] }
        try await InformerFixture.run([roles]) {
            try await waitUntil("cache") { roles.list().count == 3 }
            _ = try await controller.reconcile("view")
            #expect(viewRules() == [Self.readPods], "the rules are exactly the selected roles' ones: what was there by hand goes")
            _ = try await api.create(.clusterRoles, Self.role("widgets-reader", labels: ["example/aggregate-to-view": "true"], rules: [Self.readWidgets]))
            try await waitUntil("new role seen") { roles.list().count == 4 }
            _ = try await controller.reconcile("view")
            #expect(viewRules() == [Self.readPods, Self.readWidgets])
            _ = try await api.delete(.clusterRoles, name: "pods-reader")
            try await waitUntil("removal seen") { roles.list().count == 3 }
            _ = try await controller.reconcile("view")
            #expect(viewRules() == [Self.readWidgets])
            #expect(try await controller.reconcile("unlabelled") == .done && api.stored(.clusterRoles, name: "unlabelled")?["rules"] == [Self.readWidgets])
        }
    }
}
