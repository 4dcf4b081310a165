import KeelsonAPI

/// The JSONPath subset CRDs use in `additionalPrinterColumns` and kubectl's `-o jsonpath` users know: field steps
/// (`.spec.replicas`), indexes (`.spec.ports[0]`), and filters on a field's value
/// (`.status.conditions[?(@.type=="Ready")].status`). Anything else is refused when the definition is read.
struct PrinterColumnPath: Sendable, Equatable {
    enum Step: Sendable, Equatable {
        case field(String)
        case index(Int)
        case filter(field: String, equals: String)
    }

    let steps: [Step]

    init?(_ text: String) {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        if rest.hasPrefix("{") && rest.hasSuffix("}") { rest = rest.dropFirst().dropLast() }
        var steps: [Step] = []
        while !rest.isEmpty {
            if rest.hasPrefix(".") {
                rest = rest.dropFirst()
                let name = rest.prefix { $0 != "." && $0 != "[" }
                guard !name.isEmpty else { return nil }
                steps.append(.field(String(name)))
                rest = rest.dropFirst(name.count)
            } else if rest.hasPrefix("[?(@.") {
                guard let close = rest.range(of: ")]") else { return nil }
                let body = rest[rest.index(rest.startIndex, offsetBy: 5)..<close.lowerBound]
                guard let eq = body.range(of: "==") else { return nil }
                let field = body[..<eq.lowerBound].trimmingCharacters(in: .whitespaces)
                var value = body[eq.upperBound...].trimmingCharacters(in: .whitespaces)
                if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                    value = String(value.dropFirst().dropLast())
                }
                steps.append(.filter(field: field, equals: value))
                rest = rest[close.upperBound...]
            } else if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]"), let index = Int(rest[rest.index(after: rest.startIndex)..<close]) else { return nil }
                steps.append(.index(index))
                rest = rest[rest.index(after: close)...]
            } else {
                return nil
            }
        }
        guard !steps.isEmpty else { return nil }
        self.steps = steps
    }

    /// The first value the path reaches in `object`, or nil.
    func evaluate(_ object: JSONValue) -> JSONValue? {
        var current: [JSONValue] = [object]
        for step in steps {
            var next: [JSONValue] = []
            for value in current {
                switch step {
                case .field(let name):
                    if let child = value[name] { next.append(child) }
                case .index(let i):
                    if let items = value.arrayValue {
                        let position = i >= 0 ? i : items.count + i
                        if items.indices.contains(position) { next.append(items[position]) }
                    }
                case .filter(let field, let wanted):
                    for item in value.arrayValue ?? [] {
                        let actual: String? = switch item[field] {
                        case .string(let s)?: s
                        case .integer(let n)?: String(n)
                        case .bool(let b)?: String(b)
                        default: nil
                        }
                        if actual == wanted { next.append(item) }
                    }
                }
            }
            current = next
        }
        return current.first
    }
}
