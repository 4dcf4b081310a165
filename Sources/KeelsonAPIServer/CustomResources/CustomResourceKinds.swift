import Foundation
import KeelsonAPI

/// The registry rows a CustomResourceDefinition serves — one per served version, all reading the same objects in
/// the store (conversion `None`: versions differ only in `apiVersion`) — with a strategy made from the version's
/// schema: pruning, defaulting and validation, status and scale subresources, and its printer columns.
enum CustomResourceKinds {
    /// - Parameter servedOnly: false to get a row even for versions no longer served (deleting objects needs one).
    static func definitions(for crd: JSONValue, servedOnly: Bool = true) -> [ResourceDefinition] {
        guard let spec = crd["spec"], let group = spec["group"]?.stringValue,
            let kind = spec["names"]?["kind"]?.stringValue, let plural = spec["names"]?["plural"]?.stringValue
        else { return [] }
        let names = spec["names"] ?? [:]
        let served = (spec["versions"]?.arrayValue ?? []).filter { !servedOnly || $0["served"]?.boolValue == true }
        let ordered = served.sorted {
            CustomResourceDefinitionStrategy.versionPriorityOrder($0["name"]?.stringValue ?? "", $1["name"]?.stringValue ?? "")
        }
        let multiVersion = (spec["versions"]?.arrayValue ?? []).count > 1
        return ordered.compactMap { version -> ResourceDefinition? in
            guard let name = version["name"]?.stringValue else { return nil }
            let schema = version["schema"]?["openAPIV3Schema"].flatMap { try? StructuralSchema($0) }
            let subresources = version["subresources"] ?? [:]
            let scale = subresources["scale"].map { scale in
                ScaleSupport(specReplicas: fieldPath(scale["specReplicasPath"]?.stringValue ?? ".spec.replicas"),
                             statusReplicas: fieldPath(scale["statusReplicasPath"]?.stringValue ?? ".status.replicas"),
                             selector: scale["labelSelectorPath"]?.stringValue.map(fieldPath) ?? [])
            }
            var definition = ResourceDefinition(
                group: group, version: name, kind: kind, plural: plural,
                singular: names["singular"]?.stringValue ?? kind.lowercased(),
                namespaced: spec["scope"]?.stringValue != "Cluster",
                shortNames: (names["shortNames"]?.arrayValue ?? []).compactMap(\.stringValue),
                categories: (names["categories"]?.arrayValue ?? []).compactMap(\.stringValue),
                hasStatus: subresources["status"] != nil, hasGeneration: true, scale: scale,
                strategy: strategy(schema: schema, columns: version["additionalPrinterColumns"]?.arrayValue ?? [],
                                   statusSubresource: subresources["status"] != nil))
            definition.sharesStorageAcrossVersions = multiVersion
            definition.openAPISchema = version["schema"]?["openAPIV3Schema"]
            definition.customMergeSchema = MergeSchema.forCustomKind(definition.openAPISchema)
            return definition
        }
    }

    /// `.spec.replicas` → `["spec", "replicas"]`.
    static func fieldPath(_ text: String) -> [String] {
        text.split(separator: ".").map(String.init)
    }

    static func strategy(schema: StructuralSchema?, columns: [JSONValue], statusSubresource: Bool) -> ResourceStrategy {
        var strategy = ResourceStrategy()
        // With a status subresource, status is written only through it, from the first write on.
        if statusSubresource { strategy.prepareForCreate = { $0["status"] = nil } }
        if let schema {
            strategy.applyDefaults = { object in
                schema.prune(&object, isRoot: true)
                schema.applyDefaults(&object)
            }
            strategy.unknownFields = { object in
                var copy = object
                return schema.prune(&copy, isRoot: true)
            }
            strategy.validate = { object in
                var body = object
                // apiVersion, kind and metadata are the server's to check, not the schema's.
                for field in ["apiVersion", "kind", "metadata"] { body[field] = nil }
                return schema.validate(body, path: "")
            }
            strategy.validateUpdate = { new, old in
                var body = new, previous = old
                for field in ["apiVersion", "kind", "metadata"] {
                    body[field] = nil
                    previous[field] = nil
                }
                return schema.validateTransition(body, old: previous, path: "")
            }
        }
        let printed = columns.compactMap { column -> (TableColumn, PrinterColumnPath, String)? in
            guard let name = column["name"]?.stringValue, let path = column["jsonPath"]?.stringValue.flatMap(PrinterColumnPath.init)
            else { return nil }
            let type = column["type"]?.stringValue ?? "string"
            return (TableColumn(name: name, type: type, format: column["format"]?.stringValue ?? "",
                                description: column["description"]?.stringValue ?? "", priority: Int(column["priority"]?.intValue ?? 0)),
                    path, type)
        }
        if !printed.isEmpty {
            strategy.columns = printed.map(\.0)
            strategy.cells = { object, now in printed.map { cell(object, path: $0.1, type: $0.2, now: now) } }
        }
        return strategy
    }

    /// One printer column's cell: dates as ages (as kube-apiserver prints them), others as their JSON type.
    static func cell(_ object: JSONValue, path: PrinterColumnPath, type: String, now: Date) -> JSONValue {
        guard let value = path.evaluate(object), !value.isNull else { return .null }
        switch type {
        case "date":
            guard let text = value.stringValue, let time = Timestamp.parse(text) else { return .null }
            return .string(TablePrinter.humanDuration(now.timeIntervalSince(time)))
        case "integer":
            return value.intValue.map(JSONValue.integer) ?? .null
        case "number":
            switch value {
            case .integer, .double: return value
            default: return .null
            }
        case "boolean":
            return value.boolValue.map(JSONValue.bool) ?? .null
        default:
            return value.stringValue.map(JSONValue.string) ?? .string(value.encodedString())
        }
    }
}
