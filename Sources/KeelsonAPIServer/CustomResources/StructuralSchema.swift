import Foundation
import KeelsonAPI

/// One node of a CustomResourceDefinition's `openAPIV3Schema`, read once when the definition changes: what the
/// API server validates a custom object against, fills in from `default`, and prunes to (as apiextensions-apiserver
/// does for structural schemas).
final class StructuralSchema: Sendable {
    let type: String?
    let properties: [String: StructuralSchema]
    let items: StructuralSchema?
    /// `additionalProperties` as a schema (a map's values); `true` keeps any key unvalidated.
    let additionalProperties: StructuralSchema?
    let allowsAnyProperty: Bool
    let required: [String]
    let enumValues: [JSONValue]
    let pattern: (source: String, regex: NSRegularExpression)?
    let minimum: Double?
    let maximum: Double?
    let exclusiveMinimum: Bool
    let exclusiveMaximum: Bool
    let minLength: Int?
    let maxLength: Int?
    let minItems: Int?
    let maxItems: Int?
    let minProperties: Int?
    let maxProperties: Int?
    let uniqueItems: Bool
    let nullable: Bool
    let defaultValue: JSONValue?
    let preserveUnknownFields: Bool
    let intOrString: Bool
    let embeddedResource: Bool
    /// `allOf`/`anyOf`/`oneOf`/`not` branches: value checks only (a structural schema declares no types there).
    let allOf: [StructuralSchema]
    let anyOf: [StructuralSchema]
    let oneOf: [StructuralSchema]
    let not: StructuralSchema?
    /// `x-kubernetes-validations`: CEL rules on this node's value.
    let rules: [ValidationRule]

    /// Parses a schema; a malformed one (a pattern that does not compile, a wrong type of keyword) is an error
    /// naming the field, for the definition's validation.
    init(_ json: JSONValue, path: String = "openAPIV3Schema") throws(SchemaError) {
        type = json["type"]?.stringValue
        var properties: [String: StructuralSchema] = [:]
        for (name, child) in json["properties"]?.objectValue ?? [:] {
            properties[name] = try StructuralSchema(child, path: "\(path).properties[\(name)]")
        }
        self.properties = properties
        items = try Self.optional(json["items"], path: "\(path).items")
        switch json["additionalProperties"] {
        case .bool(let allowed)?:
            additionalProperties = nil
            allowsAnyProperty = allowed
        case .object?:
            additionalProperties = try StructuralSchema(json["additionalProperties"]!, path: "\(path).additionalProperties")
            allowsAnyProperty = false
        default:
            additionalProperties = nil
            allowsAnyProperty = false
        }
        required = (json["required"]?.arrayValue ?? []).compactMap(\.stringValue)
        enumValues = json["enum"]?.arrayValue ?? []
        if let source = json["pattern"]?.stringValue {
            guard let regex = try? NSRegularExpression(pattern: source) else {
                throw SchemaError(field: "\(path).pattern", message: "must be a valid regular expression")
            }
            pattern = (source, regex)
        } else {
            pattern = nil
        }
        func number(_ key: String) -> Double? {
            switch json[key] {
            case .integer(let i)?: Double(i)
            case .double(let d)?: d
            default: nil
            }
        }
        minimum = number("minimum")
        maximum = number("maximum")
        exclusiveMinimum = json["exclusiveMinimum"]?.boolValue ?? false
        exclusiveMaximum = json["exclusiveMaximum"]?.boolValue ?? false
        minLength = json["minLength"]?.intValue.map(Int.init)
        maxLength = json["maxLength"]?.intValue.map(Int.init)
        minItems = json["minItems"]?.intValue.map(Int.init)
        maxItems = json["maxItems"]?.intValue.map(Int.init)
        minProperties = json["minProperties"]?.intValue.map(Int.init)
        maxProperties = json["maxProperties"]?.intValue.map(Int.init)
        uniqueItems = json["uniqueItems"]?.boolValue ?? false
        nullable = json["nullable"]?.boolValue ?? false
        defaultValue = json["default"]
        preserveUnknownFields = json["x-kubernetes-preserve-unknown-fields"]?.boolValue ?? false
        intOrString = json["x-kubernetes-int-or-string"]?.boolValue ?? false
        embeddedResource = json["x-kubernetes-embedded-resource"]?.boolValue ?? false
        allOf = try Self.list(json["allOf"], path: "\(path).allOf")
        anyOf = try Self.list(json["anyOf"], path: "\(path).anyOf")
        oneOf = try Self.list(json["oneOf"], path: "\(path).oneOf")
        not = try Self.optional(json["not"], path: "\(path).not")
        var rules: [ValidationRule] = []
        for (i, entry) in (json["x-kubernetes-validations"]?.arrayValue ?? []).enumerated() {
            rules.append(try ValidationRule(entry, path: "\(path).x-kubernetes-validations[\(i)]"))
        }
        self.rules = rules
        if let type, !["object", "array", "string", "integer", "number", "boolean"].contains(type) {
            throw SchemaError(field: "\(path).type", message: "Unsupported value: \"\(type)\"")
        }
    }

    private static func optional(_ json: JSONValue?, path: String) throws(SchemaError) -> StructuralSchema? {
        guard let json else { return nil }
        return try StructuralSchema(json, path: path)
    }

    private static func list(_ json: JSONValue?, path: String) throws(SchemaError) -> [StructuralSchema] {
        var out: [StructuralSchema] = []
        for (i, element) in (json?.arrayValue ?? []).enumerated() { out.append(try StructuralSchema(element, path: "\(path)[\(i)]")) }
        return out
    }

    struct SchemaError: Error, Sendable {
        var field: String
        var message: String
    }

    // MARK: Validation

    /// The value's violations of this schema; `path` names the value in messages (`spec.replicas`).
    func validate(_ value: JSONValue, path: String) -> [FieldError] {
        var errors: [FieldError] = []
        validate(value, path: path, into: &errors)
        return errors
    }

    private static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "boolean"
        case .integer: "integer"
        case .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    private func matchesType(_ value: JSONValue) -> Bool {
        if case .null = value { return nullable }
        if intOrString {
            switch value {
            case .integer, .string: return true
            case .double(let d): return d.rounded() == d
            default: return false
            }
        }
        guard let type else { return true }
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("integer", .integer),
             ("number", .integer), ("number", .double):
            return true
        case ("integer", .double(let d)):
            return d.rounded() == d
        default:
            return false
        }
    }

    private func validate(_ value: JSONValue, path: String, into errors: inout [FieldError]) {
        let errorsBefore = errors.count
        guard matchesType(value) else {
            let found = Self.typeName(value)
            let wanted = intOrString ? "integer or string" : (type ?? "")
            errors.append(.invalid(path, found, "\(path) in body must be of type \(wanted): \"\(found)\""))
            return
        }
        if case .null = value { return }
        if !enumValues.isEmpty && !enumValues.contains(value) {
            errors.append(.notSupported(path, Self.display(value), supported: enumValues.map(Self.display)))
        }
        switch value {
        case .string(let text):
            let length = text.count
            if let maxLength, length > maxLength {
                errors.append(FieldError(.tooLong, field: path, detail: "may not be longer than \(maxLength)"))
            }
            if let minLength, length < minLength {
                errors.append(.invalid(path, text, "\(path) in body should be at least \(minLength) chars long"))
            }
            if let pattern {
                let range = NSRange(text.startIndex..., in: text)
                if pattern.regex.firstMatch(in: text, range: range) == nil {
                    errors.append(.invalid(path, text, "\(path) in body should match '\(pattern.source)'"))
                }
            }
        case .integer, .double:
            let number: Double = switch value {
            case .integer(let i): Double(i)
            case .double(let d): d
            default: 0
            }
            let shown = Self.display(value)
            if let minimum {
                if exclusiveMinimum ? number <= minimum : number < minimum {
                    errors.append(.invalid(path, shown, "\(path) in body should be greater than \(exclusiveMinimum ? "" : "or equal to ")\(Self.format(minimum))"))
                }
            }
            if let maximum {
                if exclusiveMaximum ? number >= maximum : number > maximum {
                    errors.append(.invalid(path, shown, "\(path) in body should be less than \(exclusiveMaximum ? "" : "or equal to ")\(Self.format(maximum))"))
                }
            }
        case .array(let elements):
            if let maxItems, elements.count > maxItems {
                errors.append(FieldError(.tooMany, field: path, detail: "must have at most \(maxItems) items", badValue: String(elements.count)))
            }
            if let minItems, elements.count < minItems {
                errors.append(.invalid(path, String(elements.count), "\(path) in body should have at least \(minItems) items"))
            }
            if uniqueItems {
                for (i, element) in elements.enumerated() where elements[..<i].contains(element) {
                    errors.append(FieldError(.duplicate, field: "\(path)[\(i)]", badValue: Self.display(element)))
                }
            }
            if let items {
                for (i, element) in elements.enumerated() { items.validate(element, path: "\(path)[\(i)]", into: &errors) }
            }
        case .object(let fields):
            for name in required where fields[name] == nil || (fields[name]?.isNull == true && properties[name]?.nullable != true) {
                errors.append(.required(path.isEmpty ? name : "\(path).\(name)"))
            }
            if let maxProperties, fields.count > maxProperties {
                errors.append(FieldError(.tooMany, field: path, detail: "must have at most \(maxProperties) items", badValue: String(fields.count)))
            }
            if let minProperties, fields.count < minProperties {
                errors.append(.invalid(path, String(fields.count), "\(path) in body should have at least \(minProperties) properties"))
            }
            for (name, child) in fields.sorted(by: { $0.key < $1.key }) {
                let childPath = path.isEmpty ? name : "\(path).\(name)"
                if let schema = properties[name] {
                    schema.validate(child, path: childPath, into: &errors)
                } else if let additionalProperties {
                    additionalProperties.validate(child, path: childPath, into: &errors)
                }
            }
            if embeddedResource {
                if (fields["kind"]?.stringValue ?? "").isEmpty { errors.append(.required("\(path).kind", "must not be empty")) }
                if (fields["apiVersion"]?.stringValue ?? "").isEmpty { errors.append(.required("\(path).apiVersion", "must not be empty")) }
            }
        default:
            break
        }
        for branch in allOf { branch.validate(value, path: path, into: &errors) }
        if !anyOf.isEmpty && !anyOf.contains(where: { $0.validate(value, path: path).isEmpty }) {
            errors.append(.invalid(path, Self.display(value), "\(path) in body must match at least one schema in anyOf"))
        }
        if !oneOf.isEmpty && oneOf.filter({ $0.validate(value, path: path).isEmpty }).count != 1 {
            errors.append(.invalid(path, Self.display(value), "\(path) in body must match exactly one schema in oneOf"))
        }
        if let not, not.validate(value, path: path).isEmpty {
            errors.append(.invalid(path, Self.display(value), "\(path) in body should not match the schema in not"))
        }
        // Rules run on values that passed the schema's checks (theirs and their children's): a rule may assume
        // the types its schema declares.
        if errors.count == errorsBefore {
            for rule in rules where !rule.isTransition || rule.optionalOldSelf {
                if let error = rule.check(value, old: nil, path: path) { errors.append(error) }
            }
        }
    }

    /// The transition rules' errors for an update from `old` to `value`: each runs where both the new and the old
    /// value exist, reached through the same object properties or map keys (list items are not correlated).
    func validateTransition(_ value: JSONValue, old: JSONValue, path: String) -> [FieldError] {
        var errors: [FieldError] = []
        validateTransition(value, old: old, path: path, into: &errors)
        return errors
    }

    private func validateTransition(_ value: JSONValue, old: JSONValue, path: String, into errors: inout [FieldError]) {
        for rule in rules where rule.isTransition {
            if let error = rule.check(value, old: old, path: path) { errors.append(error) }
        }
        guard case .object(let fields) = value, case .object(let oldFields) = old else { return }
        for (name, child) in fields.sorted(by: { $0.key < $1.key }) {
            guard let oldChild = oldFields[name], let schema = properties[name] ?? additionalProperties else { continue }
            schema.validateTransition(child, old: oldChild, path: path.isEmpty ? name : "\(path).\(name)", into: &errors)
        }
    }

    private static func display(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): s
        case .integer(let i): String(i)
        case .double(let d): format(d)
        case .bool(let b): String(b)
        case .null: "null"
        default: value.encodedString()
        }
    }

    private static func format(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }

    // MARK: Defaulting and pruning

    /// Fills in `default` values of absent fields, outermost first (a defaulted object gets its own fields'
    /// defaults too), as apiextensions-apiserver does on every write.
    func applyDefaults(_ value: inout JSONValue) {
        switch value {
        case .object(var fields):
            for (name, schema) in properties {
                if fields[name] == nil, let defaultValue = schema.defaultValue { fields[name] = defaultValue }
            }
            for (name, child) in fields {
                var child = child
                if let schema = properties[name] ?? additionalProperties {
                    schema.applyDefaults(&child)
                    fields[name] = child
                }
            }
            value = .object(fields)
        case .array(var elements):
            guard let items else { return }
            for i in elements.indices { items.applyDefaults(&elements[i]) }
            value = .array(elements)
        default:
            break
        }
    }

    /// Drops fields the schema does not declare (unless it preserves unknown fields), keeping `apiVersion`, `kind`
    /// and `metadata` at the root and in embedded resources. Returns the paths of what was dropped.
    @discardableResult
    func prune(_ value: inout JSONValue, path: String = "", isRoot: Bool = false) -> [String] {
        var dropped: [String] = []
        prune(&value, path: path, keepObjectFields: isRoot, dropped: &dropped)
        return dropped
    }

    private func prune(_ value: inout JSONValue, path: String, keepObjectFields: Bool, dropped: inout [String]) {
        switch value {
        case .object(var fields):
            let keepsEverything = preserveUnknownFields || allowsAnyProperty || (type == nil && properties.isEmpty && additionalProperties == nil)
            for (name, child) in fields {
                let childPath = path.isEmpty ? name : "\(path).\(name)"
                if (keepObjectFields || embeddedResource) && ["apiVersion", "kind", "metadata"].contains(name) {
                    if name == "metadata", let schema = properties[name] {
                        var child = child
                        schema.prune(&child, path: childPath, keepObjectFields: false, dropped: &dropped)
                        fields[name] = child
                    }
                    continue
                }
                if let schema = properties[name] ?? additionalProperties {
                    var child = child
                    schema.prune(&child, path: childPath, keepObjectFields: false, dropped: &dropped)
                    fields[name] = child
                } else if !keepsEverything {
                    fields[name] = nil
                    dropped.append(childPath)
                }
            }
            value = .object(fields)
        case .array(var elements):
            guard let items else { return }
            for i in elements.indices {
                items.prune(&elements[i], path: "\(path)[\(i)]", keepObjectFields: false, dropped: &dropped)
            }
            value = .array(elements)
        default:
            break
        }
    }
}
