import KeelsonAPI

/// `/openapi/v2`: the Swagger 2.0 form of the same operations as the v3 documents, in JSON and in the protobuf
/// form (`openapi.v2.Document`) that kubectl 1.27 and 1.28 fetch before every `apply`, `create -f` and `replace`.
/// kubectl reads from it whether the server validates fields itself (the `fieldValidation` parameter of each
/// PATCH, found by `x-kubernetes-group-version-kind`) and then leaves validation to the server.
extension OpenAPIDocuments {
    /// What kubectl asks for (an older spelling with `@`, which Go's MIME parser cannot read back) and what the
    /// answer is labelled with.
    static let protobufMediaTypes = ["application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
                                     "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"]
    static let protobufContentType = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

    /// The whole Swagger document; `definitions: false` leaves the schemas out (the protobuf form carries paths only).
    func swagger(definitions: Bool = true) -> JSONValue {
        var paths: [String: JSONValue] = [:]
        for (group, version) in registry.groupVersions {
            let resources = registry.resources(group: group, version: version)
            for (path, item) in self.paths(group: group, version: version, definitions: resources) {
                var operations: [String: JSONValue] = [:]
                for (method, operation) in item.objectValue ?? [:] {
                    var converted = operation
                    converted["parameters"] = .array((operation["parameters"]?.arrayValue ?? []).map(Self.swaggerParameter))
                    operations[method] = converted
                }
                paths[path] = .object(operations)
            }
        }
        let builtins = definitions ? Self.builtinRoots(registry.definitions) : []
        return [
            "swagger": "2.0",
            "info": ["title": "Kubernetes", "version": .string(Discovery.version["gitVersion"]?.stringValue ?? "")],
            "paths": .object(paths),
            "definitions": .object(BuiltinSchemas.openAPISchemas(roots: builtins, flavor: .v2)),
        ]
    }

    /// A v3 query parameter (type under `schema`) as Swagger 2.0 writes it (type beside the name).
    private static func swaggerParameter(_ v3: JSONValue) -> JSONValue {
        var parameter = v3
        parameter["schema"] = nil
        parameter["type"] = v3["schema"]?["type"]
        parameter["uniqueItems"] = v3["schema"]?["uniqueItems"]
        return parameter
    }

    /// The Swagger document in gnostic's `openapi.v2.Document` protobuf encoding.
    func swaggerProtobuf() -> [UInt8] {
        // Paths only: kubectl takes strategic-merge-patch metadata from a schema it finds here, and the published
        // schemas do not carry the patch extensions yet.
        let document = swagger(definitions: false)
        var out = ProtobufWriter()
        out.string(1, "2.0")
        out.message(2) { info in
            info.string(1, document["info"]?["title"]?.stringValue ?? "")
            info.string(2, document["info"]?["version"]?.stringValue ?? "")
        }
        out.message(8) { paths in
            for (path, item) in (document["paths"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                paths.message(2) { named in
                    named.string(1, path)
                    named.message(2) { pathItem in
                        // PathItem's field numbers per method.
                        for (method, number) in [("get", 2), ("put", 3), ("post", 4), ("delete", 5), ("patch", 8)] {
                            guard let operation = item[method] else { continue }
                            pathItem.message(number) { Self.writeOperation(operation, into: &$0) }
                        }
                    }
                }
            }
        }
        out.message(9) { _ in }
        return out.bytes
    }

    private static func writeOperation(_ operation: JSONValue, into out: inout ProtobufWriter) {
        out.string(5, operation["operationId"]?.stringValue ?? "")
        for parameter in operation["parameters"]?.arrayValue ?? [] {
            // ParametersItem.parameter → Parameter.non_body_parameter → NonBodyParameter.query_parameter_sub_schema
            out.message(8) { item in
                item.message(1) { p in
                    p.message(2) { nonBody in
                        nonBody.message(3) { query in
                            query.string(2, parameter["in"]?.stringValue ?? "query")
                            query.string(3, parameter["description"]?.stringValue ?? "")
                            query.string(4, parameter["name"]?.stringValue ?? "")
                            query.string(6, parameter["type"]?.stringValue ?? "string")
                            if parameter["uniqueItems"]?.boolValue == true { query.bool(20, true) }
                        }
                    }
                }
            }
        }
        out.message(9) { responses in
            for (code, response) in (operation["responses"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                responses.message(1) { named in
                    named.string(1, code)
                    named.message(2) { value in
                        value.message(1) { $0.string(1, response["description"]?.stringValue ?? "") }
                    }
                }
            }
        }
        // Vendor extensions carry their value as YAML text.
        if let action = operation["x-kubernetes-action"]?.stringValue {
            out.message(13) { ext in
                ext.string(1, "x-kubernetes-action")
                ext.message(2) { $0.string(2, action + "\n") }
            }
        }
        if let gvk = operation["x-kubernetes-group-version-kind"] {
            let yaml = ["group", "kind", "version"].map { key in
                let value = gvk[key]?.stringValue ?? ""
                return "\(key): \(value.isEmpty ? "\"\"" : value)"
            }.joined(separator: "\n") + "\n"
            out.message(13) { ext in
                ext.string(1, "x-kubernetes-group-version-kind")
                ext.message(2) { $0.string(2, yaml) }
            }
        }
    }
}
