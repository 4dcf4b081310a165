import KeelsonAPI
import KeelsonStore
import Logging
import ServiceLifecycle
import Synchronization

/// Role-based access control over the Roles, ClusterRoles and bindings in the store, held in memory and kept
/// current by one watch of the group's keys, as kube-apiserver's RBAC authorizer reads its informers. Bindings
/// are indexed by subject, so a decision reads only the bindings naming the user, one of its groups or its
/// service account — never all of them.
public final class RBACAuthorizer: Service, Sendable {
    public enum Decision: Sendable, Equatable {
        case allow(reason: String)
        case noOpinion
    }

    struct Binding: Sendable {
        var kind: String
        var name: String
        var namespace: String?
        var roleKind: String
        var roleName: String
    }

    /// The policy at one revision: rules by role, bindings by subject key.
    struct Policy: Sendable {
        var clusterRoles: [String: [PolicyRule]] = [:]
        var roles: [String: [String: [PolicyRule]]] = [:]
        var clusterBindings: [String: [Binding]] = [:]
        var namespaceBindings: [String: [String: [Binding]]] = [:]
    }

    static let keyPrefix = "/registry/rbac.authorization.k8s.io/"

    private let store: any Store
    private let logger: Logger
    private let objects = Mutex<[String: JSONValue]>([:])
    private let policy = Mutex(Policy())
    private let primedRevision = Mutex<Int64?>(nil)

    public init(store: any Store, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    // MARK: Decisions

    public func authorize(_ request: AuthorizationAttributes) -> Decision {
        if request.user.groups.contains(UserInfo.masters) { return .allow(reason: "the user is in \(UserInfo.masters)") }
        let policy = self.policy.withLock { $0 }
        let keys = Self.subjectKeys(request.user)
        for key in keys {
            for binding in policy.clusterBindings[key] ?? [] where (policy.clusterRoles[binding.roleName] ?? []).contains(where: { $0.allows(request) }) {
                return .allow(reason: "RBAC: allowed by ClusterRoleBinding \"\(binding.name)\" of ClusterRole \"\(binding.roleName)\"")
            }
        }
        guard !request.namespace.isEmpty, let bindings = policy.namespaceBindings[request.namespace] else { return .noOpinion }
        for key in keys {
            for binding in bindings[key] ?? [] {
                let rules = binding.roleKind == "ClusterRole" ? policy.clusterRoles[binding.roleName]
                    : policy.roles[request.namespace]?[binding.roleName]
                if (rules ?? []).contains(where: { $0.allows(request) }) {
                    return .allow(reason: "RBAC: allowed by RoleBinding \"\(binding.name)/\(request.namespace)\" of \(binding.roleKind) \"\(binding.roleName)\"")
                }
            }
        }
        return .noOpinion
    }

    /// Every rule that applies to the user in the namespace (cluster-wide ones included): what
    /// SelfSubjectRulesReview lists and what the escalation check compares against.
    public func rules(for user: UserInfo, namespace: String) -> [PolicyRule] {
        if user.groups.contains(UserInfo.masters) {
            return [PolicyRule(verbs: ["*"], apiGroups: ["*"], resources: ["*"]), PolicyRule(verbs: ["*"], nonResourceURLs: ["*"])]
        }
        let policy = self.policy.withLock { $0 }
        var rules: [PolicyRule] = []
        var seen: Set<PolicyRule> = []
        func add(_ more: [PolicyRule]?) {
            for rule in more ?? [] where seen.insert(rule).inserted { rules.append(rule) }
        }
        let keys = Self.subjectKeys(user)
        for key in keys {
            for binding in policy.clusterBindings[key] ?? [] { add(policy.clusterRoles[binding.roleName]) }
        }
        if !namespace.isEmpty, let bindings = policy.namespaceBindings[namespace] {
            for key in keys {
                for binding in bindings[key] ?? [] {
                    add(binding.roleKind == "ClusterRole" ? policy.clusterRoles[binding.roleName] : policy.roles[namespace]?[binding.roleName])
                }
            }
        }
        return rules
    }

    /// The rules a role reference resolves to, nil when the role does not exist (yet).
    func rules(ofRole kind: String, name: String, namespace: String?) -> [PolicyRule]? {
        let policy = self.policy.withLock { $0 }
        if kind == "ClusterRole" { return policy.clusterRoles[name] }
        guard let namespace else { return nil }
        return policy.roles[namespace]?[name]
    }

    static func subjectKeys(_ user: UserInfo) -> [String] {
        var keys = ["User:" + user.name]
        for group in user.groups { keys.append("Group:" + group) }
        if let account = user.serviceAccount { keys.append("ServiceAccount:\(account.namespace):\(account.name)") }
        return keys
    }

    // MARK: Keeping the policy current

    private var follower: StoreFollower { StoreFollower(store: store, prefix: Self.keyPrefix, logger: logger) }

    /// Reads the whole policy once, so the server decides with it from its first request.
    public func prime() async throws {
        let listing = try await follower.list()
        objects.withLock { $0 = listing.objects }
        rebuild()
        primedRevision.withLock { $0 = listing.revision }
    }

    public func run() async throws {
        let primed = primedRevision.withLock { value in defer { value = nil }; return value }
        await follower.run(listedAt: primed,
            reset: { objects in
                self.objects.withLock { $0 = objects }
                self.rebuild()
            },
            apply: { key, object in
                self.objects.withLock { $0[key] = object }
                self.rebuild()
            })
    }

    private func rebuild() {
        let objects = self.objects.withLock { $0 }
        var policy = Policy()
        for (key, object) in objects {
            let rest = key.dropFirst(Self.keyPrefix.count)
            let rules = (object["rules"]?.arrayValue ?? []).map(PolicyRule.init(json:))
            let name = object.name ?? ""
            let namespace = object.namespace
            if rest.hasPrefix("clusterroles/") {
                policy.clusterRoles[name] = rules
            } else if rest.hasPrefix("roles/"), let namespace {
                policy.roles[namespace, default: [:]][name] = rules
            } else if rest.hasPrefix("clusterrolebindings/") || rest.hasPrefix("rolebindings/") {
                guard let roleName = object["roleRef"]?["name"]?.stringValue, let roleKind = object["roleRef"]?["kind"]?.stringValue else { continue }
                let cluster = rest.hasPrefix("clusterrolebindings/")
                // A RoleBinding may only reference a Role of its own namespace or a ClusterRole.
                if cluster && roleKind != "ClusterRole" { continue }
                let binding = Binding(kind: cluster ? "ClusterRoleBinding" : "RoleBinding", name: name, namespace: namespace,
                    roleKind: roleKind, roleName: roleName)
                for subject in object["subjects"]?.arrayValue ?? [] {
                    guard let key = Self.subjectKey(subject, bindingNamespace: cluster ? nil : namespace) else { continue }
                    if cluster {
                        policy.clusterBindings[key, default: []].append(binding)
                    } else if let namespace {
                        policy.namespaceBindings[namespace, default: [:]][key, default: []].append(binding)
                    }
                }
            }
        }
        self.policy.withLock { $0 = policy }
    }

    /// A subject as the key `subjectKeys` produces for the users it names; a service account without a
    /// namespace takes the RoleBinding's.
    static func subjectKey(_ subject: JSONValue, bindingNamespace: String?) -> String? {
        guard let kind = subject["kind"]?.stringValue, let name = subject["name"]?.stringValue, !name.isEmpty else { return nil }
        switch kind {
        case "User": return "User:" + name
        case "Group": return "Group:" + name
        case "ServiceAccount":
            let namespace = subject["namespace"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? bindingNamespace
            guard let namespace else { return nil }
            return "ServiceAccount:\(namespace):\(name)"
        default: return nil
        }
    }
}
