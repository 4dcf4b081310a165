import KeelsonAPI
import Synchronization

/// How server-side apply treats each part of a kind: which lists are associative (items identified by key
/// fields), which are sets of scalars, and which are atomic (replaced and owned whole). Built-in kinds take it
/// from their strategic-merge-patch schema (a merge key makes an associative list, a merge list without key a
/// set); custom kinds from their OpenAPI schema's `x-kubernetes-list-type`, `x-kubernetes-list-map-keys` and
/// `x-kubernetes-map-type`. What is not described is deduced from the value: objects are granular, lists atomic.
indirect enum MergeSchema: Sendable {
    /// An object whose named fields have schemas; `other` for the fields not named (a map's values).
    case object(fields: [String: MergeSchema], other: MergeSchema)
    /// An object replaced and owned whole (`x-kubernetes-map-type: atomic`).
    case atomicObject
    /// A list whose items are identified by these key fields; `defaults` fills a key field an item leaves out.
    case associativeList(keys: [String], defaults: [String: JSONValue], item: MergeSchema)
    /// A list of distinct scalars.
    case set
    /// A list replaced and owned whole.
    case atomicList
    /// Nothing known: deduced from the value.
    case deduced

    func field(_ name: String) -> MergeSchema {
        if case .object(let fields, let other) = self { return fields[name] ?? other }
        return .deduced
    }

    // MARK: Built-in kinds

    /// The merge schema of a built-in kind, from its strategic-merge-patch schema plus the lists whose identity
    /// takes more than the patch merge key (container and service ports are keyed by port *and* protocol).
    static func forBuiltIn(group: String, version: String = "v1", kind: String) -> MergeSchema {
        let key = group + "/" + version + "/" + kind
        if let known = builtIns.withLock({ $0[key] }) { return known }
        var schema = from(PatchSchema.forKind(group: group, kind: kind), path: [])
        let definition = BuiltinSchemas.definitionName(group: group, version: version, kind: kind)
        if let atomic = overlayingAtomicStructs(schema, type: definition, depth: 0) { schema = atomic }
        builtIns.withLock { $0[key] = schema }
        return schema
    }

    /// Types Kubernetes declares `+structType=atomic`: wherever they appear they are replaced and owned whole.
    static let atomicStructs: Set<String> = [
        "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector", "io.k8s.api.core.v1.NodeSelector",
        "io.k8s.api.core.v1.LocalObjectReference", "io.k8s.api.core.v1.ObjectReference",
        "io.k8s.api.core.v1.SecretKeySelector", "io.k8s.api.core.v1.ConfigMapKeySelector",
        "io.k8s.api.core.v1.ObjectFieldSelector", "io.k8s.api.core.v1.ResourceFieldSelector",
    ]

    /// `schema` with the fields whose type is an atomic struct made atomic, following the kind's type shapes through
    /// nested structs and the items of associative lists (other lists are atomic already); nil when none is found.
    private static func overlayingAtomicStructs(_ schema: MergeSchema, type: String, depth: Int) -> MergeSchema? {
        if atomicStructs.contains(type) { return .atomicObject }
        guard depth < 16, let shape = BuiltinSchemas.shapes[type] else { return nil }
        var fields: [String: MergeSchema]
        let other: MergeSchema
        switch schema {
        case .object(let known, let rest): (fields, other) = (known, rest)
        case .deduced: (fields, other) = ([:], .deduced)
        default: return nil
        }
        var changed = false
        for (name, fieldType) in shape.fields {
            let current = fields[name] ?? other
            switch (fieldType, current) {
            case (.reference(let nested), _):
                if let overlaid = overlayingAtomicStructs(current, type: nested, depth: depth + 1) {
                    fields[name] = overlaid
                    changed = true
                }
            case (.list(.reference(let nested)), .associativeList(let keys, let defaults, let item)):
                if let overlaid = overlayingAtomicStructs(item, type: nested, depth: depth + 1) {
                    fields[name] = .associativeList(keys: keys, defaults: defaults, item: overlaid)
                    changed = true
                }
            default:
                continue
            }
        }
        return changed ? .object(fields: fields, other: other) : nil
    }

    /// Made once per kind: every write of the kind needs it.
    private static let builtIns = Mutex<[String: MergeSchema]>([:])

    private static let portKeys: [String: (keys: [String], defaults: [String: JSONValue])] = [
        "ports:containerPort": (["containerPort", "protocol"], ["protocol": "TCP"]),
        "ports:port": (["port", "protocol"], ["protocol": "TCP"]),
        "topologySpreadConstraints:topologyKey": (["topologyKey", "whenUnsatisfiable"], [:]),
    ]

    private static func from(_ patch: PatchSchema, path: [String]) -> MergeSchema {
        switch patch {
        case .object(let fields), .retainKeys(let fields):
            var merged: [String: MergeSchema] = [:]
            for (name, field) in fields { merged[name] = from(field, path: path + [name]) }
            return .object(fields: merged, other: .deduced)
        case .map(let element):
            return .object(fields: [:], other: from(element, path: path))
        case .mergeList(let key, let element):
            guard let key else { return .set }
            let wider = portKeys["\(path.last ?? ""):\(key)"]
            return .associativeList(keys: wider?.keys ?? [key], defaults: wider?.defaults ?? [:], item: from(element, path: path))
        case .none:
            return .deduced
        }
    }

    // MARK: Custom kinds

    /// The merge schema of a custom kind, from its structural schema (an `openAPIV3Schema` document). Its
    /// metadata follows ObjectMeta's rules whatever the schema says of it.
    static func forCustomKind(_ schema: JSONValue?) -> MergeSchema {
        guard case .object(var fields, let other) = forSchema(schema) else { return .deduced }
        fields["metadata"] = MergeSchema.forBuiltIn(group: "", kind: "ConfigMap").field("metadata")
        return .object(fields: fields, other: other)
    }

    static func forSchema(_ schema: JSONValue?) -> MergeSchema {
        guard let schema, case .object = schema else { return .deduced }
        if schema["x-kubernetes-preserve-unknown-fields"]?.boolValue == true && schema["properties"] == nil
            && schema["items"] == nil && schema["additionalProperties"] == nil
        {
            return .deduced
        }
        switch schema["type"]?.stringValue {
        case "array":
            let item = forSchema(schema["items"])
            switch schema["x-kubernetes-list-type"]?.stringValue {
            case "map":
                let keys = schema["x-kubernetes-list-map-keys"]?.arrayValue?.compactMap(\.stringValue) ?? []
                var defaults: [String: JSONValue] = [:]
                for key in keys { if let value = schema["items"]?["properties"]?[key]?["default"] { defaults[key] = value } }
                return keys.isEmpty ? .atomicList : .associativeList(keys: keys, defaults: defaults, item: item)
            case "set": return .set
            default: return .atomicList
            }
        case "object":
            if schema["x-kubernetes-map-type"]?.stringValue == "atomic" { return .atomicObject }
            var fields: [String: MergeSchema] = [:]
            for (name, property) in schema["properties"]?.objectValue ?? [:] { fields[name] = forSchema(property) }
            let other = schema["additionalProperties"].map { $0.boolValue == nil ? forSchema($0) : .deduced } ?? .deduced
            if schema["x-kubernetes-embedded-resource"]?.boolValue == true {
                fields["metadata"] = MergeSchema.forBuiltIn(group: "", kind: "ConfigMap").field("metadata")
            }
            return .object(fields: fields, other: other)
        default:
            return .deduced
        }
    }
}
