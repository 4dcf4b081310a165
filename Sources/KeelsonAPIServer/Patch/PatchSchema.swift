/// The patch strategy of each field of a built-in type, the facts strategic merge patch needs: which lists merge,
/// and by which key (the `patchStrategy`/`patchMergeKey` tags of the Go types). Fields not described here replace.
indirect enum PatchSchema: Sendable {
    /// A struct whose listed fields have schemas of their own.
    case object([String: PatchSchema])
    /// A list that merges: elements with equal `mergeKey` values merge (a list of scalars when the key is nil).
    case mergeList(mergeKey: String?, element: PatchSchema)
    /// A map of string keys to values of one schema (`map[string]T`).
    case map(PatchSchema)
    /// A struct where `$retainKeys` applies (`patchStrategy:"retainKeys"`), with its fields' schemas.
    case retainKeys([String: PatchSchema])
    /// No strategy: scalars and atomic lists replace, maps merge.
    case none

    func child(_ key: String) -> PatchSchema {
        switch self {
        case .object(let fields), .retainKeys(let fields): return fields[key] ?? .none
        case .map(let element): return element
        default: return .none
        }
    }
}

extension PatchSchema {
    static let conditions = PatchSchema.mergeList(mergeKey: "type", element: .none)

    static let objectMeta = PatchSchema.object([
        "finalizers": .mergeList(mergeKey: nil, element: .none),
        "ownerReferences": .mergeList(mergeKey: "uid", element: .none),
    ])

    static let container = PatchSchema.object([
        "ports": .mergeList(mergeKey: "containerPort", element: .none),
        "env": .mergeList(mergeKey: "name", element: .none),
        "volumeMounts": .mergeList(mergeKey: "mountPath", element: .none),
        "volumeDevices": .mergeList(mergeKey: "devicePath", element: .none),
        "resizePolicy": .mergeList(mergeKey: "resourceName", element: .none),
    ])

    static let podSpec = PatchSchema.object([
        "containers": .mergeList(mergeKey: "name", element: container),
        "initContainers": .mergeList(mergeKey: "name", element: container),
        "ephemeralContainers": .mergeList(mergeKey: "name", element: container),
        "volumes": .mergeList(mergeKey: "name", element: .retainKeys([:])),
        "imagePullSecrets": .mergeList(mergeKey: "name", element: .none),
        "hostAliases": .mergeList(mergeKey: "ip", element: .none),
        "topologySpreadConstraints": .mergeList(mergeKey: "topologyKey", element: .none),
        "schedulingGates": .mergeList(mergeKey: "name", element: .none),
        "resourceClaims": .mergeList(mergeKey: "name", element: .none),
    ])

    static let podTemplateSpec = PatchSchema.object(["metadata": objectMeta, "spec": podSpec])

    static let podStatus = PatchSchema.object([
        "conditions": conditions,
        "podIPs": .mergeList(mergeKey: "ip", element: .none),
        "hostIPs": .mergeList(mergeKey: "ip", element: .none),
    ])

    static func workload(specExtras: [String: PatchSchema] = [:]) -> PatchSchema {
        var spec: [String: PatchSchema] = ["template": podTemplateSpec]
        spec.merge(specExtras) { $1 }
        return .object(["metadata": objectMeta, "spec": .object(spec), "status": .object(["conditions": conditions])])
    }

    /// The schema of a built-in kind (by group and kind); kinds not listed still get metadata and conditions.
    static func forKind(group: String, kind: String) -> PatchSchema {
        switch (group, kind) {
        case ("", "Pod"):
            return .object(["metadata": objectMeta, "spec": podSpec, "status": podStatus])
        case ("", "PodTemplate"):
            return .object(["metadata": objectMeta, "template": podTemplateSpec])
        case ("apps", "Deployment"):
            return workload(specExtras: ["strategy": .retainKeys([:])])
        case ("apps", "DaemonSet"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"):
            return workload()
        case ("batch", "Job"):
            return workload()
        case ("batch", "CronJob"):
            return .object([
                "metadata": objectMeta,
                "spec": .object(["jobTemplate": .object(["metadata": objectMeta, "spec": .object(["template": podTemplateSpec])])]),
            ])
        case ("", "Service"):
            return .object([
                "metadata": objectMeta,
                "spec": .object(["ports": .mergeList(mergeKey: "port", element: .none)]),
                "status": .object(["conditions": conditions]),
            ])
        case ("", "Node"):
            return .object([
                "metadata": objectMeta,
                "spec": .object(["podCIDRs": .mergeList(mergeKey: nil, element: .none)]),
                "status": .object([
                    "conditions": conditions,
                    "addresses": .mergeList(mergeKey: "type", element: .none),
                ]),
            ])
        case ("", "Namespace"):
            return .object(["metadata": objectMeta, "status": .object(["conditions": conditions])])
        default:
            return .object(["metadata": objectMeta, "status": .object(["conditions": conditions])])
        }
    }
}
