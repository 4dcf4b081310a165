import KeelsonAPI
import Testing

@testable import KeelsonAPIServer

/// Server-side apply and field ownership through the REST router: `application/apply-patch+yaml` creating and
/// updating, managers recorded on every write, conflicts as Kubernetes reports them, force, status, dry runs,
/// custom kinds, and clients rewriting managedFields.
@Suite("Server-side apply")
struct ServerSideApplyTests {
    static let deployments = "/apis/apps/v1/namespaces/default/deployments"
    static let apply = "application/apply-patch+yaml"

    static func deploymentYAML(replicas: Int = 2, image: String = "nginx:1.27", extraLabel: String? = nil) -> String {
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          labels:
            app: web\(extraLabel.map { "\n    \($0): \"yes\"" } ?? "")
        spec:
          replicas: \(replicas)
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
              - name: web
                image: \(image)
        """
    }

    static func managers(_ object: JSONValue) -> [String] {
        (object.metadata?["managedFields"]?.arrayValue ?? []).compactMap { entry in
            guard let manager = entry["manager"]?.stringValue, let operation = entry["operation"]?.stringValue else { return nil }
            return manager + "/" + operation + (entry["subresource"]?.stringValue.map { "/" + $0 } ?? "")
        }
    }

    @Test("an apply creates the object (201), a repeated apply changes nothing, a changed one updates it; all owned by the applier")
    func createAndUpdate() async throws {
        try await TestServer.run { client in
            let created = try await client.request(.patch, Self.deployments + "/web?fieldManager=ci", body: Self.deploymentYAML(), contentType: Self.apply)
            #expect(created.status == 201, "\(created.body)")
            #expect(Self.managers(created.body) == ["ci/Apply"])
            #expect(created.body.value(at: ["spec", "strategy", "type"]) == "RollingUpdate", "defaults are applied to an applied object")
            let fields = created.body.metadata?["managedFields"]?.arrayValue?.first?["fieldsV1"]
            #expect(fields?["f:spec"]?["f:replicas"] == [:])
            #expect(fields?["f:spec"]?["f:strategy"] == nil, "defaulted fields are nobody's")
            #expect(fields?["f:spec"]?["f:selector"] == [:], "a label selector is an atomic struct, owned whole")

            let again = try await client.request(.patch, Self.deployments + "/web?fieldManager=ci", body: Self.deploymentYAML(), contentType: Self.apply)
            #expect(again.status == 200)
            #expect(again.body.resourceVersion == created.body.resourceVersion, "an apply that changes nothing writes nothing")

            let changed = try await client.request(.patch, Self.deployments + "/web?fieldManager=ci", body: Self.deploymentYAML(replicas: 4),
                contentType: Self.apply)
            #expect(changed.status == 200 && changed.body.value(at: ["spec", "replicas"]) == 4)
            #expect(changed.body.generation == 2)

            // Apply is JSON too (the Python client sends JSON under the apply content type).
            let json = try await client.request(.patch, "/api/v1/namespaces/default/configmaps/c?fieldManager=py",
                body: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}}"#, contentType: Self.apply)
            #expect(json.status == 201 && json.body["data"] == ["a": "1"])
        }
    }

    @Test("atomic structs (label selectors, env value sources) are replaced whole by an apply and owned whole")
    func atomicStructs() async throws {
        try await TestServer.run { client in
            let deployment = { (selector: String) in
                Self.deploymentYAML() + """

                            env:
                            - name: POD
                              valueFrom:
                                fieldRef: {\(selector)}
                    """
            }
            let first = try await client.request(.patch, Self.deployments + "/web?fieldManager=a",
                body: deployment("fieldPath: metadata.name, apiVersion: v1"), contentType: Self.apply)
            #expect(first.status == 201, "\(first.body)")
            let entry = first.body.metadata?["managedFields"]?.arrayValue?.first?["fieldsV1"]
            let env = entry?["f:spec"]?["f:template"]?["f:spec"]?["f:containers"]?[#"k:{"name":"web"}"#]?["f:env"]?[#"k:{"name":"POD"}"#]
            #expect(env?["f:valueFrom"]?["f:fieldRef"] == [:], "\(String(describing: env))")
            // A changed reference is applied as one value.
            let second = try await client.request(.patch, Self.deployments + "/web?fieldManager=a",
                body: deployment("fieldPath: metadata.namespace"), contentType: Self.apply)
            #expect(second.status == 200, "\(second.body)")
            let container = second.body.value(at: ["spec", "template", "spec", "containers"])?.arrayValue?.first
            #expect(container?["env"]?.arrayValue?.first?["valueFrom"]?["fieldRef"]?["fieldPath"] == "metadata.namespace")
        }
    }

    @Test("an apply through the scale subresource: the replicas another manager applied conflict; force takes them, owned through scale")
    func applyThroughScale() async throws {
        try await TestServer.run { client in
            #expect(try await client.request(.patch, Self.deployments + "/web?fieldManager=ci", body: Self.deploymentYAML(replicas: 2),
                contentType: Self.apply).status == 201)
            let scale = #"{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web"},"spec":{"replicas":5}}"#
            let conflict = try await client.request(.patch, Self.deployments + "/web/scale?fieldManager=autoscaler", body: scale, contentType: Self.apply)
            #expect(conflict.status == 409, "\(conflict.body)")
            #expect(conflict.body["details"]?["causes"]?.arrayValue?.first?["field"] == ".spec.replicas")

            let forced = try await client.request(.patch, Self.deployments + "/web/scale?fieldManager=autoscaler&force=true", body: scale,
                contentType: Self.apply)
            #expect(forced.status == 200, "\(forced.body)")
            #expect(forced.body["kind"] == "Scale" && forced.body.value(at: ["spec", "replicas"]) == 5)
            let deployment = try await client.request(.get, Self.deployments + "/web").body
            #expect(deployment.value(at: ["spec", "replicas"]) == 5)
            #expect(Self.managers(deployment).contains("autoscaler/Apply/scale"), "\(Self.managers(deployment))")
            let entries = deployment.metadata?["managedFields"]?.arrayValue ?? []
            let scaler = entries.first { $0["manager"] == "autoscaler" }?["fieldsV1"]
            #expect(scaler == ["f:spec": ["f:replicas": [:]]])
            let ci = entries.first { $0["manager"] == "ci" }?["fieldsV1"]
            #expect(ci?["f:spec"]?["f:replicas"] == nil, "the forced apply took replicas from ci")

            let negative = try await client.request(.patch, Self.deployments + "/web/scale?fieldManager=autoscaler",
                body: scale.replacingOccurrences(of: "5", with: "-1"), contentType: Self.apply)
            #expect(negative.status == 422)
            let wrongKind = try await client.request(.patch, Self.deployments + "/web/scale?fieldManager=autoscaler",
                body: scale.replacingOccurrences(of: "Scale", with: "Deployment"), contentType: Self.apply)
            #expect(wrongKind.status == 400)
        }
    }

    @Test("apply needs a fieldManager; force belongs to apply only; the body must name its kind and match the URL")
    func refusals() async throws {
        try await TestServer.run { client in
            let missing = try await client.request(.patch, Self.deployments + "/web", body: Self.deploymentYAML(), contentType: Self.apply)
            #expect(missing.status == 422)
            #expect(missing.body["details"]?["causes"]?.arrayValue?.first?["field"] == "fieldManager")
            _ = try await client.request(.patch, Self.deployments + "/web?fieldManager=ci", body: Self.deploymentYAML(), contentType: Self.apply)
            let forced = try await client.request(.patch, Self.deployments + "/web?force=true", body: #"{"spec":{"replicas":1}}"#,
                contentType: "application/merge-patch+json")
            #expect(forced.status == 422)
            let noKind = try await client.request(.patch, Self.deployments + "/web?fieldManager=ci", body: "metadata: {name: web}", contentType: Self.apply)
            #expect(noKind.status == 400)
            let otherName = try await client.request(.patch, Self.deployments + "/other?fieldManager=ci", body: Self.deploymentYAML(), contentType: Self.apply)
            #expect(otherName.status == 400)
            let tooLong = try await client.request(.patch, Self.deployments + "/web?fieldManager=" + String(repeating: "m", count: 129),
                body: Self.deploymentYAML(), contentType: Self.apply)
            #expect(tooLong.status == 422)
        }
    }

    @Test("creates and updates record their manager (fieldManager, else the User-Agent's product); a conflicting apply is a 409 with a cause per field; force takes over")
    func conflictsAndForce() async throws {
        try await TestServer.run { client in
            let created = try await client.request(.post, Self.deployments + "?fieldManager=kubectl-create",
                body: try ObjectCodec.decodeBody(Array(Self.deploymentYAML(replicas: 1).utf8), contentType: "application/yaml").encodedString())
            #expect(created.status == 201)
            #expect(Self.managers(created.body) == ["kubectl-create/Update"])

            let conflict = try await client.request(.patch, Self.deployments + "/web?fieldManager=ci", body: Self.deploymentYAML(replicas: 3, image: "nginx:1.28"),
                contentType: Self.apply)
            #expect(conflict.status == 409)
            #expect(conflict.body["reason"] == "Conflict")
            #expect(conflict.body["message"] == """
                Apply failed with 2 conflicts: conflicts with "kubectl-create" using apps/v1:
                - .spec.replicas
                - .spec.template.spec.containers[name="web"].image
                """)
            #expect(conflict.body["details"]?["causes"] == [
                ["reason": "FieldManagerConflict", "message": "conflict with \"kubectl-create\" using apps/v1", "field": ".spec.replicas"],
                ["reason": "FieldManagerConflict", "message": "conflict with \"kubectl-create\" using apps/v1",
                 "field": ".spec.template.spec.containers[name=\"web\"].image"],
            ])
            let unchanged = try await client.request(.get, Self.deployments + "/web")
            #expect(unchanged.body.value(at: ["spec", "replicas"]) == 1, "a refused apply writes nothing")

            let forced = try await client.request(.patch, Self.deployments + "/web?fieldManager=ci&force=true",
                body: Self.deploymentYAML(replicas: 3, image: "nginx:1.28"), contentType: Self.apply)
            #expect(forced.status == 200)
            #expect(forced.body.value(at: ["spec", "replicas"]) == 3)
            let creatorFields = forced.body.metadata?["managedFields"]?.arrayValue?.first { $0["manager"] == "kubectl-create" }?["fieldsV1"]
            #expect(creatorFields?["f:spec"]?["f:replicas"] == nil)
            #expect(creatorFields?["f:spec"]?["f:selector"] != nil)

            // A merge patch without fieldManager is recorded under the User-Agent's product name.
            let patched = try await client.request(.patch, Self.deployments + "/web", body: #"{"spec":{"replicas":6}}"#,
                contentType: "application/merge-patch+json", headers: [("User-Agent", "autoscaler/v2.1 (linux)")])
            #expect(Self.managers(patched.body).contains("autoscaler/Update"))
            let scaled = try await client.request(.patch, Self.deployments + "/web/scale?fieldManager=kubectl-scale",
                body: #"{"spec":{"replicas":7}}"#, contentType: "application/merge-patch+json")
            #expect(scaled.status == 200)
            let afterScale = try await client.request(.get, Self.deployments + "/web").body
            #expect(Self.managers(afterScale).contains("kubectl-scale/Update/scale"))
            #expect(!Self.managers(afterScale).contains("autoscaler/Update"), "a manager left with no fields is dropped")
        }
    }

    @Test("status is applied through the status subresource only; dry runs write nothing; clients may rewrite managedFields")
    func statusDryRunAndRewrites() async throws {
        try await TestServer.run { client in
            _ = try await client.request(.patch, Self.deployments + "/web?fieldManager=ci", body: Self.deploymentYAML(), contentType: Self.apply)
            let status = """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: web}
                status: {replicas: 9, observedGeneration: 1}
                """
            let ignored = try await client.request(.patch, Self.deployments + "/web?fieldManager=ci", body: Self.deploymentYAML() + "\nstatus: {replicas: 9}",
                contentType: Self.apply)
            #expect(ignored.status == 200 && ignored.body.value(at: ["status", "replicas"]) == nil)
            let applied = try await client.request(.patch, Self.deployments + "/web/status?fieldManager=reporter", body: status, contentType: Self.apply)
            #expect(applied.status == 200, "\(applied.body)")
            #expect(applied.body.value(at: ["status", "replicas"]) == 9)
            #expect(Self.managers(applied.body).contains("reporter/Apply/status"))

            let before = try await client.request(.get, Self.deployments + "/web").body
            let dry = try await client.request(.patch, Self.deployments + "/web?fieldManager=ci&dryRun=All", body: Self.deploymentYAML(replicas: 5),
                contentType: Self.apply)
            #expect(dry.status == 200 && dry.body.value(at: ["spec", "replicas"]) == 5)
            let after = try await client.request(.get, Self.deployments + "/web").body
            #expect(after == before)

            // kubectl's move from client-side to server-side apply rewrites managedFields with a JSON patch.
            let rewrite = try await client.request(.patch, Self.deployments + "/web",
                body: #"[{"op":"replace","path":"/metadata/managedFields","value":[{"manager":"moved","operation":"Apply","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}]}]"#,
                contentType: "application/json-patch+json")
            #expect(rewrite.status == 200)
            #expect(Self.managers(rewrite.body) == ["moved/Apply"])
            let cleared = try await client.request(.patch, Self.deployments + "/web", body: #"{"metadata":{"managedFields":[{}]}}"#,
                contentType: "application/merge-patch+json")
            #expect(cleared.body.metadata?["managedFields"] == nil)
        }
    }

    @Test("custom objects merge by their schema's list types when two managers apply")
    func customKinds() async throws {
        try await TestServer.run { client in
            var definition = CustomResourceTests.widgetDefinition()
            var versions = definition.value(at: ["spec", "versions"])?.arrayValue ?? []
            versions[0].setValue(["type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                "items": ["type": "object", "required": ["name"], "properties": ["name": ["type": "string"], "port": ["type": "integer"]]]],
                at: ["schema", "openAPIV3Schema", "properties", "spec", "properties", "ports"])
            definition.setValue(.array([versions[0]]), at: ["spec", "versions"])
            try await CustomResourceTests.establish(client, definition)
            let first = """
                apiVersion: example.com/v1
                kind: Widget
                metadata: {name: w}
                spec: {size: 1, ports: [{name: http, port: 80}]}
                """
            let second = """
                apiVersion: example.com/v1
                kind: Widget
                metadata: {name: w}
                spec: {ports: [{name: metrics, port: 9090}]}
                """
            let a = try await client.request(.patch, CustomResourceTests.widgets + "/w?fieldManager=a", body: first, contentType: Self.apply)
            #expect(a.status == 201, "\(a.body)")
            let b = try await client.request(.patch, CustomResourceTests.widgets + "/w?fieldManager=b", body: second, contentType: Self.apply)
            #expect(b.status == 200, "\(b.body)")
            #expect(b.body.value(at: ["spec", "ports"])?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["http", "metrics"])
            // a stops applying its port: it goes, b's stays.
            let dropped = try await client.request(.patch, CustomResourceTests.widgets + "/w?fieldManager=a",
                body: "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 1}", contentType: Self.apply)
            #expect(dropped.body.value(at: ["spec", "ports"])?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["metrics"])
        }
    }
}
