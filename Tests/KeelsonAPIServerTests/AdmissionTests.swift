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
