import KeelsonAPI
import Synchronization

/// OpenAPI v3 documents generated from the registry: each resource's operations and parameters (kubectl learns
/// from the `fieldValidation` parameter of each PATCH that the server validates fields itself), and the schemas of
/// the kinds — the built-ins' from their generated shapes, custom resources' from their CRDs.
struct OpenAPIDocuments: Sendable {
    let registry: ResourceRegistry
    /// Encoded documents, made again only when the custom kinds change (the built-in part is large and fixed).
    private let cache = DocumentCache()

    init(registry: ResourceRegistry) {
        self.registry = registry
    }

    private final class DocumentCache: Sendable {
        let entries = Mutex<(generation: Int, documents: [String: [UInt8]])>((-1, [:]))
    }

    /// `make`'s result for `key`, kept until the registry's custom kinds change.
    func cached(_ key: String, _ make: () -> [UInt8]?) -> [UInt8]? {
        let generation = registry.generation
        if let hit = cache.entries.withLock({ $0.generation == generation ? $0.documents[key] : nil }) { return hit }
        guard let bytes = make() else { return nil }
        cache.entries.withLock { entries in
            if entries.generation != generation { entries = (generation, [:]) }
            entries.documents[key] = bytes
        }
        return bytes
    }

    /// A group version's document, encoded.
    func encodedDocument(group: String, version: String) -> [UInt8]? {
        cached("v3/\(group)/\(version)") { document(group: group, version: version)?.encoded() }
    }

    static func pathKey(group: String, version: String) -> String {
        group.isEmpty ? "api/\(version)" : "apis/\(group)/\(version)"
    }

    /// A stable hash of a group version's document, for the `?hash=` of the index (clients cache by it).
    func hash(group: String, version: String) -> String {
        Self.hash(encodedDocument(group: group, version: version) ?? [])
    }

    /// FNV-1a of a document's bytes as 16 hex digits.
    static func hash(_ bytes: [UInt8]) -> String {
        var h: UInt64 = 0xcbf29ce484222325
        for byte in bytes {
            h ^= UInt64(byte)
            h = h &* 0x100000001b3
        }
        let hex = String(h, radix: 16, uppercase: true)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    func index() -> JSONValue {
        var paths: [String: JSONValue] = [:]
        for (group, version) in registry.groupVersions {
            let key = Self.pathKey(group: group, version: version)
            paths[key] = ["serverRelativeURL": .string("/openapi/v3/\(key)?hash=\(hash(group: group, version: version))")]
        }
        return ["paths": .object(paths)]
    }

    private static func queryParameter(_ name: String, _ description: String, type: String = "string") -> JSONValue {
        ["name": .string(name), "in": "query", "description": .string(description), "schema": ["type": .string(type), "uniqueItems": true]]
    }

    /// `com.example.stable.v1.CronTab`: the name Kubernetes gives a kind's schema (the group's labels reversed).
    static func schemaName(_ d: ResourceDefinition) -> String {
        (d.group.split(separator: ".").reversed().map(String.init) + [d.version, d.kind]).joined(separator: ".")
    }

    /// A kind's schema as the documents publish it: tagged with its group, version and kind (how kubectl finds it),
    /// with the fields every object has described when the schema leaves them out.
    static func published(_ schema: JSONValue, for d: ResourceDefinition) -> JSONValue {
        var published = schema
        published["x-kubernetes-group-version-kind"] = [["group": .string(d.group), "kind": .string(d.kind), "version": .string(d.version)]]
        var properties = schema["properties"]?.objectValue ?? [:]
        properties["apiVersion"] = properties["apiVersion"] ?? ["type": "string",
            "description": "The group and version whose schema this object is written in."]
        properties["kind"] = properties["kind"] ?? ["type": "string",
            "description": "The kind of object this is, in CamelCase."]
        properties["metadata"] = properties["metadata"] ?? ["type": "object",
            "description": "Standard object's metadata: name, namespace, labels, annotations and the fields the server sets."]
        published["properties"] = .object(properties)
        return published
    }

    func document(group: String, version: String) -> JSONValue? {
        let definitions = registry.resources(group: group, version: version)
        guard !definitions.isEmpty else { return nil }
        var schemas = BuiltinSchemas.openAPISchemas(roots: Self.builtinRoots(definitions), flavor: .v3)
        for d in definitions {
            guard let schema = d.openAPISchema else { continue }
            schemas[Self.schemaName(d)] = Self.published(schema, for: d)
        }
        return [
            "openapi": "3.0.0",
            "info": ["title": "Kubernetes", "version": .string(Discovery.version["gitVersion"]?.stringValue ?? "")],
            "paths": .object(paths(group: group, version: version, definitions: definitions)),
            "components": ["schemas": .object(schemas)],
        ]
    }

    /// The kinds among `definitions` whose schemas come from the built-in shapes (custom kinds bring their own).
    static func builtinRoots(_ definitions: [ResourceDefinition]) -> [(definition: String, gvk: GroupVersionKind)] {
        definitions.compactMap { d in d.openAPISchema == nil ? BuiltinSchemas.definitionName(of: d).map { ($0, d.gvk) } : nil }
    }

    /// The operations of a group version's resources, by path (v3 parameters).
    func paths(group: String, version: String, definitions: [ResourceDefinition]) -> [String: JSONValue] {
        var paths: [String: JSONValue] = [:]
        let prefix = "/" + Self.pathKey(group: group, version: version)
        let writeParameters: [JSONValue] = [
            Self.queryParameter("dryRun", "All: check and answer as if writing, but write nothing."),
            Self.queryParameter("fieldManager", "Who makes the change, recorded as the manager of the fields it sets."),
            Self.queryParameter("fieldValidation", "What to do with fields the kind does not declare: Strict refuses the request, Warn (the default) answers with warnings, Ignore accepts them silently."),
        ]
        for d in definitions {
            let gvk: JSONValue = ["group": .string(d.group), "version": .string(d.version), "kind": .string(d.kind)]
            let collection = d.namespaced ? "\(prefix)/namespaces/{namespace}/\(d.plural)" : "\(prefix)/\(d.plural)"
            func operation(_ id: String, _ action: String, parameters: [JSONValue]) -> JSONValue {
                ["operationId": .string(id), "x-kubernetes-action": .string(action), "x-kubernetes-group-version-kind": gvk,
                 "parameters": .array(parameters), "responses": ["200": ["description": "OK"]]]
            }
            let opName = d.kind
            paths[collection] = [
                "get": operation("list\(opName)", "list", parameters: []),
                "post": operation("create\(opName)", "post", parameters: writeParameters),
            ]
            paths[collection + "/{name}"] = [
                "get": operation("read\(opName)", "get", parameters: []),
                "put": operation("replace\(opName)", "put", parameters: writeParameters),
                "patch": operation("patch\(opName)", "patch", parameters: writeParameters + [Self.queryParameter("force", "Apply: take over fields other managers own instead of failing with a conflict.", type: "boolean")]),
                "delete": operation("delete\(opName)", "delete", parameters: []),
            ]
        }
        return paths
    }
}
