import Foundation

/// Evaluates a `CELExpression` against variables (`self`, `oldSelf`), with CEL's semantics where validation rules
/// depend on them: no implicit conversions except between numbers in comparisons, errors for missing fields and
/// overflow, `&&`/`||` that absorb an error when the other side decides the result, and a bound on the work one
/// evaluation may do (a rule is not allowed to make the API server spin).
struct CELEvaluator {
    struct EvaluationError: Error, Sendable, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// The most steps (nodes visited, items iterated) one evaluation may take.
    static let stepLimit = 1_000_000

    var variables: [String: CELValue]
    private var steps = 0

    init(variables: [String: CELValue]) {
        self.variables = variables
    }

    mutating func evaluate(_ expression: CELExpression) throws(EvaluationError) -> CELValue {
        steps += 1
        guard steps <= Self.stepLimit else { throw EvaluationError(message: "operation cancelled: actual cost limit exceeded") }
        switch expression {
        case .literal(let value):
            return value
        case .identifier(let name):
            guard let value = variables[name] else { throw EvaluationError(message: "undeclared reference to '\(name)'") }
            return value
        case .select(let operand, let field):
            guard case .map(let fields) = try evaluate(operand) else { throw EvaluationError(message: "no such key: \(field)") }
            guard let value = fields[field] else { throw EvaluationError(message: "no such key: \(field)") }
            return value
        case .presence(let operand, let field):
            guard case .map(let fields) = try evaluate(operand) else {
                throw EvaluationError(message: "invalid type for field selection")
            }
            return .bool(fields[field] != nil)
        case .index(let operand, let indexExpression):
            let container = try evaluate(operand)
            let index = try evaluate(indexExpression)
            switch (container, index) {
            case (.list(let items), .int(let i)):
                guard i >= 0 && i < items.count else { throw EvaluationError(message: "index out of bounds: \(i)") }
                return items[Int(i)]
            case (.list(let items), .uint(let i)):
                guard i < items.count else { throw EvaluationError(message: "index out of bounds: \(i)") }
                return items[Int(i)]
            case (.map(let fields), .string(let key)):
                guard let value = fields[key] else { throw EvaluationError(message: "no such key: \(key)") }
                return value
            default:
                throw EvaluationError(message: "no such overload: \(container.typeName)[\(index.typeName)]")
            }
        case .unary("!", let operand):
            guard case .bool(let b) = try evaluate(operand) else { throw EvaluationError(message: "no such overload: !_") }
            return .bool(!b)
        case .unary(_, let operand):
            switch try evaluate(operand) {
            case .int(let i):
                guard i != .min else { throw EvaluationError(message: "integer overflow") }
                return .int(-i)
            case .double(let d): return .double(-d)
            case let other: throw EvaluationError(message: "no such overload: -\(other.typeName)")
            }
        case .binary("&&", let left, let right):
            return try logical(left, right, deciding: false)
        case .binary("||", let left, let right):
            return try logical(left, right, deciding: true)
        case .binary(let op, let left, let right):
            return try Self.binary(op, try evaluate(left), try evaluate(right))
        case .conditional(let condition, let then, let otherwise):
            guard case .bool(let b) = try evaluate(condition) else { throw EvaluationError(message: "no such overload: _?_:_") }
            return try evaluate(b ? then : otherwise)
        case .list(let items):
            var values: [CELValue] = []
            for item in items { values.append(try evaluate(item)) }
            return .list(values)
        case .map(let entries):
            var fields: [String: CELValue] = [:]
            for (keyExpression, valueExpression) in entries {
                guard case .string(let key) = try evaluate(keyExpression) else {
                    throw EvaluationError(message: "map keys other than strings are not supported")
                }
                fields[key] = try evaluate(valueExpression)
            }
            return .map(fields)
        case .comprehension(let macro, let rangeExpression, let variable, let body):
            return try comprehension(macro, over: try evaluate(rangeExpression), variable: variable, body: body)
        case .call(let name, let target, let arguments):
            var values: [CELValue] = []
            for argument in arguments { values.append(try evaluate(argument)) }
            return try Self.call(name, target: try target.map { (t) throws(EvaluationError) in try evaluate(t) }, arguments: values)
        }
    }

    /// `&&` (deciding false) and `||` (deciding true): the deciding value on either side wins even when the other
    /// side is an error, as CEL's commutative logic does.
    private mutating func logical(_ left: CELExpression, _ right: CELExpression, deciding: Bool) throws(EvaluationError) -> CELValue {
        var firstError: EvaluationError?
        for side in [left, right] {
            do throws(EvaluationError) {
                guard case .bool(let b) = try evaluate(side) else {
                    throw EvaluationError(message: "no such overload: \(deciding ? "_||_" : "_&&_")")
                }
                if b == deciding { return .bool(deciding) }
            } catch {
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
        return .bool(!deciding)
    }

    private mutating func comprehension(_ macro: CELMacro, over range: CELValue, variable: String, body: CELExpression) throws(EvaluationError) -> CELValue {
        let elements: [CELValue]
        switch range {
        case .list(let items): elements = items
        case .map(let fields): elements = fields.keys.sorted().map(CELValue.string)
        default: throw EvaluationError(message: "\(macro.rawValue)() needs a list or a map, not \(range.typeName)")
        }
        let saved = variables[variable]
        defer { variables[variable] = saved }
        var results: [CELValue] = []
        var count = 0
        var firstError: EvaluationError?
        for element in elements {
            steps += 1
            variables[variable] = element
            switch macro {
            case .map:
                results.append(try evaluate(body))
            case .filter:
                guard case .bool(let keep) = try evaluate(body) else { throw EvaluationError(message: "filter() needs a bool predicate") }
                if keep { results.append(element) }
            case .all, .exists, .existsOne:
                do throws(EvaluationError) {
                    guard case .bool(let b) = try evaluate(body) else {
                        throw EvaluationError(message: "\(macro.rawValue)() needs a bool predicate")
                    }
                    if macro == .all && !b { return .bool(false) }
                    if macro == .exists && b { return .bool(true) }
                    if b { count += 1 }
                } catch {
                    if macro == .existsOne { throw error }
                    firstError = firstError ?? error
                }
            }
        }
        switch macro {
        case .map, .filter: return .list(results)
        case .existsOne: return .bool(count == 1)
        case .all, .exists:
            if let firstError { throw firstError }
            return .bool(macro == .all)
        }
    }

    // MARK: Operators

    private static func binary(_ op: String, _ a: CELValue, _ b: CELValue) throws(EvaluationError) -> CELValue {
        switch op {
        case "==": return .bool(try equal(a, b))
        case "!=": return .bool(!(try equal(a, b)))
        case "<", "<=", ">", ">=":
            let order = try compare(a, b, op)
            switch op {
            case "<": return .bool(order < 0)
            case "<=": return .bool(order <= 0)
            case ">": return .bool(order > 0)
            default: return .bool(order >= 0)
            }
        case "in":
            switch b {
            case .list(let items):
                for item in items where (try? equal(a, item)) == true { return .bool(true) }
                return .bool(false)
            case .map(let fields):
                guard case .string(let key) = a else { return .bool(false) }
                return .bool(fields[key] != nil)
            default: throw EvaluationError(message: "no such overload: \(a.typeName) in \(b.typeName)")
            }
        default:
            return try arithmetic(op, a, b)
        }
    }

    private static func arithmetic(_ op: String, _ a: CELValue, _ b: CELValue) throws(EvaluationError) -> CELValue {
        switch (a, b) {
        case (.int(let x), .int(let y)):
            return .int(try integer(op, x, y, type: "int"))
        case (.uint(let x), .uint(let y)):
            return .uint(try integer(op, x, y, type: "uint"))
        case (.double(let x), .double(let y)):
            switch op {
            case "+": return .double(x + y)
            case "-": return .double(x - y)
            case "*": return .double(x * y)
            case "/": return .double(x / y)
            default: throw EvaluationError(message: "no such overload: double \(op) double")
            }
        case (.string(let x), .string(let y)) where op == "+":
            return .string(x + y)
        case (.list(let x), .list(let y)) where op == "+":
            return .list(x + y)
        default:
            throw EvaluationError(message: "no such overload: \(a.typeName) \(op) \(b.typeName)")
        }
    }

    /// Integer arithmetic with CEL's errors for overflow and for dividing by zero.
    private static func integer<T: FixedWidthInteger>(_ op: String, _ x: T, _ y: T, type: String) throws(EvaluationError) -> T {
        let (value, overflow): (T, Bool)
        switch op {
        case "+": (value, overflow) = x.addingReportingOverflow(y)
        case "-": (value, overflow) = x.subtractingReportingOverflow(y)
        case "*": (value, overflow) = x.multipliedReportingOverflow(by: y)
        case "/", "%":
            guard y != 0 else { throw EvaluationError(message: op == "/" ? "division by zero" : "modulus by zero") }
            (value, overflow) = op == "/" ? x.dividedReportingOverflow(by: y) : x.remainderReportingOverflow(dividingBy: y)
        default: throw EvaluationError(message: "no such overload: \(type) \(op) \(type)")
        }
        guard !overflow else { throw EvaluationError(message: "\(type == "int" ? "integer" : "unsigned integer") overflow") }
        return value
    }

    /// Numbers of different kinds compare by value (CEL's heterogeneous numeric equality); other kinds must match.
    static func equal(_ a: CELValue, _ b: CELValue) throws(EvaluationError) -> Bool {
        if let x = numeric(a), let y = numeric(b) { return x == y }
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.list(let x), .list(let y)):
            guard x.count == y.count else { return false }
            for (p, q) in zip(x, y) where !(try equal(p, q)) { return false }
            return true
        case (.map(let x), .map(let y)):
            guard x.count == y.count else { return false }
            for (key, value) in x {
                guard let other = y[key], try equal(value, other) else { return false }
            }
            return true
        default:
            return false
        }
    }

    private static func numeric(_ value: CELValue) -> Double? {
        switch value {
        case .int(let i): Double(i)
        case .uint(let u): Double(u)
        case .double(let d): d
        default: nil
        }
    }

    private static func compare(_ a: CELValue, _ b: CELValue, _ op: String) throws(EvaluationError) -> Int {
        if case .int(let x) = a, case .int(let y) = b { return x < y ? -1 : (x == y ? 0 : 1) }
        if let x = numeric(a), let y = numeric(b) { return x < y ? -1 : (x == y ? 0 : 1) }
        switch (a, b) {
        case (.string(let x), .string(let y)): return x < y ? -1 : (x == y ? 0 : 1)
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (!x ? -1 : 1)
        default: throw EvaluationError(message: "no such overload: \(a.typeName) \(op) \(b.typeName)")
        }
    }

    // MARK: Functions

    private static func call(_ name: String, target: CELValue?, arguments: [CELValue]) throws(EvaluationError) -> CELValue {
        switch (name, target, arguments.count) {
        case ("size", nil, 1): return try size(arguments[0])
        case ("size", let value?, 0): return try size(value)
        case ("int", nil, 1):
            switch arguments[0] {
            case .int: return arguments[0]
            case .uint(let u):
                guard u <= UInt64(Int64.max) else { throw EvaluationError(message: "integer overflow") }
                return .int(Int64(u))
            case .double(let d):
                guard d.isFinite, d >= -9.223372036854775808e18, d < 9.223372036854775808e18 else { throw EvaluationError(message: "integer overflow") }
                return .int(Int64(d))
            case .string(let s):
                guard let i = Int64(s) else { throw EvaluationError(message: "cannot convert '\(s)' to int") }
                return .int(i)
            default: break
            }
        case ("double", nil, 1):
            if let d = numeric(arguments[0]) { return .double(d) }
            if case .string(let s) = arguments[0], let d = Double(s) { return .double(d) }
        case ("string", nil, 1):
            switch arguments[0] {
            case .string: return arguments[0]
            case .int(let i): return .string(String(i))
            case .uint(let u): return .string(String(u))
            case .double(let d): return .string(String(d))
            case .bool(let b): return .string(String(b))
            default: break
            }
        case ("startsWith", .string(let s)?, 1):
            if case .string(let prefix) = arguments[0] { return .bool(s.hasPrefix(prefix)) }
        case ("endsWith", .string(let s)?, 1):
            if case .string(let suffix) = arguments[0] { return .bool(s.hasSuffix(suffix)) }
        case ("contains", .string(let s)?, 1):
            if case .string(let part) = arguments[0] { return .bool(part.isEmpty || s.contains(part)) }
        case ("matches", let receiver, let count) where (receiver != nil && count == 1) || (receiver == nil && count == 2):
            let values = receiver.map { [$0] + arguments } ?? arguments
            guard case .string(let subject) = values[0], case .string(let pattern) = values[1] else { break }
            guard let regex = try? NSRegularExpression(pattern: pattern) else {
                throw EvaluationError(message: "invalid regular expression '\(pattern)'")
            }
            return .bool(regex.firstMatch(in: subject, range: NSRange(subject.startIndex..., in: subject)) != nil)
        case ("lowerAscii", .string(let s)?, 0): return .string(String(s.map { $0.isASCII ? Character($0.lowercased()) : $0 }))
        case ("upperAscii", .string(let s)?, 0): return .string(String(s.map { $0.isASCII ? Character($0.uppercased()) : $0 }))
        case ("trim", .string(let s)?, 0): return .string(s.trimmingCharacters(in: .whitespacesAndNewlines))
        case ("split", .string(let s)?, 1):
            if case .string(let separator) = arguments[0], !separator.isEmpty {
                return .list(s.components(separatedBy: separator).map(CELValue.string))
            }
        case ("indexOf", .string(let s)?, 1):
            if case .string(let part) = arguments[0] {
                guard let range = s.range(of: part) else { return .int(-1) }
                return .int(Int64(s.distance(from: s.startIndex, to: range.lowerBound)))
            }
        case ("join", .list(let items)?, 0), ("join", .list(let items)?, 1):
            var separator = ""
            if arguments.count == 1, case .string(let given) = arguments[0] { separator = given }
            var parts: [String] = []
            for item in items {
                guard case .string(let text) = item else { throw EvaluationError(message: "join() needs a list of strings") }
                parts.append(text)
            }
            return .string(parts.joined(separator: separator))
        case ("isSorted", .list(let items)?, 0):
            for (a, b) in zip(items, items.dropFirst()) where try compare(a, b, "<=") > 0 { return .bool(false) }
            return .bool(true)
        default:
            break
        }
        let receiver = target.map { "\($0.typeName)." } ?? ""
        throw EvaluationError(message: "found no matching overload for '\(receiver)\(name)' applied to (\(arguments.map(\.typeName).joined(separator: ", ")))")
    }

    private static func size(_ value: CELValue) throws(EvaluationError) -> CELValue {
        switch value {
        case .string(let s): return .int(Int64(s.unicodeScalars.count))
        case .list(let items): return .int(Int64(items.count))
        case .map(let fields): return .int(Int64(fields.count))
        default: throw EvaluationError(message: "found no matching overload for 'size' applied to (\(value.typeName))")
        }
    }
}
