import KeelsonAPI

/// kube-apiserver's `NodeRestriction` admission plugin: a kubelet (`system:node:NAME` in `system:nodes`) may only
/// change its own Node (only the labels the kubelet owns, never its taints) and node Lease, create only mirror pods of its static pods bound to itself, write the status
/// of, delete and evict only the pods bound to it, and ask only for service account tokens bound to those pods.
/// RBAC's `system:node` role lets every node do these things to every object; this narrows it to its own.
enum NodeRestriction {
    static func node(_ user: UserInfo?) -> String? {
        guard let user, user.groups.contains(NodeAuthorizer.nodeGroup), user.name.hasPrefix(NodeAuthorizer.nodePrefix) else { return nil }
        return String(user.name.dropFirst(NodeAuthorizer.nodePrefix.count))
    }

    static func forbidden(_ definition: ResourceDefinition, _ name: String, _ reason: String) -> Status {
        Status(code: 403, reason: .forbidden, message: "\(definition.groupResource) \"\(name)\" is forbidden: \(reason)",
            details: Status.Details(name: name, group: definition.group, kind: definition.plural))
    }

    static func isPod(_ definition: ResourceDefinition) -> Bool { definition.group.isEmpty && definition.plural == "pods" }

    /// A write (create, update, delete) of `object` (its stored version for updates and deletes: `old`).
    static func admit(operation: String, object: JSONValue, old: JSONValue?, definition: ResourceDefinition, subresource: String?,
        user: UserInfo?) throws
    {
        guard let node = node(user) else { return }
        let name = object.name ?? old?.name ?? ""
        switch (definition.group, definition.plural) {
        case ("", "nodes"):
            if name != node { throw forbidden(definition, name, "node \"\(node)\" is not allowed to modify node \"\(name)\"") }
            // Its labels and taints steer workloads to it: a node keeps to the labels the kubelet owns and leaves
            // its taints to others (the status subresource changes neither).
            guard subresource == nil, operation == "CREATE" || operation == "UPDATE" else { return }
            let labels = object.value(at: ["metadata", "labels"])?.objectValue ?? [:]
            let oldLabels = old?.value(at: ["metadata", "labels"])?.objectValue ?? [:]
            let changed = Set(labels.keys).union(oldLabels.keys).filter { labels[$0] != oldLabels[$0] }
            let refused = changed.filter { !NodeLabels.nodeMaySet($0) }.sorted()
            if !refused.isEmpty {
                throw forbidden(definition, name, operation == "CREATE"
                    ? "node \"\(node)\" is not allowed to set the following labels: \(refused.joined(separator: ", "))"
                    : "is not allowed to modify labels: \(refused.joined(separator: ", "))")
            }
            if operation == "UPDATE", let old, object.value(at: ["spec", "taints"]) != old.value(at: ["spec", "taints"]) {
                throw forbidden(definition, name, "node \"\(node)\" is not allowed to modify taints")
            }
        case ("coordination.k8s.io", "leases") where (object.namespace ?? old?.namespace) == "kube-node-lease":
            if name != node { throw forbidden(definition, name, "can only access node lease with the same name as the requesting node") }
        case ("", "pods"):
            let boundTo = (old ?? object).value(at: ["spec", "nodeName"])?.stringValue ?? ""
            switch operation {
            case "CREATE":
                guard object.metadata?["annotations"]?["kubernetes.io/config.mirror"] != nil else {
                    throw forbidden(definition, name, "pod does not have \"kubernetes.io/config.mirror\" annotation, node \"\(node)\" can only create mirror pods")
                }
                if boundTo != node { throw forbidden(definition, name, "node \"\(node)\" can only create pods with spec.nodeName set to itself") }
            case "UPDATE" where subresource == "status":
                if boundTo != node {
                    throw forbidden(definition, name, "node \"\(node)\" can only update pod status for pods with spec.nodeName set to itself")
                }
            case "UPDATE":
                throw forbidden(definition, name, "node \"\(node)\" can only update pod status")
            default:
                if boundTo != node { throw forbidden(definition, name, "node \"\(node)\" can only delete pods with spec.nodeName set to itself") }
            }
        default:
            return
        }
    }
}
