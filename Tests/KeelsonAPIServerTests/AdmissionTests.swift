import KeelsonAPI
import Testing

@Suite("Admission")
struct AdmissionTests {
    @Test("new pods tolerate not-ready and unreachable nodes for 300 s unless they say otherwise")
    func defaultTolerationSeconds() async throws {
        try await TestServer.run { client in
            let plain: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "plain"],
                                    "spec": ["containers": [["name": "c", "image": "busybox"]]]]
            let created = try await client.json(.post, "/api/v1/namespaces/default/pods", plain)
            #expect(created.status == 201)
            let tolerations = created.body.value(at: ["spec", "tolerations"])?.arrayValue ?? []
            #expect(tolerations.count == 2)
            for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
                #expect(tolerations.contains { $0["key"] == .string(key) && $0["tolerationSeconds"] == 300 && $0["effect"] == "NoExecute" })
            }
            var own = plain
            own.name = "own"
            own.setValue([["operator": "Exists"]], at: ["spec", "tolerations"])
            let kept = try await client.json(.post, "/api/v1/namespaces/default/pods", own)
            #expect(kept.body.value(at: ["spec", "tolerations"]) == [["operator": "Exists"]])
        }
    }
}

@Suite("Eviction and disruption budgets")
struct EvictionTests {
    @Test("an eviction spends the budget's last disruption; the next is a 429 naming the budget")
    func budgetHonoured() async throws {
        try await TestServer.run { client in
            for name in ["a", "b"] {
                let pod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "labels": ["app": "web"]],
                                      "spec": ["containers": [["name": "c", "image": "busybox"]]]]
                #expect(try await client.json(.post, "/api/v1/namespaces/default/pods", pod).status == 201)
                let ready = #"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#
                _ = try await client.request(.patch, "/api/v1/namespaces/default/pods/\(name)/status", body: ready,
                    contentType: "application/merge-patch+json")
            }
            let pdb: JSONValue = ["apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": ["name": "web"],
                                  "spec": ["minAvailable": 1, "selector": ["matchLabels": ["app": "web"]]]]
            #expect(try await client.json(.post, "/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb).status == 201)
            // What the disruption controller would write.
            let status = #"{"status":{"observedGeneration":1,"currentHealthy":2,"desiredHealthy":1,"expectedPods":2,"disruptionsAllowed":1}}"#
            _ = try await client.request(.patch, "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web/status", body: status,
                contentType: "application/merge-patch+json")
            let eviction = { (name: String) -> JSONValue in ["apiVersion": "policy/v1", "kind": "Eviction", "metadata": ["name": .string(name)]] }
            let first = try await client.json(.post, "/api/v1/namespaces/default/pods/a/eviction", eviction("a"))
            #expect(first.status == 201)
            #expect(try await client.request(.get, "/api/v1/namespaces/default/pods/a").status == 404)
            let spent = try await client.request(.get, "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web")
            #expect(spent.body.value(at: ["status", "disruptionsAllowed"]) == 0)
            #expect(spent.body.value(at: ["status", "disruptedPods", "a"]) != nil)
            let second = try await client.json(.post, "/api/v1/namespaces/default/pods/b/eviction", eviction("b"))
            #expect(second.status == 429)
            #expect(second.body["reason"] == "TooManyRequests")
            #expect(second.body["details"]?["causes"]?.arrayValue?.first?["reason"] == "DisruptionBudget")
            #expect(try await client.request(.get, "/api/v1/namespaces/default/pods/b").status == 200)
        }
    }
}
