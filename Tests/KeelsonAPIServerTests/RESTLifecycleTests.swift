import KeelsonAPI
import Testing

@Suite("REST lifecycle rules")
struct RESTLifecycleTests {
    @Test("a terminating namespace refuses new content with 403")
    func terminatingNamespace() async throws {
        try await TestServer.run { client in
            _ = try await client.json(.post, "/api/v1/namespaces", ["metadata": ["name": "doomed"]])
            let deleted = try await client.request(.delete, "/api/v1/namespaces/doomed")
            #expect(deleted.status == 200)
            #expect(deleted.body.value(at: ["status", "phase"]) == "Terminating")
            let refused = try await client.json(.post, "/api/v1/namespaces/doomed/configmaps", ["metadata": ["name": "late"]])
            #expect(refused.status == 403)
            #expect(refused.body["reason"] == "Forbidden")
            #expect(refused.body["message"] == "configmaps \"late\" is forbidden: unable to create new content in namespace doomed because it is being terminated")
            // Emptying the namespace's finalizers (what the namespace controller does) removes it.
            let finalized = try await client.json(.put, "/api/v1/namespaces/doomed/finalize",
                ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "doomed"], "spec": ["finalizers": []]])
            #expect(finalized.status == 200)
            #expect(try await client.request(.get, "/api/v1/namespaces/doomed").status == 404)
        }
    }

    @Test("immutable fields: a Service's clusterIP and a Job's selector")
    func immutableFields() async throws {
        try await TestServer.run { client in
            let service = try await client.json(.post, "/api/v1/namespaces/default/services",
                ["metadata": ["name": "svc"], "spec": ["clusterIP": "10.43.0.20", "ports": [["port": 80]]]]).body
            #expect(service.value(at: ["spec", "ports"])?.arrayValue?.first?["targetPort"] == 80)
            var moved = service
            moved.setValue("10.43.0.21", at: ["spec", "clusterIP"])
            let refused = try await client.json(.put, "/api/v1/namespaces/default/services/svc", moved)
            #expect(refused.status == 422)
            #expect(refused.body["details"]?["causes"]?.arrayValue?.first?["field"] == "spec.clusterIPs[0]")

            let job = try await client.json(.post, "/apis/batch/v1/namespaces/default/jobs", [
                "metadata": ["name": "once"],
                "spec": ["template": ["spec": ["restartPolicy": "Never", "containers": [["name": "c", "image": "busybox"]]]]],
            ])
            #expect(job.status == 201)
            let uid = try #require(job.body.uid)
            #expect(job.body.value(at: ["spec", "selector", "matchLabels", "batch.kubernetes.io/controller-uid"]) == .string(uid))
            #expect(job.body.value(at: ["spec", "template", "metadata", "labels", "job-name"]) == "once")
            #expect(job.body.value(at: ["spec", "backoffLimit"]) == 6)
            let patched = try await client.request(.patch, "/apis/batch/v1/namespaces/default/jobs/once",
                body: #"{"spec":{"selector":{"matchLabels":{"other":"x"}}}}"#, contentType: "application/merge-patch+json")
            #expect(patched.status == 422)
            let badRestart = try await client.json(.post, "/apis/batch/v1/namespaces/default/jobs", [
                "metadata": ["name": "bad"],
                "spec": ["template": ["spec": ["containers": [["name": "c", "image": "busybox"]]]]],
            ])
            #expect(badRestart.status == 422)
        }
    }

    @Test("deletecollection removes what the selector matches")
    func deleteCollection() async throws {
        try await TestServer.run { client in
            for (name, tier) in [("a", "web"), ("b", "web"), ("c", "db")] {
                _ = try await client.json(.post, "/api/v1/namespaces/default/configmaps", ["metadata": ["name": .string(name), "labels": ["tier": .string(tier)]]])
            }
            let reply = try await client.request(.delete, "/api/v1/namespaces/default/configmaps?labelSelector=tier%3Dweb")
            #expect(reply.status == 200)
            #expect(reply.body["items"]?.arrayValue?.compactMap(\.name).sorted() == ["a", "b"])
            let left = try await client.request(.get, "/api/v1/namespaces/default/configmaps")
            #expect(left.body["items"]?.arrayValue?.compactMap(\.name) == ["c"])
        }
    }

    @Test("a watch from a compacted resourceVersion answers 410 Expired so the client relists")
    func watchCompacted() async throws {
        try await TestServer.run { client, store in
            let first = try await client.json(.post, "/api/v1/namespaces/default/configmaps", ["metadata": ["name": "one"]]).body
            _ = try await client.json(.post, "/api/v1/namespaces/default/configmaps", ["metadata": ["name": "two"]])
            try await store.compact(through: try await store.currentRevision())
            let rv = try #require(first.resourceVersion)
            let reply = try await client.request(.get, "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=\(rv)")
            #expect(reply.status == 200)
            #expect(reply.body["type"] == "ERROR")
            #expect(reply.body["object"]?["code"] == 410)
            #expect(reply.body["object"]?["reason"] == "Expired")
            let list = try await client.request(.get, "/api/v1/namespaces/default/configmaps?resourceVersion=\(rv)&resourceVersionMatch=Exact")
            #expect(list.status == 410)
        }
    }

    @Test("a watch with a timeout replays events after its resourceVersion and ends")
    func watchReplay() async throws {
        try await TestServer.run { client in
            let start = try await client.request(.get, "/api/v1/namespaces/default/configmaps").body["metadata"]?["resourceVersion"]?.stringValue ?? "0"
            _ = try await client.json(.post, "/api/v1/namespaces/default/configmaps", ["metadata": ["name": "w", "labels": ["k": "v"]]])
            _ = try await client.request(.patch, "/api/v1/namespaces/default/configmaps/w", body: #"{"metadata":{"labels":{"k":"other"}}}"#,
                contentType: "application/merge-patch+json")
            _ = try await client.request(.delete, "/api/v1/namespaces/default/configmaps/w")
            let all = try await client.request(.get, "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1&resourceVersion=\(start)")
            let lines = (all.body.stringValue ?? "").split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }
            #expect(lines.map { $0["type"]?.stringValue ?? "" } == ["ADDED", "MODIFIED", "DELETED"])
            // With a selector, the object leaving the selection is a DELETED event.
            let selected = try await client.request(.get,
                "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1&labelSelector=k%3Dv&resourceVersion=\(start)")
            let selectedEvents = (selected.body.stringValue ?? selected.body.encodedString()).split(separator: "\n")
                .compactMap { try? JSONParser.parse(String($0)) }
            #expect(selectedEvents.map { $0["type"]?.stringValue ?? "" } == ["ADDED", "DELETED"])
        }
    }

    @Test("/metrics counts requests by verb, resource and code in Prometheus text format")
    func metrics() async throws {
        try await TestServer.run { client in
            _ = try await client.json(.post, "/api/v1/namespaces/default/configmaps", ["metadata": ["name": "m"]])
            _ = try await client.request(.get, "/api/v1/namespaces/default/configmaps/missing")
            let reply = try await client.request(.get, "/metrics", accept: "text/plain")
            let text = reply.body.stringValue ?? ""
            #expect(reply.contentType?.hasPrefix("text/plain") == true)
            #expect(text.contains(#"apiserver_request_total{verb="POST",resource="configmaps",code="201"} 1"#))
            #expect(text.contains(#"apiserver_request_total{verb="GET",resource="configmaps",code="404"} 1"#))
            #expect(text.contains("apiserver_request_duration_seconds_bucket"))
        }
    }
}
