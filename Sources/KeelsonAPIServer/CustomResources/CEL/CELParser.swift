/// Parses a CEL expression (the grammar of the CEL specification, without bytes literals, protobuf message
/// construction or the `.` prefix for absolute names). Errors name the position, as a compile error of a rule.
struct CELParser {
    struct SyntaxError: Error, Sendable, CustomStringConvertible {
        var message: String
        var offset: Int
        var description: String { "Syntax error: \(message) at position \(offset)" }
    }

    private enum Token: Equatable {
        case identifier(String)
        case int(Int64)
        case uint(UInt64)
        case double(Double)
        case string(String)
        case symbol(String)
        case end
    }

    private var tokens: [(token: Token, offset: Int)] = []
    private var position = 0

    static func parse(_ source: String) throws(SyntaxError) -> CELExpression {
        var parser = CELParser()
        parser.tokens = try lex(Array(source.unicodeScalars))
        let expression = try parser.expression()
        guard parser.peek == .end else { throw parser.error("unexpected \(parser.describe(parser.peek))") }
        return expression
    }

    // MARK: Grammar

    private var peek: Token { tokens[position].token }

    private mutating func advance() -> Token {
        let token = tokens[position].token
        if position < tokens.count - 1 { position += 1 }
        return token
    }

    private mutating func accept(_ symbol: String) -> Bool {
        guard peek == .symbol(symbol) else { return false }
        _ = advance()
        return true
    }

    private mutating func expect(_ symbol: String) throws(SyntaxError) {
        guard accept(symbol) else { throw error("expected '\(symbol)', found \(describe(peek))") }
    }

    private func error(_ message: String) -> SyntaxError {
        SyntaxError(message: message, offset: tokens[position].offset)
    }

    private func describe(_ token: Token) -> String {
        switch token {
        case .identifier(let name): "'\(name)'"
        case .int(let i): "'\(i)'"
        case .uint(let u): "'\(u)u'"
        case .double(let d): "'\(d)'"
        case .string: "a string"
        case .symbol(let s): "'\(s)'"
        case .end: "the end of the expression"
        }
    }

    private mutating func expression() throws(SyntaxError) -> CELExpression {
        let condition = try binary(level: 0)
        guard accept("?") else { return condition }
        let then = try binary(level: 0)
        try expect(":")
        let otherwise = try expression()
        return .conditional(condition, then, otherwise)
    }

    /// Binary operators by precedence, loosest first.
    private static let levels: [[String]] = [["||"], ["&&"], ["<", "<=", ">", ">=", "==", "!=", "in"], ["+", "-"], ["*", "/", "%"]]

    private mutating func binary(level: Int) throws(SyntaxError) -> CELExpression {
        guard level < Self.levels.count else { return try unary() }
        var left = try binary(level: level + 1)
        while true {
            let op: String
            switch peek {
            case .symbol(let s) where Self.levels[level].contains(s): op = s
            case .identifier("in") where level == 2: op = "in"
            default: return left
            }
            _ = advance()
            let right = try binary(level: level + 1)
            left = .binary(op, left, right)
        }
    }

    private mutating func unary() throws(SyntaxError) -> CELExpression {
        if accept("!") { return .unary("!", try unary()) }
        if accept("-") {
            switch peek {
            case .int(let i):
                _ = advance()
                return try member(.literal(.int(-i)))
            case .double(let d):
                _ = advance()
                return try member(.literal(.double(-d)))
            default:
                return .unary("-", try unary())
            }
        }
        return try member(try primary())
    }

    private mutating func member(_ start: CELExpression) throws(SyntaxError) -> CELExpression {
        var target = start
        while true {
            if accept(".") {
                guard case .identifier(let name) = advance() else { throw error("expected a field or method name") }
                if accept("(") {
                    let arguments = try list(closing: ")")
                    target = try call(name, target: target, arguments: arguments)
                } else {
                    target = .select(target, name)
                }
            } else if accept("[") {
                let index = try expression()
                try expect("]")
                target = .index(target, index)
            } else {
                return target
            }
        }
    }

    private mutating func call(_ name: String, target: CELExpression?, arguments: [CELExpression]) throws(SyntaxError) -> CELExpression {
        if let target, let macro = CELMacro(rawValue: name) {
            guard arguments.count == 2, case .identifier(let variable) = arguments[0] else {
                throw error("\(name) takes a variable name and an expression")
            }
            return .comprehension(macro, range: target, variable: variable, body: arguments[1])
        }
        if target == nil && name == "has" {
            guard arguments.count == 1, case .select(let operand, let field) = arguments[0] else {
                throw error("invalid argument to has() macro")
            }
            return .presence(operand, field)
        }
        return .call(name, target: target, arguments: arguments)
    }

    private mutating func primary() throws(SyntaxError) -> CELExpression {
        switch advance() {
        case .int(let i): return .literal(.int(i))
        case .uint(let u): return .literal(.uint(u))
        case .double(let d): return .literal(.double(d))
        case .string(let s): return .literal(.string(s))
        case .identifier("true"): return .literal(.bool(true))
        case .identifier("false"): return .literal(.bool(false))
        case .identifier("null"): return .literal(.null)
        case .identifier(let name):
            if accept("(") { return try call(name, target: nil, arguments: try list(closing: ")")) }
            return .identifier(name)
        case .symbol("("):
            let inner = try expression()
            try expect(")")
            return inner
        case .symbol("["):
            return .list(try list(closing: "]"))
        case .symbol("{"):
            var entries: [(CELExpression, CELExpression)] = []
            if accept("}") { return .map(entries) }
            repeat {
                if peek == .symbol("}") { break }
                let key = try expression()
                try expect(":")
                entries.append((key, try expression()))
            } while accept(",")
            try expect("}")
            return .map(entries)
        case let other:
            position = max(0, position - 1)
            throw error("unexpected \(describe(other))")
        }
    }

    /// Comma-separated expressions up to `closing` (a trailing comma allowed, as CEL allows it).
    private mutating func list(closing: String) throws(SyntaxError) -> [CELExpression] {
        var items: [CELExpression] = []
        if accept(closing) { return items }
        repeat {
            if peek == .symbol(closing) { break }
            items.append(try expression())
        } while accept(",")
        try expect(closing)
        return items
    }

    // MARK: Tokens

    private static let symbols = ["||", "&&", "<=", ">=", "==", "!=", "<", ">", "+", "-", "*", "/", "%", "!", "?", ":",
                                  ".", ",", "(", ")", "[", "]", "{", "}"]

    private static func lex(_ scalars: [Unicode.Scalar]) throws(SyntaxError) -> [(token: Token, offset: Int)] {
        var tokens: [(token: Token, offset: Int)] = []
        var i = 0
        func isIdentifierStart(_ c: Unicode.Scalar) -> Bool { c == "_" || (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") }
        func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }
        while i < scalars.count {
            let c = scalars[i]
            let start = i
            if c == " " || c == "\t" || c == "\n" || c == "\r" {
                i += 1
            } else if c == "/" && i + 1 < scalars.count && scalars[i + 1] == "/" {
                while i < scalars.count && scalars[i] != "\n" { i += 1 }
            } else if isIdentifierStart(c) {
                // r"…" and R'…': raw strings, no escapes.
                if (c == "r" || c == "R"), i + 1 < scalars.count, scalars[i + 1] == "\"" || scalars[i + 1] == "'" {
                    i += 1
                    tokens.append((.string(try string(scalars, &i, raw: true)), start))
                    continue
                }
                while i < scalars.count && (isIdentifierStart(scalars[i]) || isDigit(scalars[i])) { i += 1 }
                tokens.append((.identifier(String(String.UnicodeScalarView(scalars[start..<i]))), start))
            } else if isDigit(c) {
                tokens.append((try number(scalars, &i), start))
            } else if c == "\"" || c == "'" {
                tokens.append((.string(try string(scalars, &i, raw: false)), start))
            } else if let symbol = symbols.first(where: { symbol in
                let chars = Array(symbol.unicodeScalars)
                return i + chars.count <= scalars.count && Array(scalars[i..<(i + chars.count)]) == chars
            }) {
                i += symbol.unicodeScalars.count
                tokens.append((.symbol(symbol), start))
            } else {
                throw SyntaxError(message: "unexpected character '\(c)'", offset: i)
            }
        }
        tokens.append((.end, scalars.count))
        return tokens
    }

    private static func number(_ s: [Unicode.Scalar], _ i: inout Int) throws(SyntaxError) -> Token {
        let start = i
        if s[i] == "0", i + 1 < s.count, s[i + 1] == "x" || s[i + 1] == "X" {
            i += 2
            while i < s.count, s[i].properties.isASCIIHexDigit { i += 1 }
            guard let value = Int64(String(String.UnicodeScalarView(s[(start + 2)..<i])), radix: 16) else {
                throw SyntaxError(message: "invalid hexadecimal literal", offset: start)
            }
            if i < s.count, s[i] == "u" || s[i] == "U" { i += 1; return .uint(UInt64(value)) }
            return .int(value)
        }
        var isDouble = false
        while i < s.count, s[i] >= "0" && s[i] <= "9" { i += 1 }
        if i + 1 < s.count, s[i] == ".", s[i + 1] >= "0" && s[i + 1] <= "9" {
            isDouble = true
            i += 1
            while i < s.count, s[i] >= "0" && s[i] <= "9" { i += 1 }
        }
        if i < s.count, s[i] == "e" || s[i] == "E" {
            isDouble = true
            i += 1
            if i < s.count, s[i] == "+" || s[i] == "-" { i += 1 }
            while i < s.count, s[i] >= "0" && s[i] <= "9" { i += 1 }
        }
        let text = String(String.UnicodeScalarView(s[start..<i]))
        if isDouble {
            guard let value = Double(text) else { throw SyntaxError(message: "invalid number '\(text)'", offset: start) }
            return .double(value)
        }
        if i < s.count, s[i] == "u" || s[i] == "U" {
            i += 1
            guard let value = UInt64(text) else { throw SyntaxError(message: "invalid uint literal '\(text)'", offset: start) }
            return .uint(value)
        }
        guard let value = Int64(text) else { throw SyntaxError(message: "invalid int literal '\(text)'", offset: start) }
        return .int(value)
    }

    private static func string(_ s: [Unicode.Scalar], _ i: inout Int, raw: Bool) throws(SyntaxError) -> String {
        let start = i
        let quote = s[i]
        let triple = i + 2 < s.count && s[i + 1] == quote && s[i + 2] == quote
        i += triple ? 3 : 1
        var out = String.UnicodeScalarView()
        while true {
            guard i < s.count else { throw SyntaxError(message: "unterminated string", offset: start) }
            let c = s[i]
            if triple {
                if c == quote, i + 2 < s.count, s[i + 1] == quote, s[i + 2] == quote { i += 3; break }
            } else if c == quote {
                i += 1
                break
            } else if c == "\n" {
                throw SyntaxError(message: "unterminated string", offset: start)
            }
            if c == "\\" && !raw {
                guard i + 1 < s.count else { throw SyntaxError(message: "unterminated string", offset: start) }
                let e = s[i + 1]
                i += 2
                switch e {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "\\", "\"", "'", "`", "?": out.append(e)
                case "u", "U":
                    let count = e == "u" ? 4 : 8
                    guard i + count <= s.count, let code = UInt32(String(String.UnicodeScalarView(s[i..<(i + count)])), radix: 16),
                        let scalar = Unicode.Scalar(code)
                    else { throw SyntaxError(message: "invalid escape", offset: i) }
                    out.append(scalar)
                    i += count
                default: throw SyntaxError(message: "invalid escape '\\\(e)'", offset: i - 2)
                }
                continue
            }
            out.append(c)
            i += 1
        }
        return String(out)
    }
}
