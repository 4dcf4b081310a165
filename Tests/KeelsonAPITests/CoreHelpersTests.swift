import KeelsonAPI
import Testing

@Suite("Core helpers")
struct CoreHelpersTests {
    @Test("Go durations", arguments: [("40s", Duration.seconds(40)), ("5m", .seconds(300)), ("1m30s", .seconds(90)),
                                      ("500ms", .milliseconds(500)), ("1.5h", .seconds(5400)), ("0", .zero)])
    func durations(text: String, expected: Duration) {
        #expect(GoDuration.parse(text) == expected)
    }

    @Test("malformed durations are refused", arguments: ["", "40", "s", "4x", "1m-3s"])
    func badDurations(text: String) {
        #expect(GoDuration.parse(text) == nil)
    }

    @Test("tolerations match taints by key, value, operator and effect")
    func tolerations() {
        let taint: JSONValue = ["key": "dedicated", "value": "gpu", "effect": "NoSchedule"]
        #expect(Taints.tolerates(["key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"], taint))
        #expect(Taints.tolerates(["key": "dedicated", "value": "gpu"], taint), "Equal is the default operator; no effect means any")
        #expect(Taints.tolerates(["key": "dedicated", "operator": "Exists"], taint))
        #expect(Taints.tolerates(["operator": "Exists"], taint), "an empty key with Exists tolerates everything")
        #expect(!Taints.tolerates(["key": "dedicated", "value": "cpu"], taint))
        #expect(!Taints.tolerates(["key": "dedicated", "operator": "Exists", "effect": "NoExecute"], taint))
        #expect(!Taints.tolerates(["key": "other", "operator": "Exists"], taint))
        #expect(!Taints.tolerates(["value": "gpu"], taint), "an empty key needs Exists")
    }

    @Test("IPv4 ranges parse, contain and format")
    func ranges() throws {
        let range = try #require(IPv4Range("10.43.7.9/16"))
        #expect(range.description == "10.43.0.0/16")
        #expect(range.size == 65_536)
        #expect(range.contains(IPv4Range.parse("10.43.255.255")!))
        #expect(!range.contains(IPv4Range.parse("10.44.0.0")!))
        #expect(IPv4Range("10.0.0.0/33") == nil)
        #expect(IPv4Range.parse("10.01.0.1") == nil)
    }
}
