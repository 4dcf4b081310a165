import KeelsonAPI

/// Small helpers the per-kind strategies share to fill defaults without overwriting what a client sent.
extension JSONValue {
    /// Sets `value` at `path` unless something is already there.
    mutating func setDefault(_ value: JSONValue, at path: [String]) {
        if self.value(at: path) == nil || self.value(at: path) == .null { setValue(value, at: path) }
    }

    /// Applies `body` to every element of the list at `path`.
    mutating func updateEach(at path: [String], _ body: (inout JSONValue) -> Void) {
        guard case .array(var items)? = value(at: path) else { return }
        for i in items.indices { body(&items[i]) }
        setValue(.array(items), at: path)
    }

    /// Applies `body` to the object at `path` if it is there.
    mutating func update(at path: [String], _ body: (inout JSONValue) -> Void) {
        guard var child = value(at: path), case .object = child else { return }
        body(&child)
        setValue(child, at: path)
    }
}

/// Validation helpers that produce kube-apiserver's field errors.
enum Validation {
    static func required(_ object: JSONValue, _ path: [String], _ field: String) -> [FieldError] {
        switch object.value(at: path) {
        case nil, .null?: return [.required(field, "")]
        case .string(let s)? where s.isEmpty: return [.required(field, "")]
        default: return []
        }
    }

    static func nonNegative(_ object: JSONValue, _ path: [String], _ field: String) -> [FieldError] {
        guard let value = object.value(at: path) else { return [] }
        guard let int = value.intValue else { return [.invalid(field, "\(value)", "must be an integer")] }
        if int < 0 { return [.invalid(field, String(int), "must be greater than or equal to 0")] }
        return []
    }

    static func oneOf(_ object: JSONValue, _ path: [String], _ field: String, _ allowed: [String]) -> [FieldError] {
        guard let value = object.value(at: path)?.stringValue else { return [] }
        return allowed.contains(value) ? [] : [.notSupported(field, value, supported: allowed)]
    }

    static func immutable(_ new: JSONValue, _ old: JSONValue, _ path: [String], _ field: String) -> [FieldError] {
        new.value(at: path) == old.value(at: path) ? [] : [.forbidden(field, "field is immutable")]
    }

    static func labelsMatchSelector(_ object: JSONValue, selectorPath: [String], labelsPath: [String], field: String) -> [FieldError] {
        guard let selectorValue = object.value(at: selectorPath), !selectorValue.isNull else {
            return [.required(selectorPath.joined(separator: "."), "")]
        }
        guard let selector = try? LabelSelector.from(selectorValue) else {
            return [.invalid(selectorPath.joined(separator: "."), "", "invalid label selector")]
        }
        if selector.isEverything {
            return [.invalid(selectorPath.joined(separator: "."), "", "empty selector is invalid for deployment")]
        }
        let labels = (object.value(at: labelsPath)?.objectValue ?? [:]).compactMapValues(\.stringValue)
        if !selector.matches(labels) {
            let rendered = labels.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " ")
            return [.invalid(field, "map[\(rendered)]", "`selector` does not match template `labels`")]
        }
        return []
    }
}
