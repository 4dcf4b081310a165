import KeelsonAPI
import Testing

@Suite("Label selectors")
struct LabelSelectorTests {
    let labels = ["app": "web", "tier": "front", "version": "3"]

    @Test("string syntax", arguments: [
        ("app=web", true), ("app==web", true), ("app!=web", false), ("app=db", false),
        ("app in (db,web)", true), ("app notin (db,web)", false), ("tier", true), ("!tier", false), ("!missing", true),
        ("app=web,tier=front", true), ("app=web,tier=back", false), ("version>2", true), ("version<3", false),
        ("missing!=x", true), ("", true), ("app in ( web , db )", true),
    ])
    func matches(selector: String, expected: Bool) throws {
        #expect(try LabelSelector.parse(selector).matches(labels) == expected)
    }

    @Test("invalid selectors are refused", arguments: ["=web", "app in web", "app in (", "version>x", "a b"])
    func invalid(selector: String) {
        #expect(throws: SelectorParseError.self) { try LabelSelector.parse(selector) }
    }

    @Test("an empty value selects an empty label value")
    func emptyValue() throws {
        #expect(try LabelSelector.parse("app=").matches(["app": ""]))
        #expect(try !LabelSelector.parse("app=").matches(labels))
    }

    @Test("matchLabels and matchExpressions")
    func objectForm() throws {
        let selector = try LabelSelector.from([
            "matchLabels": ["app": "web"],
            "matchExpressions": [["key": "tier", "operator": "In", "values": ["front", "edge"]], ["key": "legacy", "operator": "DoesNotExist"]],
        ])
        #expect(selector.matches(labels))
        #expect(!selector.matches(["app": "web", "tier": "back"]))
        #expect(try LabelSelector.from(nil).matches(labels) == false)
        #expect(try LabelSelector.from([:]).matches(labels) == true)
        #expect(throws: SelectorParseError.self) { try LabelSelector.from(["matchExpressions": [["key": "a", "operator": "Near"]]]) }
        #expect(selector.description == "app=web,tier in (front,edge),!legacy")
    }
}

@Suite("Field selectors")
struct FieldSelectorTests {
    @Test("equality, inequality and escapes")
    func parseAndMatch() throws {
        let selector = try FieldSelector.parse("metadata.name=a\\,b,status.phase!=Failed")
        #expect(selector.requirements.count == 2)
        #expect(selector.matches(["metadata.name": "a,b", "status.phase": "Running"]))
        #expect(!selector.matches(["metadata.name": "a,b", "status.phase": "Failed"]))
        #expect(selector.exactValue(for: "metadata.name") == "a,b")
        #expect(selector.unsupportedField(supported: ["metadata.name"]) == "status.phase")
        #expect(throws: SelectorParseError.self) { try FieldSelector.parse("nonsense") }
        #expect(try FieldSelector.parse("spec.nodeName==").matches(["spec.nodeName": ""]))
    }
}

@Suite("Name validation")
struct NameValidationTests {
    @Test("DNS subdomains, labels and qualified names")
    func rules() {
        #expect(NameValidation.dns1123Subdomain("web-1.example").isEmpty)
        #expect(!NameValidation.dns1123Subdomain("Web").isEmpty)
        #expect(!NameValidation.dns1123Subdomain(String(repeating: "a", count: 300)).isEmpty)
        #expect(NameValidation.dns1123Label("kube-system").isEmpty)
        #expect(!NameValidation.dns1123Label("a.b").isEmpty)
        #expect(!NameValidation.dns1035Label("1abc").isEmpty)
        #expect(NameValidation.qualifiedName("app.kubernetes.io/name").isEmpty)
        #expect(!NameValidation.qualifiedName("bad/key/x").isEmpty)
        #expect(NameValidation.labelValue("").isEmpty)
        #expect(!NameValidation.labelValue("-x").isEmpty)
    }
}
