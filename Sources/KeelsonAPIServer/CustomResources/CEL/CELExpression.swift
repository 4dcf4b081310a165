import KeelsonAPI

/// A parsed expression of the Common Expression Language subset that CustomResourceDefinitions' validation rules
/// (`x-kubernetes-validations`) use: literals, `self`/`oldSelf` and the variables of macros, field selection,
/// indexing, the usual operators, the conditional, list and map literals, function and method calls.
indirect enum CELExpression: Sendable, Equatable {
    case literal(CELValue)
    case identifier(String)
    case select(CELExpression, String)
    /// `has(a.b)`: whether the field is present, without evaluating it.
    case presence(CELExpression, String)
    case index(CELExpression, CELExpression)
    case call(String, target: CELExpression?, arguments: [CELExpression])
    /// `list.all(x, p)` and the other comprehension macros.
    case comprehension(CELMacro, range: CELExpression, variable: String, body: CELExpression)
    case unary(String, CELExpression)
    case binary(String, CELExpression, CELExpression)
    case conditional(CELExpression, CELExpression, CELExpression)
    case list([CELExpression])
    case map([(CELExpression, CELExpression)])

    static func == (a: CELExpression, b: CELExpression) -> Bool {
        switch (a, b) {
        case (.literal(let x), .literal(let y)): x == y
        case (.identifier(let x), .identifier(let y)): x == y
        case (.select(let x, let f), .select(let y, let g)), (.presence(let x, let f), .presence(let y, let g)): x == y && f == g
        case (.index(let x, let i), .index(let y, let j)): x == y && i == j
        case (.call(let f, let t, let a), .call(let g, let u, let b)): f == g && t == u && a == b
        case (.comprehension(let m, let r, let v, let e), .comprehension(let n, let s, let w, let f)): m == n && r == s && v == w && e == f
        case (.unary(let o, let x), .unary(let p, let y)): o == p && x == y
        case (.binary(let o, let x, let y), .binary(let p, let z, let w)): o == p && x == z && y == w
        case (.conditional(let c, let x, let y), .conditional(let d, let z, let w)): c == d && x == z && y == w
        case (.list(let x), .list(let y)): x == y
        case (.map(let x), .map(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// Whether the expression reads `oldSelf` (a transition rule, checked only on updates).
    var usesOldSelf: Bool {
        switch self {
        case .literal: false
        case .identifier(let name): name == "oldSelf"
        case .select(let e, _), .presence(let e, _), .unary(_, let e): e.usesOldSelf
        case .index(let a, let b), .binary(_, let a, let b): a.usesOldSelf || b.usesOldSelf
        case .call(_, let target, let arguments): (target?.usesOldSelf ?? false) || arguments.contains(where: \.usesOldSelf)
        case .comprehension(_, let range, _, let body): range.usesOldSelf || body.usesOldSelf
        case .conditional(let c, let a, let b): c.usesOldSelf || a.usesOldSelf || b.usesOldSelf
        case .list(let items): items.contains(where: \.usesOldSelf)
        case .map(let entries): entries.contains { $0.0.usesOldSelf || $0.1.usesOldSelf }
        }
    }
}

enum CELMacro: String, Sendable {
    case all, exists, existsOne = "exists_one", map, filter
}

/// A CEL value: JSON's kinds, with integers and doubles kept apart as CEL keeps them.
enum CELValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case list([CELValue])
    case map([String: CELValue])

    init(_ json: JSONValue) {
        switch json {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .integer(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let items): self = .list(items.map(CELValue.init))
        case .object(let fields): self = .map(fields.mapValues(CELValue.init))
        }
    }

    var typeName: String {
        switch self {
        case .null: "null_type"
        case .bool: "bool"
        case .int: "int"
        case .uint: "uint"
        case .double: "double"
        case .string: "string"
        case .list: "list"
        case .map: "map"
        }
    }
}
