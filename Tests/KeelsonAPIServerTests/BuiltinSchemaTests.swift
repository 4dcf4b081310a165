import HTTPTypes
import KeelsonAPI
import Testing

@testable import KeelsonAPIServer

@Suite("Built-in type shapes")
struct BuiltinSchemaTests {
    @Test("every built-in kind has a shape, except the metrics API's (not part of Kubernetes' own types)")
    func everyKindHasAShape() {
        let missing = BuiltinResources.all.filter { BuiltinSchemas.definitionName(of: $0) == nil }.map(\.apiVersion).sorted()
        #expect(missing == ["metrics.k8s.io/v1beta1", "metrics.k8s.io/v1beta1"])
        #expect(BuiltinSchemas.definitionName(group: "rbac.authorization.k8s.io", version: "v1", kind: "Role") == "io.k8s.api.rbac.v1.Role")
        #expect(BuiltinSchemas.definitionName(group: "", version: "v1", kind: "Pod") == "io.k8s.api.core.v1.Pod")
    }

    @Test("the table's type codes: scalars, lists, maps, references, nested, required marks")
    func parsing() throws {
        let shapes = BuiltinSchemas.parse("a.B x!:s y:[{@a.C}] z:{[i]} w:o v:x u:t\na.C q:b")
        let b = try #require(shapes["a.B"])
        #expect(b.fields.map(\.name) == ["x", "y", "z", "w", "v", "u"])
        #expect(b.required == ["x"])
        #expect(b.types["y"] == .list(.map(.reference("a.C"))))
        #expect(b.types["z"] == .map(.list(.integer)))
        #expect(b.types["w"] == .intOrString && b.types["v"] == .any && b.types["u"] == .dateTime)
        #expect(shapes["a.C"]?.types["q"] == .boolean)
    }

    @Test("the shapes hold what Kubernetes declares: required container names, int-or-string ports, Quantity maps")
    func knownFacts() throws {
        let container = try #require(BuiltinSchemas.shapes["io.k8s.api.core.v1.Container"])
        #expect(container.required == ["name"])
        #expect(container.types["ports"] == .list(.reference("io.k8s.api.core.v1.ContainerPort")))
        #expect(BuiltinSchemas.shapes["io.k8s.api.core.v1.ServicePort"]?.types["targetPort"] == .intOrString)
        #expect(BuiltinSchemas.shapes["io.k8s.api.core.v1.ResourceRequirements"]?.types["limits"] == .map(.string))
        #expect(BuiltinSchemas.shapes["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]?.types["labels"] == .map(.string))
    }

    @Test("undeclared fields are found at any depth and named with list indexes; maps and free-form values take any key")
    func unknownFields() {
        let deployment: JSONValue = [
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": ["name": "web", "labels": ["any-key": "v"], "colour": "red",
                         "managedFields": [["manager": "m", "fieldsV1": ["f:spec": ["f:anything": [:]]]]]],
            "spec": [
                "replicass": 2,
                "strategy": ["rollingUpdate": ["maxSurge": "25%", "maxUnavailable": 1]],
                "template": ["spec": ["containers": [
                    ["name": "a", "image": "x", "resources": ["limits": ["cpu": 1]]],
                    ["name": "b", "image": "y", "imagePullPolicyy": "Always", "ports": [["containerPort": 80, "hostname": "h"]]],
                ]]],
            ],
        ]
        let found = BuiltinSchemas.unknownFields(in: deployment, definition: "io.k8s.api.apps.v1.Deployment")
        #expect(found.sorted() == [
            "metadata.colour", "spec.replicass", "spec.template.spec.containers[1].imagePullPolicyy",
            "spec.template.spec.containers[1].ports[0].hostname",
        ])
        let pod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "p"],
                              "spec": ["containers": [["name": "c", "image": "i"]]], "status": ["phase": "Running"]]
        #expect(BuiltinSchemas.unknownFields(in: pod, definition: "io.k8s.api.core.v1.Pod").isEmpty)
    }

    @Test("fieldValidation on a built-in kind: Strict refuses undeclared fields with a 400 and stores nothing, Warn warns and keeps them")
    func fieldValidationOfBuiltins() async throws {
        try await TestServer.run { client in
            func pod(_ name: String) -> JSONValue {
                ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name)],
                 "spec": ["containers": [["name": "c", "image": "busybox", "imagee": "typo"]], "restartPolicyy": "Never"]]
            }
            let pods = "/api/v1/namespaces/default/pods"
            let strict = try await client.json(.post, pods + "?fieldValidation=Strict", pod("s"))
            #expect(strict.status == 400)
            #expect(strict.body["message"] == #"Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].imagee", unknown field "spec.restartPolicyy""#)
            #expect(try await client.request(.get, pods + "/s").status == 404)

            let warned = try await client.json(.post, pods, pod("w"))
            #expect(warned.status == 201)
            #expect(warned.headers[values: HTTPField.Name("Warning")!]
                == [#"299 - "unknown field \"spec.containers[0].imagee\"""#, #"299 - "unknown field \"spec.restartPolicyy\"""#])
            #expect(warned.body["spec"]?["restartPolicyy"] == "Never", "the server keeps every field a client sent")

            let clean = try await client.json(.post, pods + "?fieldValidation=Strict",
                ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "ok"], "spec": ["containers": [["name": "c", "image": "busybox"]]]])
            #expect(clean.status == 201)
            #expect(clean.headers[HTTPField.Name("Warning")!] == nil)
            let patched = try await client.request(.patch, pods + "/ok?fieldValidation=Strict",
                body: #"{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","imagge":"x"}]}}"#,
                contentType: "application/strategic-merge-patch+json")
            #expect(patched.status == 400)
            #expect(patched.body["message"]?.stringValue?.hasSuffix(#"unknown field "spec.containers[0].imagge""#) == true)
        }
    }
}
