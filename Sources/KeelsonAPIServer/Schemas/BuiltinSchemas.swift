import KeelsonAPI

/// The shape of one built-in type: its fields, their types, and which are required.
struct TypeShape: Sendable {
    indirect enum FieldType: Sendable, Equatable {
        case string, integer, number, boolean, dateTime, intOrString
        /// Any JSON value (raw extensions, `FieldsV1`, schema defaults).
        case any
        case list(FieldType)
        case map(FieldType)
        /// Another type, by its definition name.
        case reference(String)
    }

    /// Fields in the order the table lists them (alphabetical), as kubectl explain shows them.
    var fields: [(name: String, type: FieldType)]
    var types: [String: FieldType]
    var required: Set<String>
}

/// The shapes of the built-in kinds, parsed once from the generated table: what `fieldValidation` checks built-in
/// objects against and what the OpenAPI documents publish for them.
enum BuiltinSchemas {
    static let shapes: [String: TypeShape] = parse(typeTable)

    /// kube-openapi's name for a kind's definition: `io.k8s.api.apps.v1.Deployment`.
    static func definitionName(group: String, version: String, kind: String) -> String {
        let package: String
        switch group {
        case "": package = "io.k8s.api.core"
        case "apiextensions.k8s.io": package = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"
        case "apiregistration.k8s.io": package = "io.k8s.kube-aggregator.pkg.apis.apiregistration"
        case "internal.apiserver.k8s.io": package = "io.k8s.api.apiserverinternal"
        default: package = "io.k8s.api." + (group.split(separator: ".").first.map(String.init) ?? group)
        }
        return "\(package).\(version).\(kind)"
    }

    static func definitionName(of d: ResourceDefinition) -> String? {
        let name = definitionName(group: d.group, version: d.version, kind: d.kind)
        return shapes[name] == nil ? nil : name
    }

    /// The paths of fields in `object` that its type does not declare, as Kubernetes names them in strict decoding
    /// errors (`spec.template.spec.containers[0].imagePullPolicyy`).
    static func unknownFields(in object: JSONValue, definition: String) -> [String] {
        var found: [String] = []
        check(object, against: .reference(definition), path: "", into: &found)
        return found
    }

    private static func check(_ value: JSONValue, against type: TypeShape.FieldType, path: String, into found: inout [String]) {
        switch (type, value) {
        case (.reference(let name), .object(let members)):
            guard let shape = shapes[name] else { return }
            for (key, member) in members {
                let memberPath = path.isEmpty ? key : path + "." + key
                guard let memberType = shape.types[key] else {
                    found.append(memberPath)
                    continue
                }
                check(member, against: memberType, path: memberPath, into: &found)
            }
        case (.list(let element), .array(let items)):
            for (i, item) in items.enumerated() {
                check(item, against: element, path: "\(path)[\(i)]", into: &found)
            }
        case (.map(let element), .object(let members)):
            for (key, member) in members {
                check(member, against: element, path: path + "." + key, into: &found)
            }
        default:
            // Scalars, and values of the wrong JSON type: decoding reports those, not the unknown-field check.
            return
        }
    }

    /// Every definition `roots` refer to, directly or through others, roots included.
    static func closure(of roots: [String]) -> [String] {
        var seen = Set<String>()
        var pending = roots
        while let name = pending.popLast() {
            guard !seen.contains(name), let shape = shapes[name] else { continue }
            seen.insert(name)
            for field in shape.fields {
                if let referenced = field.type.referencedName, !seen.contains(referenced) { pending.append(referenced) }
            }
        }
        return seen.sorted()
    }

    static func parse(_ table: String) -> [String: TypeShape] {
        var shapes: [String: TypeShape] = [:]
        for line in table.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard let name = words.first else { continue }
            var shape = TypeShape(fields: [], types: [:], required: [])
            for word in words.dropFirst() {
                guard let colon = word.firstIndex(of: ":") else { continue }
                var field = String(word[..<colon])
                if field.hasSuffix("!") {
                    field.removeLast()
                    shape.required.insert(field)
                }
                var code = word[word.index(after: colon)...]
                guard let type = parseType(&code) else { continue }
                shape.fields.append((field, type))
                shape.types[field] = type
            }
            shapes[String(name)] = shape
        }
        return shapes
    }

    private static func parseType(_ code: inout Substring) -> TypeShape.FieldType? {
        guard let first = code.popFirst() else { return nil }
        switch first {
        case "s": return .string
        case "i": return .integer
        case "n": return .number
        case "b": return .boolean
        case "t": return .dateTime
        case "o": return .intOrString
        case "x": return .any
        case "[":
            guard let element = parseType(&code), code.popFirst() == "]" else { return nil }
            return .list(element)
        case "{":
            guard let element = parseType(&code), code.popFirst() == "}" else { return nil }
            return .map(element)
        case "@":
            let end = code.firstIndex(where: { $0 == "]" || $0 == "}" }) ?? code.endIndex
            let name = String(code[..<end])
            code = code[end...]
            return .reference(name)
        default: return nil
        }
    }
}

extension TypeShape.FieldType {
    var referencedName: String? {
        switch self {
        case .reference(let name): return name
        case .list(let element), .map(let element): return element.referencedName
        default: return nil
        }
    }
}
