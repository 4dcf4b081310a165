import HTTPTypes
import KeelsonAPI
import Testing

@Suite("REST behaviour")
struct RESTBehaviourTests {
    static let pod: JSONValue = [
        "apiVersion": "v1", "kind": "Pod",
        "metadata": ["name": "p1", "labels": ["app": "web"]],
        "spec": ["containers": [["name": "c", "image": "busybox"]]],
    ]

    @Test("a key a JSON body repeats: refused under Strict naming its path, a warning under Warn, ignored under Ignore")
    func duplicateFields() async throws {
        try await TestServer.run { client in
            let body = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"NAME"},"data":{"a":"1","a":"2"}}"#
            let strict = try await client.request(.post, "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
                body: body.replacingOccurrences(of: "NAME", with: "s"))
            #expect(strict.status == 400)
            #expect(strict.body["message"]
                == #"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data.a""#)
            #expect(try await client.request(.get, "/api/v1/namespaces/default/configmaps/s").status == 404)

            let warned = try await client.request(.post, "/api/v1/namespaces/default/configmaps", body: body.replacingOccurrences(of: "NAME", with: "w"))
            #expect(warned.status == 201)
            #expect(warned.headers[values: HTTPField.Name("Warning")!] == [#"299 - "duplicate field \"data.a\"""#])
            #expect(warned.body["data"] == ["a": "2"], "the last value wins, as in Go's decoder")
            let ignored = try await client.request(.post, "/api/v1/namespaces/default/configmaps?fieldValidation=Ignore",
                body: body.replacingOccurrences(of: "NAME", with: "i"))
            #expect(ignored.status == 201 && ignored.headers[HTTPField.Name("Warning")!] == nil)
        }
    }

    @Test("the system namespaces exist from the first start")
    func systemNamespaces() async throws {
        try await TestServer.run { client in
            let reply = try await client.request(.get, "/api/v1/namespaces")
            let names = reply.body["items"]?.arrayValue?.compactMap(\.name).sorted()
            #expect(names == ["default", "kube-node-lease", "kube-public", "kube-system"])
            #expect(reply.body["kind"] == "NamespaceList")
        }
    }

    @Test("create fills metadata and defaults; get returns the same object")
    func createAndGet() async throws {
        try await TestServer.run { client in
            let created = try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod)
            #expect(created.status == 201)
            let object = created.body
            #expect(object.uid?.count == 36)
            #expect(object.resourceVersion != nil)
            #expect(object.creationTimestamp != nil)
            #expect(object.namespace == "default")
            #expect(object.value(at: ["spec", "restartPolicy"]) == "Always")
            #expect(object.value(at: ["spec", "dnsPolicy"]) == "ClusterFirst")
            #expect(object.value(at: ["spec", "terminationGracePeriodSeconds"]) == 30)
            #expect(object.value(at: ["spec", "containers"])?.arrayValue?.first?["imagePullPolicy"] == "Always")
            #expect(object.value(at: ["spec", "containers"])?.arrayValue?.first?["terminationMessagePath"] == "/dev/termination-log")
            #expect(object.value(at: ["status", "phase"]) == "Pending")
            #expect(object.value(at: ["status", "qosClass"]) == "BestEffort")
            let fetched = try await client.request(.get, "/api/v1/namespaces/default/pods/p1")
            #expect(fetched.status == 200)
            #expect(fetched.body == object)
        }
    }

    @Test("errors are Status objects with Kubernetes' codes and reasons")
    func errors() async throws {
        try await TestServer.run { client in
            _ = try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod)
            let exists = try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod)
            #expect(exists.status == 409)
            #expect(exists.body["reason"] == "AlreadyExists")
            #expect(exists.body["message"] == "pods \"p1\" already exists")
            #expect(exists.body["kind"] == "Status")

            let missing = try await client.request(.get, "/apis/apps/v1/namespaces/default/deployments/nope")
            #expect(missing.status == 404)
            #expect(missing.body["message"] == "deployments.apps \"nope\" not found")
            #expect(missing.body["details"]?["group"] == "apps")

            let malformed = try await client.request(.post, "/api/v1/namespaces/default/configmaps", body: "{\"metadata\": ")
            #expect(malformed.status == 400)
            #expect(malformed.body["reason"] == "BadRequest")

            let badYAML = try await client.request(.post, "/api/v1/namespaces/default/configmaps", body: "metadata: [unclosed", contentType: "application/yaml")
            #expect(badYAML.status == 400)

            let unsupported = try await client.request(.post, "/api/v1/namespaces/default/configmaps", body: "x", contentType: "application/xml")
            #expect(unsupported.status == 415)

            let wrongKind = try await client.json(.post, "/api/v1/namespaces/default/configmaps", ["kind": "Secret", "apiVersion": "v1", "metadata": ["name": "x"]])
            #expect(wrongKind.status == 400)

            let wrongVersion = try await client.json(.post, "/api/v1/namespaces/default/configmaps", ["kind": "ConfigMap", "apiVersion": "v2", "metadata": ["name": "x"]])
            #expect(wrongVersion.status == 400)

            let unknownKind = try await client.request(.get, "/api/v1/namespaces/default/widgets")
            #expect(unknownKind.status == 404)

            let notAllowed = try await client.request(.put, "/api/v1/namespaces/default/configmaps", body: "{}")
            #expect(notAllowed.status == 405)
            #expect(notAllowed.body["reason"] == "MethodNotAllowed")

            let noNamespace = try await client.json(.post, "/api/v1/namespaces/ghost/configmaps", ["metadata": ["name": "x"]])
            #expect(noNamespace.status == 404)
            #expect(noNamespace.body["message"] == "namespaces \"ghost\" not found")
        }
    }

    @Test("invalid objects get 422 naming each bad field, and nothing is stored")
    func validation() async throws {
        try await TestServer.run { client in
            let longName = String(repeating: "a", count: 300)
            let reply = try await client.json(.post, "/api/v1/namespaces/default/pods", [
                "metadata": ["name": .string(longName), "labels": ["bad key!": "v"]],
                "spec": ["containers": [["name": "Bad_Name"]], "restartPolicy": "Sometimes"],
            ])
            #expect(reply.status == 422)
            #expect(reply.body["reason"] == "Invalid")
            let fields = Set(reply.body["details"]?["causes"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? [])
            #expect(fields.isSuperset(of: ["metadata.name", "metadata.labels", "spec.containers[0].name", "spec.containers[0].image", "spec.restartPolicy"]))
            let list = try await client.request(.get, "/api/v1/namespaces/default/pods")
            #expect(list.body["items"]?.arrayValue?.isEmpty == true)

            let deployment = try await client.json(.post, "/apis/apps/v1/namespaces/default/deployments", [
                "metadata": ["name": "d"],
                "spec": ["selector": ["matchLabels": ["app": "a"]], "template": ["metadata": ["labels": ["app": "b"]],
                         "spec": ["containers": [["name": "c", "image": "i"]]]]],
            ])
            #expect(deployment.status == 422)
            #expect(deployment.body["details"]?["causes"]?.arrayValue?.first?["field"] == "spec.template.metadata.labels")
        }
    }

    @Test("a stale resourceVersion is a 409 Conflict; generation counts spec changes only")
    func optimisticConcurrency() async throws {
        try await TestServer.run { client in
            let deployment: JSONValue = [
                "metadata": ["name": "web"],
                "spec": ["replicas": 1, "selector": ["matchLabels": ["app": "web"]],
                         "template": ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "c", "image": "nginx:1"]]]]],
            ]
            let created = try await client.json(.post, "/apis/apps/v1/namespaces/default/deployments", deployment).body
            #expect(created.generation == 1)
            #expect(created.value(at: ["spec", "strategy", "rollingUpdate", "maxSurge"]) == "25%")
            #expect(created.value(at: ["spec", "revisionHistoryLimit"]) == 10)
            var changed = created
            changed.setValue(3, at: ["spec", "replicas"])
            let updated = try await client.json(.put, "/apis/apps/v1/namespaces/default/deployments/web", changed)
            #expect(updated.status == 200)
            #expect(updated.body.generation == 2)
            let stale = try await client.json(.put, "/apis/apps/v1/namespaces/default/deployments/web", changed)
            #expect(stale.status == 409)
            #expect(stale.body["reason"] == "Conflict")
            var labelled = updated.body
            labelled.setValue(["x": "y"], at: ["metadata", "labels"])
            let relabelled = try await client.json(.put, "/apis/apps/v1/namespaces/default/deployments/web", labelled)
            #expect(relabelled.body.generation == 2)
            // Status written through the main resource is ignored; through /status only status changes.
            var withStatus = relabelled.body
            withStatus.setValue(["replicas": 3], at: ["status"])
            withStatus.setValue(9, at: ["spec", "replicas"])
            let statusWrite = try await client.json(.put, "/apis/apps/v1/namespaces/default/deployments/web/status", withStatus)
            #expect(statusWrite.body.value(at: ["status", "replicas"]) == 3)
            #expect(statusWrite.body.value(at: ["spec", "replicas"]) == 3)
            #expect(statusWrite.body.generation == 2)
        }
    }

    @Test("label and field selectors, and paginated lists with continue")
    func listOptions() async throws {
        try await TestServer.run { client in
            for i in 0..<7 {
                _ = try await client.json(.post, "/api/v1/namespaces/default/configmaps",
                    ["metadata": ["name": .string("cm-\(i)"), "labels": ["parity": .string(i % 2 == 0 ? "even" : "odd")]]])
            }
            let even = try await client.request(.get, "/api/v1/namespaces/default/configmaps?labelSelector=parity%3Deven")
            #expect(even.body["items"]?.arrayValue?.compactMap(\.name) == ["cm-0", "cm-2", "cm-4", "cm-6"])
            let byName = try await client.request(.get, "/api/v1/configmaps?fieldSelector=metadata.name%3Dcm-3")
            #expect(byName.body["items"]?.arrayValue?.compactMap(\.name) == ["cm-3"])
            let unsupported = try await client.request(.get, "/api/v1/configmaps?fieldSelector=spec.foo%3Dbar")
            #expect(unsupported.status == 400)
            var names: [String] = []
            var token = ""
            var pages = 0
            repeat {
                let page = try await client.request(.get, "/api/v1/namespaces/default/configmaps?limit=3" + (token.isEmpty ? "" : "&continue=\(token)"))
                names += page.body["items"]?.arrayValue?.compactMap(\.name) ?? []
                token = page.body["metadata"]?["continue"]?.stringValue ?? ""
                pages += 1
            } while !token.isEmpty && pages < 10
            #expect(pages == 3)
            #expect(names == (0..<7).map { "cm-\($0)" })
            let oddPage = try await client.request(.get, "/api/v1/namespaces/default/configmaps?limit=2&labelSelector=parity%3Dodd")
            #expect(oddPage.body["items"]?.arrayValue?.compactMap(\.name) == ["cm-1", "cm-3"])
            #expect(oddPage.body["metadata"]?["continue"]?.stringValue?.isEmpty == false)
            let badToken = try await client.request(.get, "/api/v1/namespaces/default/configmaps?limit=2&continue=garbage")
            #expect(badToken.status == 400)
        }
    }

    @Test("finalizers hold a deleted object until the last one is removed")
    func finalizers() async throws {
        try await TestServer.run { client in
            _ = try await client.json(.post, "/api/v1/namespaces/default/configmaps", ["metadata": ["name": "held", "finalizers": ["example.com/hold"]]])
            let marked = try await client.request(.delete, "/api/v1/namespaces/default/configmaps/held")
            #expect(marked.status == 200)
            #expect(marked.body.deletionTimestamp != nil)
            #expect(try await client.request(.get, "/api/v1/namespaces/default/configmaps/held").status == 200)
            let released = try await client.request(.patch, "/api/v1/namespaces/default/configmaps/held",
                body: #"{"metadata":{"finalizers":null}}"#, contentType: "application/merge-patch+json")
            #expect(released.status == 200)
            #expect(try await client.request(.get, "/api/v1/namespaces/default/configmaps/held").status == 404)
        }
    }

    @Test("scale subresource reads and writes replicas as autoscaling/v1 Scale")
    func scale() async throws {
        try await TestServer.run { client in
            _ = try await client.json(.post, "/apis/apps/v1/namespaces/default/replicasets", [
                "metadata": ["name": "rs"],
                "spec": ["replicas": 2, "selector": ["matchLabels": ["app": "x"]],
                         "template": ["metadata": ["labels": ["app": "x"]], "spec": ["containers": [["name": "c", "image": "i"]]]]],
            ])
            let scale = try await client.request(.get, "/apis/apps/v1/namespaces/default/replicasets/rs/scale")
            #expect(scale.body["kind"] == "Scale")
            #expect(scale.body["apiVersion"] == "autoscaling/v1")
            #expect(scale.body.value(at: ["spec", "replicas"]) == 2)
            #expect(scale.body.value(at: ["status", "selector"]) == "app=x")
            let patched = try await client.request(.patch, "/apis/apps/v1/namespaces/default/replicasets/rs/scale",
                body: #"{"spec":{"replicas":5}}"#, contentType: "application/merge-patch+json")
            #expect(patched.body.value(at: ["spec", "replicas"]) == 5)
            let rs = try await client.request(.get, "/apis/apps/v1/namespaces/default/replicasets/rs")
            #expect(rs.body.value(at: ["spec", "replicas"]) == 5)
        }
    }

    @Test("binding assigns a node once; a bound pod is deleted gracefully")
    func bindingAndGracefulDelete() async throws {
        try await TestServer.run { client in
            _ = try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod)
            let binding: JSONValue = ["apiVersion": "v1", "kind": "Binding", "metadata": ["name": "p1"], "target": ["kind": "Node", "name": "n1"]]
            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods/p1/binding", binding).status == 201)
            let again = try await client.json(.post, "/api/v1/namespaces/default/pods/p1/binding", binding)
            #expect(again.status == 409)
            let pod = try await client.request(.get, "/api/v1/namespaces/default/pods/p1").body
            #expect(pod.value(at: ["spec", "nodeName"]) == "n1")
            let deleted = try await client.request(.delete, "/api/v1/namespaces/default/pods/p1")
            #expect(deleted.body.deletionTimestamp != nil)
            #expect(deleted.body.metadata?["deletionGracePeriodSeconds"] == 30)
            let forced = try await client.request(.delete, "/api/v1/namespaces/default/pods/p1", body: #"{"gracePeriodSeconds":0}"#)
            #expect(forced.status == 200)
            #expect(try await client.request(.get, "/api/v1/namespaces/default/pods/p1").status == 404)
        }
    }

    @Test("secrets merge stringData into base64 data")
    func secretStringData() async throws {
        try await TestServer.run { client in
            let reply = try await client.json(.post, "/api/v1/namespaces/default/secrets",
                ["metadata": ["name": "s"], "stringData": ["user": "admin"], "data": ["pw": "aHVudGVyMg=="]])
            #expect(reply.body["data"] == ["user": "YWRtaW4=", "pw": "aHVudGVyMg=="])
            #expect(reply.body["stringData"] == nil)
            #expect(reply.body["type"] == "Opaque")
        }
    }

    @Test("server-side printing returns a Table with the pod columns")
    func table() async throws {
        try await TestServer.run { client in
            _ = try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod)
            let reply = try await client.request(.get, "/api/v1/namespaces/default/pods",
                accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
            #expect(reply.body["kind"] == "Table")
            let columns = reply.body["columnDefinitions"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
            #expect(columns == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"])
            let row = reply.body["rows"]?.arrayValue?.first
            #expect(row?["cells"]?.arrayValue?.prefix(4) == ["p1", "0/1", "Pending", 0])
            #expect(row?["object"]?["kind"] == "PartialObjectMetadata")
            #expect(row?["object"]?["metadata"]?["name"] == "p1")
        }
    }

    @Test("discovery: legacy lists and aggregated v2 and v2beta1 with the negotiated content type")
    func discovery() async throws {
        try await TestServer.run { client in
            let core = try await client.request(.get, "/api/v1")
            let names = core.body["resources"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(names.contains("pods") && names.contains("pods/status") && names.contains("pods/binding"))
            let apps = try await client.request(.get, "/apis/apps/v1")
            let scale = apps.body["resources"]?.arrayValue?.first { $0["name"] == "deployments/scale" }
            #expect(scale?["group"] == "autoscaling")
            #expect(scale?["kind"] == "Scale")
            for version in ["v2", "v2beta1"] {
                let aggregated = try await client.request(.get, "/apis",
                    accept: "application/json;g=apidiscovery.k8s.io;v=\(version);as=APIGroupDiscoveryList,application/json")
                #expect(aggregated.contentType == "application/json;g=apidiscovery.k8s.io;v=\(version);as=APIGroupDiscoveryList")
                #expect(aggregated.body["kind"] == "APIGroupDiscoveryList")
                let groups = aggregated.body["items"]?.arrayValue?.compactMap { $0["metadata"]?["name"]?.stringValue } ?? []
                #expect(groups.contains("apps") && groups.contains("batch"))
            }
            let legacy = try await client.request(.get, "/apis")
            #expect(legacy.body["kind"] == "APIGroupList")
            let version = try await client.request(.get, "/version")
            #expect(version.body["major"] == "1")
        }
    }

    @Test("pods/portforward without its WebSocket upgrade: 404 for a missing pod, 400 saying what it takes otherwise")
    func portForwardWithoutUpgrade() async throws {
        try await TestServer.run { client in
            let missing = try await client.request(.post, "/api/v1/namespaces/default/pods/nothing/portforward")
            #expect(missing.status == 404 && missing.body["reason"] == "NotFound")
            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod).status == 201)
            let unscheduled = try await client.request(.post, "/api/v1/namespaces/default/pods/p1/portforward")
            #expect(unscheduled.status == 400 && unscheduled.body["message"] == "pod p1 does not have a host assigned")
            let binding: JSONValue = ["apiVersion": "v1", "kind": "Binding", "metadata": ["name": "p1"], "target": ["kind": "Node", "name": "n1"]]
            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods/p1/binding", binding).status == 201)
            let plain = try await client.request(.get, "/api/v1/namespaces/default/pods/p1/portforward")
            #expect(plain.status == 400)
            #expect(plain.body["message"]?.stringValue?.contains("SPDY/3.1+portforward.k8s.io") == true, "\(plain.body)")
            let discovery = try await client.request(.get, "/api/v1")
            #expect(discovery.body["resources"]?.arrayValue?.contains { $0["name"] == "pods/portforward" } == true)
        }
    }
}
