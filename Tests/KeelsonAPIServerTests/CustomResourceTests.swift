import HTTPTypes
import KeelsonAPI
import Testing

@testable import KeelsonAPIServer

/// CustomResourceDefinitions through the REST router: establishment, discovery, the schema at work on custom
/// objects, the status and scale subresources, printer columns, several versions, name conflicts, and deletion.
@Suite("Custom resources")
struct CustomResourceTests {
    static func widgetDefinition(scope: String = "Namespaced", kind: String = "Widget", plural: String = "widgets",
        shortNames: [String] = ["wd"]) -> JSONValue
    {
        let schema: JSONValue = [
            "type": "object",
            "properties": [
                "spec": [
                    "type": "object", "required": ["size"],
                    "properties": [
                        "size": ["type": "integer", "minimum": 1],
                        "color": ["type": "string", "default": "blue", "enum": ["red", "blue"]],
                        "replicas": ["type": "integer"],
                    ],
                ],
                "status": ["type": "object", "properties": ["replicas": ["type": "integer"], "selector": ["type": "string"]]],
            ],
        ]
        let columns: JSONValue = [
            ["name": "Size", "type": "integer", "jsonPath": ".spec.size"],
            ["name": "Color", "type": "string", "jsonPath": ".spec.color", "description": "what it looks like"],
            ["name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"],
        ]
        let subresources: JSONValue = [
            "status": [:],
            "scale": ["specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"],
        ]
        return [
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": .object(["name": .string("\(plural).example.com")]),
            "spec": [
                "group": "example.com", "scope": .string(scope),
                "names": ["plural": .string(plural), "kind": .string(kind), "shortNames": .array(shortNames.map(JSONValue.string)),
                          "categories": ["all"]],
                "versions": [
                    ["name": "v1", "served": true, "storage": true, "schema": ["openAPIV3Schema": schema],
                     "subresources": subresources, "additionalPrinterColumns": columns],
                    ["name": "v1beta1", "served": true, "storage": false, "schema": ["openAPIV3Schema": schema]],
                ],
            ],
        ]
    }

    static func establish(_ client: TestServer.Client, _ definition: JSONValue) async throws {
        let created = try await client.json(.post, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", definition)
        try #require(created.status == 201, "\(created.body)")
        let name = definition.name ?? ""
        try await SecuredServer.eventually("\(name) established") {
            let reply = try await client.request(.get, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/\(name)")
            return CustomResourceRegistrar.isEstablished(reply.body)
        }
    }

    static let widgets = "/apis/example.com/v1/namespaces/default/widgets"

    @Test("a definition becomes NamesAccepted and Established and its resource is discovered, legacy and aggregated")
    func establishment() async throws {
        try await TestServer.run { client in
            try await Self.establish(client, Self.widgetDefinition())
            let crd = try await client.request(.get, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com").body
            let conditions = crd.value(at: ["status", "conditions"])?.arrayValue ?? []
            #expect(conditions.contains { $0["type"] == "NamesAccepted" && $0["status"] == "True" && $0["reason"] == "NoConflicts" })
            #expect(crd.value(at: ["status", "acceptedNames", "kind"]) == "Widget")
            #expect(crd.value(at: ["status", "storedVersions"]) == ["v1"])
            #expect(crd.value(at: ["spec", "names", "listKind"]) == "WidgetList")
            #expect(crd.metadata?["finalizers"] == [.string(CustomResourceDefinitionStrategy.cleanupFinalizer)])

            let group = try await client.request(.get, "/apis/example.com").body
            #expect(group["preferredVersion"]?["version"] == "v1")
            let list = try await client.request(.get, "/apis/example.com/v1").body
            let resources = list["resources"]?.arrayValue ?? []
            let widget = try #require(resources.first(where: { $0["name"]?.stringValue == "widgets" }))
            #expect(widget["shortNames"] == ["wd"])
            #expect(widget["categories"] == ["all"])
            #expect(widget["namespaced"] == true)
            let names = Set(list["resources"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
            #expect(names == ["widgets", "widgets/status", "widgets/scale"])
            let aggregated = try await client.request(.get, "/apis",
                accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json").body
            let entry = aggregated["items"]?.arrayValue?.first(where: { $0["metadata"]?["name"]?.stringValue == "example.com" })
            #expect(entry?["versions"]?.arrayValue?.compactMap { $0["version"]?.stringValue } == ["v1", "v1beta1"])
        }
    }

    @Test("custom objects are pruned, defaulted and validated by the schema; 422s name each field")
    func schemaAtWork() async throws {
        try await TestServer.run { client in
            try await Self.establish(client, Self.widgetDefinition())
            let created = try await client.json(.post, Self.widgets,
                ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "w1"], "spec": ["size": 3, "shape": "round"]])
            #expect(created.status == 201)
            #expect(created.body["spec"] == ["size": 3, "color": "blue"])
            #expect(created.body.metadata?["generation"] == 1)

            let invalid = try await client.json(.post, Self.widgets,
                ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "w2"], "spec": ["size": 0, "color": "green"]])
            #expect(invalid.status == 422)
            #expect(invalid.body["reason"] == "Invalid")
            let fields = Set(invalid.body["details"]?["causes"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? [])
            #expect(fields == ["spec.size", "spec.color"])
            #expect(invalid.body["message"]?.stringValue?.hasPrefix(#"Widget.example.com "w2" is invalid: "#) == true)
            let missing = try await client.json(.post, Self.widgets, ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "w3"], "spec": [:]])
            #expect(missing.status == 422)
            #expect(missing.body["details"]?["causes"]?.arrayValue?.first?["message"] == "Required value")
            // Nothing was written by the refused requests.
            let listed = try await client.request(.get, Self.widgets).body
            #expect(listed["items"]?.arrayValue?.compactMap(\.name) == ["w1"])
            #expect(listed["kind"] == "WidgetList")

            let byName = try await client.request(.get, Self.widgets + "?fieldSelector=metadata.name%3Dw1").body
            #expect(byName["items"]?.arrayValue?.count == 1)
            let beta = try await client.request(.get, "/apis/example.com/v1beta1/namespaces/default/widgets/w1").body
            #expect(beta["apiVersion"] == "example.com/v1beta1")
            #expect(beta["spec"]?["size"] == 3)
        }
    }

    @Test("fieldValidation: Strict refuses undeclared fields with a 400, Warn (the default) warns and prunes, Ignore prunes")
    func fieldValidation() async throws {
        try await TestServer.run { client in
            try await Self.establish(client, Self.widgetDefinition())
            func widget(_ name: String) -> JSONValue {
                ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": .string(name)], "spec": ["size": 1, "shape": "round"], "extra": 1]
            }
            let strict = try await client.json(.post, Self.widgets + "?fieldValidation=Strict", widget("s"))
            #expect(strict.status == 400)
            #expect(strict.body["reason"] == "BadRequest")
            #expect(strict.body["message"] == #"Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "extra", unknown field "spec.shape""#)
            #expect(try await client.request(.get, Self.widgets + "/s").status == 404)

            let warned = try await client.json(.post, Self.widgets, widget("w"))
            #expect(warned.status == 201)
            #expect(warned.headers[values: HTTPField.Name("Warning")!]
                == [#"299 - "unknown field \"extra\"""#, #"299 - "unknown field \"spec.shape\"""#])
            #expect(warned.body["spec"] == ["size": 1, "color": "blue"])
            #expect(warned.body["extra"] == nil)

            let ignored = try await client.json(.post, Self.widgets + "?fieldValidation=Ignore", widget("i"))
            #expect(ignored.status == 201)
            #expect(ignored.headers[HTTPField.Name("Warning")!] == nil)

            let patched = try await client.request(.patch, Self.widgets + "/w?fieldValidation=Strict", body: #"{"spec":{"weight":3}}"#,
                contentType: "application/merge-patch+json")
            #expect(patched.status == 400)
            #expect(patched.body["message"]?.stringValue?.hasSuffix(#"unknown field "spec.weight""#) == true)
            let bad = try await client.json(.post, Self.widgets + "?fieldValidation=Loose", widget("l"))
            #expect(bad.status == 400)
        }
    }

    @Test("x-kubernetes-validations: a failed rule is a 422 with its message (or the rule), transition rules check updates, a rule that does not compile refuses the definition")
    func validationRules() async throws {
        try await TestServer.run { client in
            var definition = Self.widgetDefinition()
            var versions = try #require(definition.value(at: ["spec", "versions"])?.arrayValue)
            var spec = try #require(versions[0].value(at: ["schema", "openAPIV3Schema", "properties", "spec"]))
            spec["x-kubernetes-validations"] = [
                ["rule": "!has(self.replicas) || self.replicas <= self.size * 2", "message": "replicas may be at most twice the size"],
                ["rule": "self.color != 'red' || self.size > 1"],
                ["rule": "self.size >= oldSelf.size", "message": "size may not shrink", "fieldPath": ".size"],
            ]
            versions[0]["schema"]?["openAPIV3Schema"]?["properties"]?["spec"] = spec
            definition["spec"]?["versions"] = .array(versions)
            try await Self.establish(client, definition)

            func widget(_ name: String, _ spec: JSONValue) -> JSONValue {
                ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": .string(name)], "spec": spec]
            }
            let tooMany = try await client.json(.post, Self.widgets, widget("a", ["size": 1, "replicas": 3]))
            #expect(tooMany.status == 422)
            #expect(tooMany.body["message"] == #"Widget.example.com "a" is invalid: spec: Invalid value: "object": replicas may be at most twice the size"#)
            let red = try await client.json(.post, Self.widgets, widget("b", ["size": 1, "color": "red"]))
            #expect(red.status == 422)
            #expect(red.body["details"]?["causes"]?.arrayValue?.first?["message"] == #"Invalid value: "object": failed rule: self.color != 'red' || self.size > 1"#)

            #expect(try await client.json(.post, Self.widgets, widget("c", ["size": 2, "replicas": 4])).status == 201)
            let shrunk = try await client.request(.patch, Self.widgets + "/c", body: #"{"spec":{"size":1,"replicas":1}}"#,
                contentType: "application/merge-patch+json")
            #expect(shrunk.status == 422)
            #expect(shrunk.body["details"]?["causes"]?.arrayValue?.first?["field"] == "spec.size")
            #expect(shrunk.body["message"]?.stringValue?.contains("size may not shrink") == true)
            let grown = try await client.request(.patch, Self.widgets + "/c", body: #"{"spec":{"size":3}}"#, contentType: "application/merge-patch+json")
            #expect(grown.status == 200)

            var broken = Self.widgetDefinition(kind: "Gadget", plural: "gadgets", shortNames: [])
            var brokenVersions = try #require(broken.value(at: ["spec", "versions"])?.arrayValue)
            brokenVersions[0]["schema"]?["openAPIV3Schema"]?["properties"]?["spec"]?["x-kubernetes-validations"] = [["rule": "self.size >"]]
            broken["spec"]?["versions"] = .array(brokenVersions)
            let refused = try await client.json(.post, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", broken)
            #expect(refused.status == 422)
            #expect(refused.body["message"]?.stringValue?.contains("x-kubernetes-validations[0].rule") == true, "\(refused.body)")
            #expect(refused.body["message"]?.stringValue?.contains("compilation failed") == true)
        }
    }

    @Test("status and scale subresources, and the printer columns in the Table")
    func subresourcesAndPrinting() async throws {
        try await TestServer.run { client in
            try await Self.establish(client, Self.widgetDefinition())
            var widget = try await client.json(.post, Self.widgets,
                ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "w"], "spec": ["size": 2, "replicas": 1],
                 "status": ["replicas": 9]]).body
            #expect(widget["status"] == nil, "status is the /status subresource's, not the create's")
            widget["status"] = ["replicas": 1, "selector": "app=w"]
            let status = try await client.json(.put, Self.widgets + "/w/status", widget)
            #expect(status.status == 200)
            #expect(status.body.value(at: ["status", "replicas"]) == 1)
            #expect(status.body.metadata?["generation"] == 1, "a status write does not move the generation")

            let scale = try await client.request(.get, Self.widgets + "/w/scale").body
            #expect(scale["kind"] == "Scale")
            #expect(scale.value(at: ["spec", "replicas"]) == 1)
            #expect(scale.value(at: ["status", "selector"]) == "app=w")
            let scaled = try await client.request(.patch, Self.widgets + "/w/scale", body: #"{"spec":{"replicas":4}}"#,
                contentType: "application/merge-patch+json")
            #expect(scaled.status == 200)
            let after = try await client.request(.get, Self.widgets + "/w").body
            #expect(after.value(at: ["spec", "replicas"]) == 4)
            #expect(after.metadata?["generation"] == 2)

            let table = try await client.request(.get, Self.widgets, accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json").body
            #expect(table["columnDefinitions"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["Name", "Size", "Color", "Age"])
            let cells = table["rows"]?.arrayValue?.first?["cells"]?.arrayValue ?? []
            #expect(Array(cells.prefix(3)) == ["w", 2, "blue"])
            #expect(cells.count == 4)
        }
    }

    @Test("a definition whose names another definition of the group holds is not established; bad definitions are 422")
    func conflictsAndValidation() async throws {
        try await TestServer.run { client in
            try await Self.establish(client, Self.widgetDefinition())
            let rival = try await client.json(.post, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                Self.widgetDefinition(kind: "Gadget", plural: "gadgets", shortNames: ["wd"]))
            #expect(rival.status == 201)
            try await SecuredServer.eventually("the rival's names refused") {
                let crd = try await client.request(.get, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.com").body
                return (crd.value(at: ["status", "conditions"])?.arrayValue ?? []).contains {
                    $0["type"] == "NamesAccepted" && $0["status"] == "False" && $0["message"] == #""wd" is already in use"#
                }
            }
            #expect(try await client.request(.get, "/apis/example.com/v1/namespaces/default/gadgets").status == 404)

            var misnamed = Self.widgetDefinition()
            misnamed.setValue("wrong.example.com", at: ["metadata", "name"])
            let refused = try await client.json(.post, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", misnamed)
            #expect(refused.status == 422)
            #expect(refused.body["message"]?.stringValue?.contains(#"metadata.name: Invalid value: "wrong.example.com": must be spec.names.plural+"."+spec.group"#) == true)
            var twoStorage = Self.widgetDefinition(kind: "Thing", plural: "things", shortNames: [])
            twoStorage.setValue(["name": "v1", "served": true, "storage": true, "schema": ["openAPIV3Schema": ["type": "object"]]],
                at: ["spec", "versions"])
            twoStorage.setValue([["name": "v1", "served": true, "storage": true, "schema": ["openAPIV3Schema": ["type": "object"]]],
                                 ["name": "v2", "served": true, "storage": true, "schema": ["openAPIV3Schema": ["type": "object"]]]],
                at: ["spec", "versions"])
            let noSingleStorage = try await client.json(.post, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", twoStorage)
            #expect(noSingleStorage.status == 422)
            #expect(noSingleStorage.body["message"]?.stringValue?.contains("must have exactly one version marked as storage version") == true)
            var noSchema = Self.widgetDefinition(kind: "Thing", plural: "things", shortNames: [])
            noSchema.setValue([["name": "v1", "served": true, "storage": true]], at: ["spec", "versions"])
            let schemaRequired = try await client.json(.post, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", noSchema)
            #expect(schemaRequired.status == 422)
            #expect(schemaRequired.body["message"]?.stringValue?.contains("spec.versions[0].schema.openAPIV3Schema: Required value") == true)
        }
    }

    @Test("deleting a definition deletes its objects, then the definition, and its resource leaves discovery")
    func deletion() async throws {
        try await TestServer.run { client in
            try await Self.establish(client, Self.widgetDefinition(scope: "Cluster"))
            for name in ["a", "b"] {
                let created = try await client.json(.post, "/apis/example.com/v1/widgets",
                    ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": .string(name)], "spec": ["size": 1]])
                #expect(created.status == 201)
            }
            let deleted = try await client.request(.delete, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
            #expect(deleted.status == 200)
            try await SecuredServer.eventually("the definition gone") {
                try await client.request(.get, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com").status == 404
            }
            #expect(try await client.request(.get, "/apis/example.com/v1").status == 404)
            // Created again, the kind starts empty: the old objects went with the old definition.
            try await Self.establish(client, Self.widgetDefinition(scope: "Cluster"))
            #expect(try await client.request(.get, "/apis/example.com/v1/widgets").body["items"] == [])
        }
    }
}
