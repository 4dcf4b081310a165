/// A parsed `?fieldSelector=`: conjunction of `field=value`, `field==value` and `field!=value` terms.
public struct FieldSelector: Hashable, Sendable {
    public struct Requirement: Hashable, Sendable {
        public var field: String
        public var value: String
        public var negated: Bool
    }

    public var requirements: [Requirement]

    public static let everything = FieldSelector(requirements: [])

    public init(requirements: [Requirement]) { self.requirements = requirements }

    public var isEverything: Bool { requirements.isEmpty }

    /// Parses the string form. Backslash escapes `\,`, `\=` and `\\` are honoured as in apimachinery.
    public static func parse(_ text: String) throws(SelectorParseError) -> FieldSelector {
        if text.trimmingSpaces.isEmpty { return .everything }
        var requirements: [Requirement] = []
        for term in splitUnescaped(text, on: ",") {
            let trimmed = term.trimmingSpaces
            if trimmed.isEmpty { continue }
            if let r = splitOperator(trimmed, "!=") {
                requirements.append(Requirement(field: r.0, value: unescape(r.1), negated: true))
            } else if let r = splitOperator(trimmed, "==") ?? splitOperator(trimmed, "=") {
                requirements.append(Requirement(field: r.0, value: unescape(r.1), negated: false))
            } else {
                throw SelectorParseError(message: "invalid selector: '\(text)'; can't understand '\(trimmed)'")
            }
        }
        return FieldSelector(requirements: requirements)
    }

    /// Whether an object whose selectable fields are `fields` matches. A field the object does not expose never
    /// matches an equality and always matches an inequality, but callers check support first (`unsupportedField`).
    public func matches(_ fields: [String: String]) -> Bool {
        requirements.allSatisfy { r in
            let have = fields[r.field]
            return r.negated ? have != r.value : have == r.value
        }
    }

    /// The first field not in `supported`, for the "field label not supported" error.
    public func unsupportedField(supported: Set<String>) -> String? {
        requirements.first { !supported.contains($0.field) }?.field
    }

    /// The value a requirement pins `field` to (`metadata.name=x`), which lets a lookup skip a scan.
    public func exactValue(for field: String) -> String? {
        requirements.first { $0.field == field && !$0.negated }?.value
    }

    private static func splitUnescaped(_ text: String, on separator: Character) -> [String] {
        var parts: [String] = []
        var current = ""
        var escaped = false
        for c in text {
            if escaped {
                current.append("\\")
                current.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == separator {
                parts.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        parts.append(current)
        return parts
    }

    private static func splitOperator(_ term: String, _ op: String) -> (String, String)? {
        guard let range = term.range(of: op) else { return nil }
        let field = String(term[..<range.lowerBound]).trimmingSpaces
        let value = String(term[range.upperBound...]).trimmingSpaces
        if op == "=" && (field.hasSuffix("!") || value.hasPrefix("=")) { return nil }
        return (field, value)
    }

    private static func unescape(_ value: String) -> String {
        var out = ""
        var escaped = false
        for c in value {
            if escaped {
                out.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        return out
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
