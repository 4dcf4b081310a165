import KeelsonAPI
import Testing

@Suite("JSON parsing and encoding")
struct JSONParserTests {
    @Test("integers stay integers and fractions stay doubles")
    func numberTypes() throws {
        let value = try JSONParser.parse(#"{"a": 1, "b": -2, "c": 1.5, "d": 1e3, "e": 9007199254740993}"#)
        #expect(value["a"] == .integer(1))
        #expect(value["b"] == .integer(-2))
        #expect(value["c"] == .double(1.5))
        #expect(value["d"] == .double(1000))
        #expect(value["e"] == .integer(9_007_199_254_740_993))
    }

    @Test("strings decode escapes and surrogate pairs")
    func escapes() throws {
        let value = try JSONParser.parse(#"["a\"b\\c\/d\n", "\u00e9\ud83d\ude00", "\ud800x"]"#)
        #expect(value.arrayValue?[0] == .string("a\"b\\c/d\n"))
        #expect(value.arrayValue?[1] == .string("é😀"))
        #expect(value.arrayValue?[2] == .string("\u{FFFD}x"))
    }

    @Test("malformed documents are rejected with a position", arguments: [
        "{", "[1,]", "{\"a\" 1}", "tru", "01", "1.", "\"unterminated", "{\"a\":1} trailing", "", "{'a':1}",
    ])
    func malformed(text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test("nesting deeper than the limit is refused instead of exhausting the stack")
    func depthLimit() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let fine = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(throws: Never.self) { try JSONParser.parse(fine) }
    }

    @Test("duplicate keys are reported with their path")
    func duplicates() throws {
        var parser = JSONParser(Array(#"{"spec": {"replicas": 1, "replicas": 2}}"#.utf8))
        let value = try parser.parseDocument()
        #expect(parser.duplicateKeys == [".spec.replicas"])
        #expect(value["spec"]?["replicas"] == .integer(2))
        var inList = JSONParser(Array(#"{"items": [{"a": 1}, {"name": "x", "name": "y"}]}"#.utf8))
        _ = try inList.parseDocument()
        #expect(inList.duplicateKeys == [".items[1].name"])
    }

    @Test("encoding sorts keys, escapes like Go and round-trips")
    func encoding() throws {
        let value: JSONValue = ["b": [1, 2.5, true, nil], "a": "x<y>&\u{1}"]
        let text = value.encodedString()
        #expect(text == #"{"a":"x\u003cy\u003e\u0026\u0001","b":[1,2.5,true,null]}"#)
        #expect(try JSONParser.parse(text) == value)
    }

    @Test("an omitted key is left out at any depth, with everything around it kept")
    func omittedKey() throws {
        let text = #"""
            {"metadata":{"name":"p","managedFields":[{"manager":"a \"}]\" b","fieldsV1":{"f:spec":{"f:x":{}}},"n":[1,-2.5e3,true,null]}],
             "labels":{"a":"b"}},"items":[{"metadata":{"managedFields":[]}},{"managedFields":{}}],"managedFields":"x"}
            """#
        let value = try JSONParser.parse(Array(text.utf8), omitting: "managedFields")
        #expect(value == ["metadata": ["name": "p", "labels": ["a": "b"]], "items": [["metadata": [:]], [:]]])
        let whole = try JSONParser.parse(text)
        #expect(whole["metadata"]?["managedFields"]?.arrayValue?.first?["manager"] == "a \"}]\" b", "without the option nothing is left out")
    }

    @Test("a malformed omitted value is still an error", arguments: [
        #"{"managedFields":[1,}"#, #"{"managedFields":{"a" 1}}"#, #"{"managedFields":"open}"#, #"{"managedFields":[tru]}"#,
        #"{"managedFields":{"a":1}"#, #"{"managedFields":[1] "b":2}"#,
    ])
    func omittedKeyMalformed(text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(text.utf8), omitting: "managedFields") }
    }
}

@Suite("Timestamps")
struct TimestampTests {
    @Test("formats and parses RFC 3339 in UTC")
    func roundTrip() throws {
        let date = try #require(Timestamp.parse("2024-02-29T23:59:58Z"))
        #expect(Timestamp.format(date) == "2024-02-29T23:59:58Z")
        #expect(Timestamp.parse("2024-02-29T23:59:58+01:00").map(Timestamp.format) == "2024-02-29T22:59:58Z")
        #expect(Timestamp.formatMicro(try #require(Timestamp.parse("1999-12-31T00:00:00.123456Z"))) == "1999-12-31T00:00:00.123456Z")
        #expect(Timestamp.parse("yesterday") == nil)
    }
}
