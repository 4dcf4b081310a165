import KeelsonAPI
import Synchronization

/// The built-in shapes as OpenAPI schemas, in the v3 form (`#/components/schemas/`) or the Swagger 2.0 form
/// (`#/definitions/`). kube-openapi's layout is followed where kubectl reads it: one schema per type, references
/// between them, `allOf` around a reference that carries its own description.
extension BuiltinSchemas {
    enum Flavor: String {
        case v3, v2

        var referencePrefix: String { self == .v3 ? "#/components/schemas/" : "#/definitions/" }
    }

    static let intOrStringName = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"

    /// The schemas of `roots` and of every type they use, by definition name; each root tagged with its kind.
    /// The built-in kinds never change, so each answer is kept: documents made again after a CRD change (and
    /// every new server in one process) reuse it.
    static func openAPISchemas(roots: [(definition: String, gvk: GroupVersionKind)], flavor: Flavor) -> [String: JSONValue] {
        let key = flavor.rawValue + "|" + roots.map { "\($0.definition)=\($0.gvk.apiVersion)/\($0.gvk.kind)" }.joined(separator: ",")
        if let known = madeSchemas.withLock({ $0[key] }) { return known }
        let schemas = makeSchemas(roots: roots, flavor: flavor)
        madeSchemas.withLock { $0[key] = schemas }
        return schemas
    }

    private static let madeSchemas = Mutex<[String: [String: JSONValue]]>([:])

    private static func makeSchemas(roots: [(definition: String, gvk: GroupVersionKind)], flavor: Flavor) -> [String: JSONValue] {
        var schemas: [String: JSONValue] = [:]
        var usesIntOrString = false
        for name in closure(of: roots.map(\.definition)) {
            guard let shape = shapes[name] else { continue }
            schemas[name] = schema(of: shape, named: name, flavor: flavor, usesIntOrString: &usesIntOrString)
        }
        var tags: [String: [JSONValue]] = [:]
        for root in roots {
            tags[root.definition, default: []].append(["group": .string(root.gvk.group), "kind": .string(root.gvk.kind),
                                                        "version": .string(root.gvk.version)])
        }
        for (name, gvks) in tags where schemas[name] != nil {
            schemas[name]?["x-kubernetes-group-version-kind"] = .array(gvks)
        }
        if usesIntOrString {
            var intOrString: JSONValue = ["type": "string", "format": "int-or-string",
                                          "description": "A number or a string, as the field allows (a port number or its name, a count or a percentage)."]
            if flavor == .v3 { intOrString["x-kubernetes-int-or-string"] = true }
            schemas[intOrStringName] = intOrString
        }
        return schemas
    }

    private static func schema(of shape: TypeShape, named name: String, flavor: Flavor, usesIntOrString: inout Bool) -> JSONValue {
        let typeName = shortName(name)
        var properties: [String: JSONValue] = [:]
        for field in shape.fields {
            var property = fieldSchema(field.type, flavor: flavor, usesIntOrString: &usesIntOrString)
            if let description = BuiltinDescriptions.field(type: typeName, field: field.name) {
                if property["$ref"] != nil { property = ["allOf": [property]] }
                property["description"] = .string(description)
            }
            properties[field.name] = property
        }
        var schema: JSONValue = ["type": "object", "properties": .object(properties)]
        if let description = BuiltinDescriptions.type(typeName) { schema["description"] = .string(description) }
        if !shape.required.isEmpty { schema["required"] = .array(shape.required.sorted().map(JSONValue.string)) }
        return schema
    }

    private static func fieldSchema(_ type: TypeShape.FieldType, flavor: Flavor, usesIntOrString: inout Bool) -> JSONValue {
        switch type {
        case .string: return ["type": "string"]
        case .integer: return ["type": "integer", "format": "int64"]
        case .number: return ["type": "number", "format": "double"]
        case .boolean: return ["type": "boolean"]
        case .dateTime: return ["type": "string", "format": "date-time"]
        case .any: return ["type": "object"]
        case .intOrString:
            usesIntOrString = true
            return ["$ref": .string(flavor.referencePrefix + intOrStringName)]
        case .list(let element):
            return ["type": "array", "items": fieldSchema(element, flavor: flavor, usesIntOrString: &usesIntOrString)]
        case .map(let element):
            return ["type": "object", "additionalProperties": fieldSchema(element, flavor: flavor, usesIntOrString: &usesIntOrString)]
        case .reference(let name):
            return ["$ref": .string(flavor.referencePrefix + name)]
        }
    }

    /// `PodSpec` of `io.k8s.api.core.v1.PodSpec`.
    static func shortName(_ definition: String) -> String {
        definition.split(separator: ".").last.map(String.init) ?? definition
    }
}
