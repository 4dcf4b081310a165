import KeelsonAPI

/// One entry of a schema node's `x-kubernetes-validations`, compiled when the definition is read: a CEL rule that
/// must hold for the node's value (`self`) and, for a transition rule, its value before an update (`oldSelf`).
struct ValidationRule: Sendable {
    let rule: String
    let expression: CELExpression
    let message: String?
    let messageExpression: CELExpression?
    /// A path relative to the node (`.spec.replicas`) that errors name instead of the node itself.
    let fieldPath: String?
    let reason: FieldError.ErrorType
    /// A transition rule with `optionalOldSelf` also runs on creates, with `oldSelf` absent (null here).
    let optionalOldSelf: Bool
    let isTransition: Bool

    /// Reads one entry of a node's list (`path` names it in errors); a rule that does not compile is an error.
    init(_ json: JSONValue, path: String) throws(StructuralSchema.SchemaError) {
        guard let rule = json["rule"]?.stringValue, !rule.isEmpty else {
            throw StructuralSchema.SchemaError(field: "\(path).rule", message: "Required value")
        }
        self.rule = rule
        do {
            expression = try CELParser.parse(rule)
        } catch {
            throw StructuralSchema.SchemaError(field: "\(path).rule", message: "Invalid value: \"\(rule)\": compilation failed: \(error)")
        }
        message = json["message"]?.stringValue
        if let source = json["messageExpression"]?.stringValue, !source.isEmpty {
            do {
                messageExpression = try CELParser.parse(source)
            } catch {
                throw StructuralSchema.SchemaError(field: "\(path).messageExpression",
                    message: "Invalid value: \"\(source)\": compilation failed: \(error)")
            }
        } else {
            messageExpression = nil
        }
        fieldPath = json["fieldPath"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        switch json["reason"]?.stringValue ?? "FieldValueInvalid" {
        case "FieldValueInvalid": reason = .invalid
        case "FieldValueForbidden": reason = .forbidden
        case "FieldValueRequired": reason = .required
        case "FieldValueDuplicate": reason = .duplicate
        case let other:
            throw StructuralSchema.SchemaError(field: "\(path).reason", message: "Unsupported value: \"\(other)\": supported values: "
                + "\"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\"")
        }
        optionalOldSelf = json["optionalOldSelf"]?.boolValue ?? false
        isTransition = expression.usesOldSelf || (messageExpression?.usesOldSelf ?? false)
    }

    /// The error of this rule for `value` at `path`, or nil when it holds. An evaluation error fails the rule.
    func check(_ value: JSONValue, old: JSONValue?, path: String) -> FieldError? {
        var variables: [String: CELValue] = ["self": CELValue(value)]
        if isTransition { variables["oldSelf"] = old.map(CELValue.init) ?? .null }
        var evaluator = CELEvaluator(variables: variables)
        let detail: String
        do {
            guard case .bool(let holds) = try evaluator.evaluate(expression) else {
                return error("rule did not evaluate to a bool: \(rule)", value: value, path: path)
            }
            if holds { return nil }
            detail = failureMessage(&evaluator) ?? message ?? "failed rule: \(rule)"
        } catch {
            detail = error.message
        }
        return self.error(detail, value: value, path: path)
    }

    /// `messageExpression`'s string, when it has one and it evaluates to a non-empty string.
    private func failureMessage(_ evaluator: inout CELEvaluator) -> String? {
        guard let messageExpression, case .string(let text)? = try? evaluator.evaluate(messageExpression), !text.isEmpty else { return nil }
        return text
    }

    private func error(_ detail: String, value: JSONValue, path: String) -> FieldError {
        var field = path
        if let fieldPath {
            let relative = fieldPath.hasPrefix(".") ? String(fieldPath.dropFirst()) : fieldPath
            field = path.isEmpty ? relative : path + "." + relative
        }
        switch reason {
        case .invalid: return .invalid(field, Self.typeName(value), detail)
        case .required: return .required(field, detail)
        case .forbidden: return .forbidden(field, detail)
        default: return FieldError(reason, field: field, detail: detail, badValue: Self.typeName(value))
        }
    }

    /// What Kubernetes shows as the bad value of a failed rule: the kind of the value.
    private static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .object: "object"
        case .array: "array"
        case .string: "string"
        case .integer: "integer"
        case .double: "number"
        case .bool: "boolean"
        case .null: "null"
        }
    }
}
