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

    @Test("byte search finds the first occurrence, at the edges and in slices, like the generic search")
    func byteSearch() {
        let text = Array(#"{"a":"nodeName","b":{"nodeName":"n1"}}"#.utf8)
        let needle = Array(#""nodeName":""#.utf8)
        #expect(text.firstIndex(ofBytes: needle) == text.firstRange(of: needle)?.lowerBound)
        #expect(text.firstIndex(ofBytes: needle) == 21)
        #expect(text.firstIndex(ofBytes: Array("{".utf8)) == 0, "at the start")
        #expect(text.firstIndex(ofBytes: Array("}}".utf8)) == text.count - 2, "at the end")
        #expect(!text.contains(bytes: Array("nodeNamex".utf8)))
        #expect(!Array("ab".utf8).contains(bytes: Array("abc".utf8)), "a needle longer than the text")
        #expect(text.firstIndex(ofBytes: []) == 0)
        // A partial match just before the real one must not hide it.
        #expect(Array("aab".utf8).firstIndex(ofBytes: Array("ab".utf8)) == 1)
        let slice = text[22...]
        #expect(slice.firstIndex(ofBytes: Array("nodeName".utf8)) == 22, "indices are the slice's own")
        #expect(!slice.contains(bytes: Array(#""a""#.utf8)))
    }
}

@Suite("Quantities and pod resources")
struct QuantityTests {
    @Test("parsing to exact thousandths", arguments: [("100m", Int64(100)), ("1", 1000), ("1.5", 1500), ("2Ki", 2_048_000),
        ("1Gi", 1_073_741_824_000), ("1k", 1_000_000), ("1e3", 1_000_000), ("0.1", 100), ("-2", -2000), ("1n", 1), ("500u", 1)])
    func parse(text: String, milli: Int64) {
        #expect(Quantity(text)?.milli == milli)
    }

    @Test("malformed quantities are refused", arguments: ["", "m", "1.2.3", "1Xi", "abc", "1 Gi"])
    func refuse(text: String) {
        #expect(Quantity(text) == nil)
    }

    @Test("printing keeps the written format and the largest exact suffix")
    func format() {
        #expect((Quantity("512Mi")! + Quantity("512Mi")!).description == "1Gi")
        #expect((Quantity("250m")! + Quantity("250m")!).description == "500m")
        #expect((Quantity("500m")! + Quantity("1500m")!).description == "2")
        #expect(Quantity("1500k")!.description == "1500k")
        #expect(Quantity("3000")!.description == "3k")
        #expect(Quantity.zero.description == "0")
        #expect(Quantity("1.5")!.value == 2)
    }

    @Test("pod requests: containers add up, init containers count at their largest, sidecars add, overhead adds")
    func podRequests() {
        let pod: JSONValue = ["spec": [
            "containers": [["resources": ["requests": ["cpu": "100m", "memory": "64Mi"]]], ["resources": ["requests": ["cpu": "200m"]]]],
            "initContainers": [["resources": ["requests": ["cpu": "1", "memory": "32Mi"]]],
                               ["restartPolicy": "Always", "resources": ["requests": ["memory": "16Mi"]]]],
            "overhead": ["cpu": "10m"],
        ]]
        let total = PodResources.total(pod)
        #expect(total["cpu"]?.milli == 1010)  // the 1-CPU init container dominates, plus overhead
        #expect(total["memory"]?.description == "80Mi")  // 64Mi + 16Mi sidecar beats 32Mi
    }

    @Test("resolv.conf: nameservers in order, the last search or domain line, every options line; comments skipped")
    func resolvConf() {
        let conf = ResolvConf(parsing: """
            # generated
            nameserver 192.0.2.53
            ; nameserver 192.0.2.99
            domain first.example
            search corp.example lab.example
            nameserver\tfe80::1%eth0
            options ndots:2
            options edns0 timeout:1
            sortlist 130.155.160.0
            """)
        #expect(conf.nameservers == ["192.0.2.53", "fe80::1%eth0"])
        #expect(conf.searches == ["corp.example", "lab.example"])
        #expect(conf.options == ["ndots:2", "edns0", "timeout:1"])
        #expect(ResolvConf(parsing: "") == ResolvConf())
    }
}
