import KeelsonAPI
import Synchronization

/// The user of the request being served, for checks deep in the write path that depend on who writes.
enum RequestUser {
    /// Nil for the server's own writes (bootstrap), which no user makes.
    @TaskLocal static var current: UserInfo?
}

/// Warnings for the client (`Warning: 299 - "…"` headers, which kubectl prints), gathered while a request is served.
final class RequestWarnings: Sendable {
    @TaskLocal static var current: RequestWarnings?

    private let messages = Mutex<[String]>([])

    static func add(_ message: String) { current?.messages.withLock { $0.append(message) } }

    var all: [String] { messages.withLock { $0 } }
}

/// RBAC's rule against privilege escalation: writing a Role or ClusterRole needs every permission it grants (or
/// `escalate` on it), and writing a binding needs every permission of the role it binds (or `bind` on that role),
/// in the binding's namespace or cluster-wide.
struct EscalationCheck: Sendable {
    let authorizer: RBACAuthorizer

    static let group = "rbac.authorization.k8s.io"

    func check(_ object: JSONValue, definition: ResourceDefinition, user: UserInfo) throws {
        guard definition.group == Self.group, !user.groups.contains(UserInfo.masters) else { return }
        let namespace = definition.namespaced ? (object.namespace ?? "") : ""
        let name = object.name ?? ""
        func allowed(_ verb: String, resource: String, name: String) -> Bool {
            authorizer.authorize(AuthorizationAttributes(user: user, verb: verb, isResourceRequest: true, namespace: namespace,
                apiGroup: Self.group, resource: resource, name: name)) != .noOpinion
        }
        func refuse(_ detail: String) -> Status {
            Status(code: 403, reason: .forbidden,
                message: "\(definition.groupResource) \"\(name)\" is forbidden: user \"\(user.name)\" (groups=\(user.groups.map { "\"\($0)\"" })) \(detail)",
                details: Status.Details(name: name, group: Self.group, kind: definition.plural))
        }
        switch definition.kind {
        case "Role", "ClusterRole":
            if allowed("escalate", resource: definition.plural, name: name) { return }
            if object["aggregationRule"] != nil && object["aggregationRule"] != .null {
                throw refuse("must have cluster-admin privileges to use the aggregationRule")
            }
            let requested = (object["rules"]?.arrayValue ?? []).map(PolicyRule.init(json:))
            let missing = authorizer.rules(for: user, namespace: namespace).cover(requested)
            if !missing.isEmpty {
                throw refuse("is attempting to grant RBAC permissions not currently held:\n" + missing.map(\.summary).joined(separator: "\n"))
            }
        case "RoleBinding", "ClusterRoleBinding":
            guard let roleKind = object["roleRef"]?["kind"]?.stringValue, let roleName = object["roleRef"]?["name"]?.stringValue else { return }
            let roleResource = roleKind == "ClusterRole" ? "clusterroles" : "roles"
            if allowed("bind", resource: roleResource, name: roleName) { return }
            guard let rules = authorizer.rules(ofRole: roleKind, name: roleName, namespace: namespace.isEmpty ? nil : namespace) else {
                throw refuse("cannot bind \(roleKind) \"\(roleName)\": it does not exist, and binding it needs the bind permission")
            }
            let missing = authorizer.rules(for: user, namespace: namespace).cover(rules)
            if !missing.isEmpty {
                throw refuse("is attempting to grant RBAC permissions not currently held:\n" + missing.map(\.summary).joined(separator: "\n"))
            }
        default:
            return
        }
    }
}
