/// A parsed label selector: the string form of `?labelSelector=` and the `matchLabels`/`matchExpressions` form of
/// workload specs both become a list of requirements that must all hold.
public struct LabelSelector: Hashable, Sendable, CustomStringConvertible {
    public enum Operator: String, Hashable, Sendable {
        case equals = "="
        case notEquals = "!="
        case `in` = "in"
        case notIn = "notin"
        case exists = "exists"
        case doesNotExist = "!"
        case greaterThan = "gt"
        case lessThan = "lt"
    }

    public struct Requirement: Hashable, Sendable {
        public var key: String
        public var op: Operator
        public var values: [String]

        public init(key: String, op: Operator, values: [String] = []) {
            self.key = key
            self.op = op
            self.values = values
        }

        public func matches(_ labels: [String: String]) -> Bool {
            let value = labels[key]
            switch op {
            case .equals, .in: return value.map(values.contains) ?? false
            case .notEquals, .notIn: return value.map { !values.contains($0) } ?? true
            case .exists: return value != nil
            case .doesNotExist: return value == nil
            case .greaterThan, .lessThan:
                guard let value, let have = Int64(value), let bound = values.first.flatMap({ Int64($0) }) else { return false }
                return op == .greaterThan ? have > bound : have < bound
            }
        }
    }

    public var requirements: [Requirement]
    /// A selector that matches nothing (a nil `LabelSelector` pointer in Go's `LabelSelectorAsSelector`).
    public var matchesNothing = false

    public static let everything = LabelSelector(requirements: [])
    public static let nothing = LabelSelector(requirements: [], matchesNothing: true)

    public init(requirements: [Requirement], matchesNothing: Bool = false) {
        self.requirements = requirements
        self.matchesNothing = matchesNothing
    }

    public var isEverything: Bool { requirements.isEmpty && !matchesNothing }

    public func matches(_ labels: [String: String]) -> Bool {
        if matchesNothing { return false }
        return requirements.allSatisfy { $0.matches(labels) }
    }

    public var description: String {
        requirements.map { r in
            switch r.op {
            case .equals: return "\(r.key)=\(r.values.first ?? "")"
            case .notEquals: return "\(r.key)!=\(r.values.first ?? "")"
            case .in: return "\(r.key) in (\(r.values.joined(separator: ",")))"
            case .notIn: return "\(r.key) notin (\(r.values.joined(separator: ",")))"
            case .exists: return r.key
            case .doesNotExist: return "!\(r.key)"
            case .greaterThan: return "\(r.key)>\(r.values.first ?? "")"
            case .lessThan: return "\(r.key)<\(r.values.first ?? "")"
            }
        }.joined(separator: ",")
    }
}

/// A selector string or object that cannot be understood; the message is what kube-apiserver says.
public struct SelectorParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension LabelSelector {
    /// Parses the string syntax of `?labelSelector=`: `a=b,c!=d,e in (f,g),h notin (i),j,!k,l>3`.
    public static func parse(_ text: String) throws(SelectorParseError) -> LabelSelector {
        var lexer = SelectorLexer(Array(text.unicodeScalars))
        var requirements: [Requirement] = []
        lexer.skipSpaces()
        if lexer.atEnd { return .everything }
        while true {
            lexer.skipSpaces()
            var negated = false
            if lexer.peek == "!" {
                negated = true
                lexer.advance()
                lexer.skipSpaces()
            }
            let key = lexer.readWord()
            guard !key.isEmpty else { throw SelectorParseError(message: "unable to parse requirement: found '\(lexer.rest)', expected: identifier") }
            try validateLabelKey(key)
            lexer.skipSpaces()
            if negated {
                requirements.append(Requirement(key: key, op: .doesNotExist))
            } else if lexer.atEnd || lexer.peek == "," {
                requirements.append(Requirement(key: key, op: .exists))
            } else if lexer.consume("==") || lexer.consume("=") {
                let value = lexer.readValue()
                try validateLabelValue(value)
                requirements.append(Requirement(key: key, op: .equals, values: [value]))
            } else if lexer.consume("!=") {
                let value = lexer.readValue()
                try validateLabelValue(value)
                requirements.append(Requirement(key: key, op: .notEquals, values: [value]))
            } else if lexer.consume(">") || lexer.consume("<") {
                let op: Operator = lexer.previous == ">" ? .greaterThan : .lessThan
                let value = lexer.readValue()
                guard Int64(value) != nil else {
                    throw SelectorParseError(message: "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer")
                }
                requirements.append(Requirement(key: key, op: op, values: [value]))
            } else {
                let word = lexer.readWord()
                let op: Operator
                switch word {
                case "in": op = .in
                case "notin": op = .notIn
                default: throw SelectorParseError(message: "unable to parse requirement: found '\(word)', expected: in, notin, =, ==, !=, gt, lt")
                }
                lexer.skipSpaces()
                guard lexer.consume("(") else { throw SelectorParseError(message: "unable to parse requirement: found '\(lexer.rest)', expected: '('") }
                var values: [String] = []
                while true {
                    lexer.skipSpaces()
                    let value = lexer.readValue()
                    try validateLabelValue(value)
                    values.append(value)
                    lexer.skipSpaces()
                    if lexer.consume(",") { continue }
                    if lexer.consume(")") { break }
                    throw SelectorParseError(message: "unable to parse requirement: found '\(lexer.rest)', expected: ',' or ')'")
                }
                requirements.append(Requirement(key: key, op: op, values: values.sorted()))
            }
            lexer.skipSpaces()
            if lexer.atEnd { break }
            guard lexer.consume(",") else { throw SelectorParseError(message: "found '\(lexer.rest)', expected: ',' or 'end of string'") }
        }
        return LabelSelector(requirements: requirements)
    }

    /// Converts a `metav1.LabelSelector` object. `nil` selects nothing and `{}` everything, as in
    /// `LabelSelectorAsSelector`.
    public static func from(_ value: JSONValue?) throws(SelectorParseError) -> LabelSelector {
        guard let value, !value.isNull else { return .nothing }
        guard case .object(let o) = value else { throw SelectorParseError(message: "selector must be an object") }
        var requirements: [Requirement] = []
        if let matchLabels = o["matchLabels"]?.objectValue {
            for (key, v) in matchLabels.sorted(by: { $0.key < $1.key }) {
                requirements.append(Requirement(key: key, op: .equals, values: [v.stringValue ?? ""]))
            }
        }
        for expression in o["matchExpressions"]?.arrayValue ?? [] {
            let key = expression["key"]?.stringValue ?? ""
            let values = (expression["values"]?.arrayValue ?? []).compactMap(\.stringValue)
            switch expression["operator"]?.stringValue ?? "" {
            case "In":
                guard !values.isEmpty else { throw SelectorParseError(message: "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty") }
                requirements.append(Requirement(key: key, op: .in, values: values))
            case "NotIn":
                guard !values.isEmpty else { throw SelectorParseError(message: "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty") }
                requirements.append(Requirement(key: key, op: .notIn, values: values))
            case "Exists": requirements.append(Requirement(key: key, op: .exists))
            case "DoesNotExist": requirements.append(Requirement(key: key, op: .doesNotExist))
            case let other: throw SelectorParseError(message: "\"\(other)\" is not a valid label selector operator")
            }
        }
        return LabelSelector(requirements: requirements)
    }

    static func validateLabelKey(_ key: String) throws(SelectorParseError) {
        let errors = NameValidation.qualifiedName(key)
        if let first = errors.first { throw SelectorParseError(message: "key: Invalid value: \"\(key)\": \(first)") }
    }

    static func validateLabelValue(_ value: String) throws(SelectorParseError) {
        let errors = NameValidation.labelValue(value)
        if let first = errors.first { throw SelectorParseError(message: "values[0]: Invalid value: \"\(value)\": \(first)") }
    }
}

/// Character-level reader shared by the label and field selector parsers.
struct SelectorLexer {
    private let scalars: [Unicode.Scalar]
    private var index = 0
    private(set) var previous: Unicode.Scalar?

    init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

    var atEnd: Bool { index >= scalars.count }
    var peek: Unicode.Scalar? { atEnd ? nil : scalars[index] }
    var rest: String { String(String.UnicodeScalarView(scalars[index...])) }

    mutating func advance() {
        previous = scalars[index]
        index += 1
    }

    mutating func skipSpaces() {
        while let c = peek, c == " " || c == "\t" { advance() }
    }

    mutating func consume(_ token: String) -> Bool {
        let tokenScalars = Array(token.unicodeScalars)
        guard index + tokenScalars.count <= scalars.count,
            Array(scalars[index..<(index + tokenScalars.count)]) == tokenScalars
        else { return false }
        for _ in tokenScalars { advance() }
        return true
    }

    /// A key or operator word: everything up to a space, comparison, comma or parenthesis.
    mutating func readWord() -> String {
        var out = String.UnicodeScalarView()
        while let c = peek, !" \t=!,()<>".unicodeScalars.contains(c) {
            out.append(c)
            advance()
        }
        return String(out)
    }

    /// A value: everything up to a comma, a closing parenthesis or a space.
    mutating func readValue() -> String {
        skipSpaces()
        var out = String.UnicodeScalarView()
        while let c = peek, !" \t,)".unicodeScalars.contains(c) {
            out.append(c)
            advance()
        }
        return String(out)
    }
}
