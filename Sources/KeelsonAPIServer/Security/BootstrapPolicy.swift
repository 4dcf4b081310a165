import KeelsonAPI

/// The default ClusterRoles and ClusterRoleBindings every cluster starts with, after Kubernetes' bootstrap policy.
/// They carry `rbac.authorization.kubernetes.io/autoupdate: "true"`: at each start the server adds what a newer
/// Keelson grants to the ones that keep it, and leaves alone those an administrator marked `"false"`.
enum BootstrapPolicy {
    static let read = ["get", "list", "watch"]
    static let write = ["create", "delete", "deletecollection", "patch", "update"]
    static let readWrite = read + write

    struct Role {
        var name: String
        var rules: [PolicyRule]
        var labels: [String: String] = [:]
        /// Label selectors of an aggregated role: its rules are the union of the roles they match.
        var aggregateFrom: [String] = []
    }

    struct Binding {
        var name: String
        var role: String
        var subjects: [(kind: String, name: String)]
    }

    static let aggregateLabel = "rbac.authorization.k8s.io/aggregate-to-"

    static var roles: [Role] {
        let core = [""], apps = ["apps"], batch = ["batch"], rbac = ["rbac.authorization.k8s.io"]
        return [
            Role(name: "cluster-admin", rules: [
                PolicyRule(verbs: ["*"], apiGroups: ["*"], resources: ["*"]),
                PolicyRule(verbs: ["*"], nonResourceURLs: ["*"]),
            ]),
            Role(name: "admin", rules: [], aggregateFrom: ["admin"]),
            Role(name: "edit", rules: [], labels: [aggregateLabel + "admin": "true"], aggregateFrom: ["edit"]),
            Role(name: "view", rules: [], labels: [aggregateLabel + "edit": "true"], aggregateFrom: ["view"]),
            Role(name: "system:aggregate-to-admin", rules: [
                PolicyRule(verbs: ["create"], apiGroups: ["authorization.k8s.io"], resources: ["localsubjectaccessreviews"]),
                PolicyRule(verbs: readWrite, apiGroups: rbac, resources: ["roles", "rolebindings"]),
            ], labels: [aggregateLabel + "admin": "true"]),
            Role(name: "system:aggregate-to-edit", rules: [
                PolicyRule(verbs: ["impersonate"], apiGroups: core, resources: ["serviceaccounts"]),
                PolicyRule(verbs: write, apiGroups: core, resources: ["pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"]),
                PolicyRule(verbs: ["create"], apiGroups: core, resources: ["pods/eviction"]),
                PolicyRule(verbs: write, apiGroups: core, resources: ["replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
                    "services", "services/proxy", "persistentvolumeclaims", "configmaps", "secrets", "events"]),
                PolicyRule(verbs: ["create"], apiGroups: core, resources: ["serviceaccounts/token"]),
                PolicyRule(verbs: write, apiGroups: apps, resources: ["statefulsets", "statefulsets/scale", "daemonsets", "deployments",
                    "deployments/scale", "deployments/rollback", "replicasets", "replicasets/scale"]),
                PolicyRule(verbs: write, apiGroups: ["autoscaling"], resources: ["horizontalpodautoscalers"]),
                PolicyRule(verbs: write, apiGroups: batch, resources: ["jobs", "cronjobs"]),
                PolicyRule(verbs: write, apiGroups: ["networking.k8s.io"], resources: ["ingresses", "networkpolicies"]),
                PolicyRule(verbs: write, apiGroups: ["policy"], resources: ["poddisruptionbudgets"]),
                PolicyRule(verbs: read, apiGroups: core, resources: ["pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets",
                    "services/proxy"]),
            ], labels: [aggregateLabel + "edit": "true"]),
            Role(name: "system:aggregate-to-view", rules: [
                PolicyRule(verbs: read, apiGroups: core, resources: ["pods", "replicationcontrollers", "replicationcontrollers/scale",
                    "serviceaccounts", "services", "services/status", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status",
                    "configmaps"]),
                PolicyRule(verbs: read, apiGroups: core, resources: ["limitranges", "resourcequotas", "bindings", "events", "pods/status",
                    "resourcequotas/status", "namespaces/status", "replicationcontrollers/status", "pods/log"]),
                PolicyRule(verbs: read, apiGroups: core, resources: ["namespaces"]),
                PolicyRule(verbs: read, apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"]),
                PolicyRule(verbs: read, apiGroups: apps, resources: ["controllerrevisions", "statefulsets", "statefulsets/status",
                    "statefulsets/scale", "daemonsets", "daemonsets/status", "deployments", "deployments/status", "deployments/scale",
                    "replicasets", "replicasets/status", "replicasets/scale"]),
                PolicyRule(verbs: read, apiGroups: ["autoscaling"], resources: ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
                PolicyRule(verbs: read, apiGroups: batch, resources: ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
                PolicyRule(verbs: read, apiGroups: ["policy"], resources: ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
                PolicyRule(verbs: read, apiGroups: ["networking.k8s.io"], resources: ["ingresses", "ingresses/status", "networkpolicies"]),
            ], labels: [aggregateLabel + "view": "true"]),
            Role(name: "system:discovery", rules: [
                PolicyRule(verbs: ["get"], nonResourceURLs: ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                    "/openapi/*", "/readyz", "/version", "/version/"]),
            ]),
            Role(name: "system:basic-user", rules: [
                PolicyRule(verbs: ["create"], apiGroups: ["authorization.k8s.io"], resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
                PolicyRule(verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["selfsubjectreviews"]),
            ]),
            Role(name: "system:public-info-viewer", rules: [
                PolicyRule(verbs: ["get"], nonResourceURLs: ["/healthz", "/livez", "/readyz", "/version", "/version/", "/cacerts"]),
            ]),
            Role(name: "system:monitoring", rules: [
                PolicyRule(verbs: ["get"], nonResourceURLs: ["/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/readyz", "/readyz/*"]),
            ]),
            // The scheduler's needs, after Kubernetes' role of the same name.
            Role(name: "system:kube-scheduler", rules: [
                PolicyRule(verbs: ["create", "patch", "update"], apiGroups: ["", "events.k8s.io"], resources: ["events"]),
                PolicyRule(verbs: ["create"], apiGroups: ["coordination.k8s.io"], resources: ["leases"]),
                PolicyRule(verbs: ["get", "update"], apiGroups: ["coordination.k8s.io"], resources: ["leases"],
                    resourceNames: ["kube-scheduler"]),
                PolicyRule(verbs: read, apiGroups: core, resources: ["nodes"]),
                PolicyRule(verbs: ["delete", "get", "list", "watch"], apiGroups: core, resources: ["pods"]),
                PolicyRule(verbs: ["create"], apiGroups: core, resources: ["bindings", "pods/binding"]),
                PolicyRule(verbs: ["patch", "update"], apiGroups: core, resources: ["pods/status"]),
                PolicyRule(verbs: read, apiGroups: core, resources: ["replicationcontrollers", "services", "namespaces"]),
                // Volume binding, as Kubernetes' system:volume-scheduler grants it.
                PolicyRule(verbs: ["get", "list", "watch", "patch", "update"], apiGroups: core,
                    resources: ["persistentvolumeclaims", "persistentvolumes"]),
                PolicyRule(verbs: read, apiGroups: apps, resources: ["replicasets", "statefulsets"]),
                PolicyRule(verbs: read, apiGroups: ["policy"], resources: ["poddisruptionbudgets"]),
                PolicyRule(verbs: read, apiGroups: ["storage.k8s.io"], resources: ["storageclasses", "csinodes", "csidrivers", "csistoragecapacities"]),
            ]),
            // Keelson runs every controller under this one identity (kube-controller-manager's
            // `--use-service-account-credentials=false`): the garbage collector and the namespace controller alone
            // must read and delete every kind, so the role is all-encompassing on resources.
            Role(name: "system:kube-controller-manager", rules: [
                PolicyRule(verbs: ["*"], apiGroups: ["*"], resources: ["*"]),
            ]),
            // What the agent's proxy and cluster DNS read.
            Role(name: "system:node-proxier", rules: [
                PolicyRule(verbs: ["list", "watch"], apiGroups: core, resources: ["services", "endpoints"]),
                PolicyRule(verbs: read, apiGroups: core, resources: ["nodes"]),
                PolicyRule(verbs: ["create", "patch", "update"], apiGroups: ["", "events.k8s.io"], resources: ["events"]),
                PolicyRule(verbs: ["list", "watch"], apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"]),
            ]),
            // What the join token allows: asking for a node certificate and reading the answer.
            Role(name: "system:node-bootstrapper", rules: [
                PolicyRule(verbs: ["create", "get", "list", "watch"], apiGroups: ["certificates.k8s.io"], resources: ["certificatesigningrequests"]),
            ]),
            // What every kubelet may do; the secrets, config maps, claims, volumes and tokens of its pods come from
            // the Node authorizer, which grants them for the pods bound to that node only.
            Role(name: "system:node", rules: [
                PolicyRule(verbs: ["create", "get", "list", "watch", "patch", "update", "delete"], apiGroups: core, resources: ["nodes"]),
                PolicyRule(verbs: ["patch", "update"], apiGroups: core, resources: ["nodes/status"]),
                PolicyRule(verbs: ["create", "patch", "update"], apiGroups: ["", "events.k8s.io"], resources: ["events"]),
                PolicyRule(verbs: ["get", "list", "watch", "create", "delete"], apiGroups: core, resources: ["pods"]),
                PolicyRule(verbs: ["patch", "update"], apiGroups: core, resources: ["pods/status"]),
                PolicyRule(verbs: ["create"], apiGroups: core, resources: ["pods/eviction"]),
                PolicyRule(verbs: read, apiGroups: core, resources: ["services", "namespaces"]),
                PolicyRule(verbs: ["get", "create", "update", "patch", "delete"], apiGroups: ["coordination.k8s.io"], resources: ["leases"]),
                PolicyRule(verbs: ["create", "get", "list", "watch"], apiGroups: ["certificates.k8s.io"], resources: ["certificatesigningrequests"]),
                PolicyRule(verbs: ["get"], apiGroups: ["storage.k8s.io"], resources: ["csidrivers", "storageclasses"]),
            ]),
        ]
    }

    static var bindings: [Binding] {
        [
            Binding(name: "cluster-admin", role: "cluster-admin", subjects: [("Group", UserInfo.masters)]),
            Binding(name: "system:discovery", role: "system:discovery", subjects: [("Group", UserInfo.authenticated)]),
            Binding(name: "system:basic-user", role: "system:basic-user", subjects: [("Group", UserInfo.authenticated)]),
            Binding(name: "system:public-info-viewer", role: "system:public-info-viewer",
                subjects: [("Group", UserInfo.authenticated), ("Group", UserInfo.unauthenticated)]),
            Binding(name: "system:monitoring", role: "system:monitoring", subjects: [("Group", "system:monitoring")]),
            Binding(name: "system:kube-scheduler", role: "system:kube-scheduler", subjects: [("User", "system:kube-scheduler")]),
            Binding(name: "system:kube-controller-manager", role: "system:kube-controller-manager",
                subjects: [("User", "system:kube-controller-manager")]),
            Binding(name: "system:node-proxier", role: "system:node-proxier", subjects: [("User", "system:kube-proxy"), ("Group", "system:nodes")]),
            Binding(name: "system:node", role: "system:node", subjects: [("Group", "system:nodes")]),
            Binding(name: "system:node-bootstrapper", role: "system:node-bootstrapper", subjects: [("Group", JoinToken.bootstrapGroup)]),
        ]
    }

    static let autoupdate = "rbac.authorization.kubernetes.io/autoupdate"

    /// The roles as objects, aggregated roles already holding the union of what they aggregate, so that they
    /// are complete from the first request, before the aggregation controller runs.
    static func roleObjects() -> [JSONValue] {
        let all = roles
        func effectiveRules(_ role: Role, depth: Int) -> [PolicyRule] {
            guard depth < 5 else { return role.rules }
            return role.rules + role.aggregateFrom.flatMap { target in
                all.filter { $0.labels[aggregateLabel + target] == "true" }.flatMap { effectiveRules($0, depth: depth + 1) }
            }
        }
        return all.map { role in
            let rules = effectiveRules(role, depth: 0)
            var unique: [PolicyRule] = []
            for rule in rules where !unique.contains(rule) { unique.append(rule) }
            var labels: [String: JSONValue] = ["kubernetes.io/bootstrapping": "rbac-defaults"]
            for (key, value) in role.labels { labels[key] = .string(value) }
            var object: JSONValue = [
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": ["name": .string(role.name), "labels": .object(labels), "annotations": [autoupdate: "true"]],
                "rules": .array(unique.map(\.json)),
            ]
            if !role.aggregateFrom.isEmpty {
                object["aggregationRule"] = ["clusterRoleSelectors": .array(role.aggregateFrom.map {
                    JSONValue.object(["matchLabels": .object([aggregateLabel + $0: "true"])])
                })]
            }
            return object
        }
    }

    static func bindingObjects() -> [JSONValue] {
        bindings.map { binding in
            [
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": ["name": .string(binding.name), "labels": ["kubernetes.io/bootstrapping": "rbac-defaults"],
                             "annotations": [autoupdate: "true"]],
                "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": .string(binding.role)],
                "subjects": .array(binding.subjects.map { subject in
                    ["apiGroup": "rbac.authorization.k8s.io", "kind": .string(subject.kind), "name": .string(subject.name)]
                }),
            ]
        }
    }
}
