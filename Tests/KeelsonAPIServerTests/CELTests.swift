import KeelsonAPI
import Testing

@testable import KeelsonAPIServer

@Suite("CEL validation rules")
struct CELTests {
    /// The value of `rule` with `self` (and `oldSelf`) bound, or the error's message.
    static func run(_ rule: String, self value: JSONValue = .null, old: JSONValue? = nil) throws -> CELValue {
        var variables: [String: CELValue] = ["self": CELValue(value)]
        if let old { variables["oldSelf"] = CELValue(old) }
        var evaluator = CELEvaluator(variables: variables)
        return try evaluator.evaluate(try CELParser.parse(rule))
    }

    static func holds(_ rule: String, _ value: JSONValue, old: JSONValue? = nil) throws -> Bool {
        try run(rule, self: value, old: old) == .bool(true)
    }

    @Test("operators, precedence and literals as the CEL specification defines them")
    func operators() throws {
        #expect(try Self.run("1 + 2 * 3 - 4 / 2 % 3") == .int(5))
        #expect(try Self.run("-(3 - 5)") == .int(2))
        #expect(try Self.run("2.5 * 2.0") == .double(5))
        #expect(try Self.run("3u + 4u") == .uint(7))
        #expect(try Self.run("0x10 == 16 && 1 < 2.5 && 'a' + \"b\" == 'ab'") == .bool(true))
        #expect(try Self.run("true ? 'yes' : 'no'") == .string("yes"))
        #expect(try Self.run("1 in [1, 2] && 'k' in {'k': 1} && !(3 in [1, 2])") == .bool(true))
        #expect(try Self.run("[1, 2] + [3] == [1, 2, 3] && {'a': 1} == {'a': 1.0}") == .bool(true))
        #expect(try Self.run(#"r'\d' == '\\d' && '''a'b''' == "a'b" && '\u00e9' == 'é'"#) == .bool(true))
        #expect(throws: CELEvaluator.EvaluationError.self) { try Self.run("9223372036854775807 + 1") }
        #expect(throws: CELEvaluator.EvaluationError.self) { try Self.run("1 / 0") }
        #expect(throws: CELEvaluator.EvaluationError.self, "no implicit conversion between int and string") { try Self.run("1 + '1'") }
    }

    @Test("fields, has(), indexing, functions and macros over a custom object's values")
    func objects() throws {
        let spec: JSONValue = ["replicas": 3, "maxReplicas": 5, "name": "web-1", "ports": [80, 443],
                               "labels": ["app": "web"], "items": [["name": "a", "size": 1], ["name": "b", "size": 2]]]
        #expect(try Self.holds("self.replicas <= self.maxReplicas", spec))
        #expect(try Self.holds("has(self.labels) && !has(self.missing)", spec))
        #expect(try Self.holds("self.ports[1] == 443 && self.labels['app'] == 'web' && size(self.ports) == 2 && self.items.size() == 2", spec))
        #expect(try Self.holds("self.name.startsWith('web') && self.name.endsWith('-1') && self.name.contains('b-') && self.name.matches('^[a-z]+-[0-9]$')", spec))
        #expect(try Self.holds("self.items.all(i, i.size > 0) && self.items.exists(i, i.name == 'b') && self.items.exists_one(i, i.size == 2)", spec))
        #expect(try Self.run("self.items.map(i, i.name)", self: spec) == .list([.string("a"), .string("b")]))
        #expect(try Self.run("self.ports.filter(p, p > 100)", self: spec) == .list([.int(443)]))
        #expect(try Self.holds("self.labels.all(k, k.size() < 10) && 'web-1'.split('-') == ['web', '1'] && ['a', 'b'].join(',') == 'a,b'", spec))
        #expect(try Self.holds("int('42') == 42 && string(7) == '7' && double(2) == 2.0 && 'AbC'.lowerAscii() == 'abc'", spec))
        // A missing field is an error, absorbed by || when the other side is true (CEL's commutative logic).
        #expect(throws: CELEvaluator.EvaluationError.self) { try Self.run("self.missing > 1", self: spec) }
        #expect(try Self.holds("self.missing > 1 || true", spec))
        #expect(try Self.run("false && self.missing", self: spec) == .bool(false))
    }

    @Test("transition rules see oldSelf")
    func transitions() throws {
        #expect(try Self.holds("self == oldSelf", "a", old: "a"))
        #expect(try !Self.holds("self >= oldSelf", 1, old: 2))
        #expect(try CELParser.parse("self == oldSelf").usesOldSelf)
        #expect(try !CELParser.parse("self.x == 1").usesOldSelf)
    }

    @Test("syntax errors name their position; unknown functions fail at evaluation")
    func errors() throws {
        #expect(throws: CELParser.SyntaxError.self) { try CELParser.parse("self.replicas <") }
        #expect(throws: CELParser.SyntaxError.self) { try CELParser.parse("self..x") }
        #expect(throws: CELParser.SyntaxError.self) { try CELParser.parse("'unterminated") }
        #expect(throws: CELParser.SyntaxError.self) { try CELParser.parse("has(self)") }
        do {
            _ = try CELParser.parse("1 + * 2")
            Issue.record("no error")
        } catch {
            #expect(error.offset == 4 && error.description.contains("position 4"), "\(error)")
        }
        #expect(throws: CELEvaluator.EvaluationError.self) { try Self.run("self.nosuch()", self: "x") }
    }
}
