import HTTPTypes
import KeelsonAPI
import Testing

@testable import KeelsonAPIServer

@Suite("OpenAPI documents")
struct OpenAPITests {
    static let configMapPatch = "/api/v1/namespaces/{namespace}/configmaps/{name}"

    @Test("/openapi/v2 in JSON: every resource's PATCH names its kind and takes fieldValidation")
    func swaggerJSON() async throws {
        try await TestServer.run { client in
            let reply = try await client.request(.get, "/openapi/v2")
            #expect(reply.status == 200)
            #expect(reply.body["swagger"] == "2.0")
            let patch = reply.body["paths"]?[Self.configMapPatch]?["patch"]
            #expect(patch?["x-kubernetes-group-version-kind"] == ["group": "", "version": "v1", "kind": "ConfigMap"])
            let names = patch?["parameters"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(names.contains("fieldValidation"))
            #expect(patch?["parameters"]?.arrayValue?.first?["type"] == "string", "Swagger 2.0 puts the type beside the name")
        }
    }

    @Test("/openapi/v2 in protobuf, as kubectl 1.27 asks for it, with an ETag honoured by If-None-Match")
    func swaggerProtobuf() async throws {
        try await TestServer.run { client in
            let accept = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
            let reply = try await client.request(.get, "/openapi/v2", accept: accept)
            #expect(reply.status == 200)
            #expect(reply.contentType == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
            // Document.swagger (field 1, length-delimited) = "2.0".
            #expect(Array(reply.bytes.prefix(5)) == [0x0A, 0x03] + Array("2.0".utf8))
            // The path of ConfigMaps, its GVK extension and the fieldValidation parameter are all in it.
            let text = String(decoding: reply.bytes, as: UTF8.self)
            #expect(text.contains(Self.configMapPatch))
            #expect(text.contains("x-kubernetes-group-version-kind") && text.contains("kind: ConfigMap\n"))
            #expect(text.contains("fieldValidation"))
            let etag = try #require(reply.headers[.eTag])
            let again = try await client.request(.get, "/openapi/v2", accept: accept, headers: [("If-None-Match", etag)])
            #expect(again.status == 304)
            #expect(again.bytes.isEmpty)
            let other = try await client.request(.get, "/openapi/v2", accept: accept, headers: [("If-None-Match", "\"stale\"")])
            #expect(other.status == 200)
        }
    }

    @Test("a custom resource's group version appears in the v3 index and in v2 once its definition is established")
    func customResourcesInOpenAPI() async throws {
        try await TestServer.run { client in
            // Fetched first, so the documents cached before the definition must be made again after it.
            #expect(try await client.request(.get, "/openapi/v3").body["paths"]?["apis/example.com/v1"] == nil)
            #expect(try await client.request(.get, "/openapi/v2").body["paths"]?["/apis/example.com/v1beta1/namespaces/{namespace}/widgets/{name}"] == nil)
            try await CustomResourceTests.establish(client, CustomResourceTests.widgetDefinition())
            let index = try await client.request(.get, "/openapi/v3").body
            let url = try #require(index["paths"]?["apis/example.com/v1"]?["serverRelativeURL"]?.stringValue)
            let document = try await client.request(.get, url)
            #expect(document.status == 200)
            #expect(document.headers[.eTag] != nil)
            let patch = document.body["paths"]?["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]?["patch"]
            #expect(patch?["x-kubernetes-group-version-kind"]?["kind"] == "Widget")
            let swagger = try await client.request(.get, "/openapi/v2").body
            #expect(swagger["paths"]?["/apis/example.com/v1beta1/namespaces/{namespace}/widgets/{name}"] != nil)
        }
    }

    /// Every `$ref` anywhere in `value`.
    static func references(in value: JSONValue) -> [String] {
        switch value {
        case .object(let members):
            return (members["$ref"]?.stringValue.map { [$0] } ?? []) + members.values.flatMap(references(in:))
        case .array(let items): return items.flatMap(references(in:))
        default: return []
        }
    }

    @Test("built-in kinds are published with their schemas in v3 and v2: tagged with their kind, described, every reference resolves")
    func builtinSchemas() async throws {
        try await TestServer.run { client in
            let apps = try await client.request(.get, "/openapi/v3/apis/apps/v1").body
            let schemas = try #require(apps["components"]?["schemas"]?.objectValue)
            let deployment = try #require(schemas["io.k8s.api.apps.v1.Deployment"])
            #expect(deployment["x-kubernetes-group-version-kind"] == [["group": "apps", "kind": "Deployment", "version": "v1"]])
            #expect(deployment["description"]?.stringValue?.isEmpty == false)
            #expect(deployment["properties"]?["spec"]?["allOf"] == [["$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"]])
            #expect(schemas["io.k8s.api.core.v1.Container"]?["required"] == ["name"])
            #expect(schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]?["x-kubernetes-int-or-string"] == true)
            let unresolved = Self.references(in: apps).filter { schemas[String($0.dropFirst("#/components/schemas/".count))] == nil }
            #expect(unresolved.isEmpty, "\(unresolved)")

            let core = try await client.request(.get, "/openapi/v3/api/v1").body
            #expect(core["components"]?["schemas"]?["io.k8s.api.core.v1.Pod"]?["x-kubernetes-group-version-kind"]?.arrayValue?.first?["kind"] == "Pod")

            let swagger = try await client.request(.get, "/openapi/v2").body
            let definitions = try #require(swagger["definitions"]?.objectValue)
            #expect(definitions["io.k8s.api.batch.v1.CronJob"]?["x-kubernetes-group-version-kind"]?.arrayValue?.first?["kind"] == "CronJob")
            let missing = Self.references(in: swagger).filter { definitions[String($0.dropFirst("#/definitions/".count))] == nil }
            #expect(missing.isEmpty, "\(missing)")
        }
    }
}
