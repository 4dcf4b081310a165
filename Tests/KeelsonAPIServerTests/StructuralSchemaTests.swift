import Foundation
import KeelsonAPI
import Testing

@testable import KeelsonAPIServer

/// Validation, defaulting and pruning of custom objects against a CRD's structural schema, with the cases and
/// wording of Kubernetes' documentation on CustomResourceDefinitions (and kube-openapi's validator messages).
@Suite("Structural schemas of custom resources")
struct StructuralSchemaTests {
    static let schema: JSONValue = [
        "type": "object",
        "properties": [
            "spec": [
                "type": "object",
                "required": ["image"],
                "properties": [
                    "image": ["type": "string", "minLength": 1, "maxLength": 20],
                    "cronSpec": ["type": "string", "pattern": "^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$"],
                    "replicas": ["type": "integer", "minimum": 1, "maximum": 10, "default": 1],
                    "ratio": ["type": "number", "exclusiveMinimum": true, "minimum": 0],
                    "color": ["type": "string", "enum": ["red", "blue"]],
                    "port": ["x-kubernetes-int-or-string": true],
                    "tags": ["type": "array", "maxItems": 2, "minItems": 1, "uniqueItems": true, "items": ["type": "string"]],
                    "labels": ["type": "object", "additionalProperties": ["type": "string"]],
                    "extra": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                    "template": ["type": "object", "x-kubernetes-embedded-resource": true, "properties": ["spec": ["type": "object"]]],
                    "probe": [
                        "type": "object", "default": [:],
                        "properties": ["period": ["type": "integer", "default": 10], "enabled": ["type": "boolean", "nullable": true]],
                    ],
                ],
            ],
            "status": ["type": "object", "properties": ["ready": ["type": "integer"]]],
        ],
    ]

    static func parsed() throws -> StructuralSchema { try StructuralSchema(schema) }

    static func messages(_ spec: JSONValue) throws -> [String] {
        try parsed().validate(["spec": spec], path: "").map(\.description)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let spec: JSONValue
        let messages: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "a valid object", spec: ["image": "nginx", "replicas": 3, "color": "red", "port": "http", "tags": ["a"]], messages: []),
        Case(name: "a required field is missing", spec: ["replicas": 2], messages: ["spec.image: Required value"]),
        Case(name: "a wrong type", spec: ["image": "x", "replicas": "three"],
             messages: [#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#]),
        Case(name: "a whole number written as a float is an integer", spec: ["image": "x", "replicas": .double(2.0)], messages: []),
        Case(name: "below the minimum", spec: ["image": "x", "replicas": 0],
             messages: ["spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"]),
        Case(name: "above the maximum", spec: ["image": "x", "replicas": 11],
             messages: ["spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"]),
        Case(name: "an exclusive minimum", spec: ["image": "x", "ratio": 0],
             messages: ["spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0"]),
        Case(name: "not in the enum", spec: ["image": "x", "color": "pink"],
             messages: [#"spec.color: Unsupported value: "pink": supported values: "red", "blue""#]),
        Case(name: "a pattern", spec: ["image": "x", "cronSpec": "every minute"],
             messages: [#"spec.cronSpec: Invalid value: "every minute": spec.cronSpec in body should match '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'"#]),
        Case(name: "a pattern that matches", spec: ["image": "x", "cronSpec": "*/5 * * * *"], messages: []),
        Case(name: "too long", spec: ["image": "a-very-long-image-name-indeed"], messages: ["spec.image: Too long: may not be longer than 20"]),
        Case(name: "too short", spec: ["image": ""], messages: [#"spec.image: Invalid value: "": spec.image in body should be at least 1 chars long"#]),
        Case(name: "too many items", spec: ["image": "x", "tags": ["a", "b", "c"]], messages: ["spec.tags: Too many: 3: must have at most 2 items"]),
        Case(name: "too few items", spec: ["image": "x", "tags": []], messages: ["spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"]),
        Case(name: "duplicate items", spec: ["image": "x", "tags": ["a", "a"]], messages: [#"spec.tags[1]: Duplicate value: "a""#]),
        Case(name: "an item of the wrong type", spec: ["image": "x", "tags": [1]],
             messages: [#"spec.tags[0]: Invalid value: "integer": spec.tags[0] in body must be of type string: "integer""#]),
        Case(name: "int-or-string takes a number", spec: ["image": "x", "port": 8080], messages: []),
        Case(name: "int-or-string refuses a boolean", spec: ["image": "x", "port": true],
             messages: [#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer or string: "boolean""#]),
        Case(name: "map values follow additionalProperties", spec: ["image": "x", "labels": ["a": 1]],
             messages: [#"spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer""#]),
        Case(name: "an embedded resource needs apiVersion and kind", spec: ["image": "x", "template": ["spec": [:]]],
             messages: ["spec.template.apiVersion: Required value: must not be empty", "spec.template.kind: Required value: must not be empty"]),
        Case(name: "null is refused unless nullable", spec: ["image": "x", "probe": ["period": .null, "enabled": .null]],
             messages: [#"spec.probe.period: Invalid value: "null": spec.probe.period in body must be of type integer: "null""#]),
    ]

    @Test("validation messages", arguments: cases)
    func validation(_ row: Case) throws {
        #expect(try Self.messages(row.spec).sorted() == row.messages.sorted())
    }

    @Test("defaults fill absent fields, outermost first, and never replace what was sent")
    func defaults() throws {
        var object: JSONValue = ["spec": ["image": "x", "replicas": 5]]
        try Self.parsed().applyDefaults(&object)
        #expect(object.value(at: ["spec", "replicas"]) == 5)
        // probe defaults to {} and then its own period default applies inside it.
        #expect(object.value(at: ["spec", "probe"]) == ["period": 10])
        var empty: JSONValue = ["spec": ["image": "x"]]
        try Self.parsed().applyDefaults(&empty)
        #expect(empty.value(at: ["spec", "replicas"]) == 1)
    }

    @Test("pruning drops undeclared fields, keeps apiVersion/kind/metadata, preserved subtrees and embedded objects' metadata")
    func pruning() throws {
        var object: JSONValue = [
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "w", "labels": ["a": "b"]],
            "spec": [
                "image": "x", "unknown": true,
                "extra": ["anything": ["goes": 1]],
                "template": ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "p"], "spec": ["containers": []], "junk": 1],
                "labels": ["free": "form"],
            ],
            "status": ["ready": 1, "stale": "x"],
            "topLevelJunk": 1,
        ]
        let dropped = try Self.parsed().prune(&object, isRoot: true)
        // An object schema without properties keeps nothing (Kubernetes prunes it empty too).
        #expect(Set(dropped) == ["spec.unknown", "spec.template.junk", "spec.template.spec.containers", "status.stale", "topLevelJunk"])
        #expect(object["metadata"] == ["name": "w", "labels": ["a": "b"]])
        #expect(object["apiVersion"] == "example.com/v1")
        #expect(object.value(at: ["spec", "extra", "anything", "goes"]) == 1)
        #expect(object.value(at: ["spec", "template", "metadata", "name"]) == "p")
        #expect(object.value(at: ["spec", "template", "spec"]) == [:])
        #expect(object.value(at: ["spec", "labels", "free"]) == "form")
    }

    @Test("a schema whose pattern does not compile, or with an unknown type, is refused with the field")
    func badSchemas() {
        #expect(throws: StructuralSchema.SchemaError.self) { try StructuralSchema(["type": "object", "properties": ["a": ["type": "string", "pattern": "(["]]]) }
        do {
            _ = try StructuralSchema(["type": "object", "properties": ["a": ["type": "text"]]])
            Issue.record("accepted type text")
        } catch {
            #expect(error.field == "openAPIV3Schema.properties[a].type")
        }
    }

    @Test("printer column paths: fields, indexes, filters")
    func printerColumnPaths() throws {
        let object: JSONValue = ["spec": ["ports": [["port": 80], ["port": 443]]],
                                 "status": ["conditions": [["type": "Synced", "status": "False"], ["type": "Ready", "status": "True"]]]]
        #expect(PrinterColumnPath(".spec.ports[1].port")?.evaluate(object) == 443)
        #expect(PrinterColumnPath(".spec.ports[-1].port")?.evaluate(object) == 443)
        #expect(PrinterColumnPath(#".status.conditions[?(@.type=="Ready")].status"#)?.evaluate(object) == "True")
        #expect(PrinterColumnPath(".spec.missing")?.evaluate(object) == nil)
        #expect(PrinterColumnPath("spec") == nil)
        #expect(PrinterColumnPath("") == nil)
    }

    @Test("version priority: GA, then beta, then alpha, higher first; other names last, alphabetically")
    func versionPriority() {
        let versions = ["v1alpha1", "foo", "v2", "v1beta2", "v1", "v1beta1", "v10", "bar", "v11alpha2"]
        #expect(versions.sorted(by: CustomResourceDefinitionStrategy.versionPriorityOrder)
            == ["v10", "v2", "v1", "v1beta2", "v1beta1", "v11alpha2", "v1alpha1", "bar", "foo"])
    }
}
