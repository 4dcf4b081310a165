import Foundation
import KeelsonAPI
import Testing

/// metrics.k8s.io as the API server serves it itself; the figures from real kubelets are checked end to end
/// (ContainerdNodeTests: kubectl top).
@Suite struct ResourceMetricsAPITests {
    @Test("metrics.k8s.io/v1beta1 is discovered with nodes and pods, get and list only")
    func discovery() async throws {
        try await TestServer.run { client in
            let groups = try await client.request(.get, "/apis")
            let group = groups.body["groups"]?.arrayValue?.first { $0["name"] == "metrics.k8s.io" }
            #expect(group?["preferredVersion"]?["groupVersion"] == "metrics.k8s.io/v1beta1")
            let list = try await client.request(.get, "/apis/metrics.k8s.io/v1beta1")
            let resources = list.body["resources"]?.arrayValue ?? []
            #expect(resources.map { $0["name"]?.stringValue ?? "" }.sorted() == ["nodes", "pods"])
            #expect(resources.first { $0["name"] == "pods" }?["namespaced"] == true)
            #expect(resources.allSatisfy { $0["verbs"] == ["get", "list"] })
        }
    }

    @Test("lists are empty without kubelets; a named object without figures is 404; writes and watches are 405")
    func answers() async throws {
        try await TestServer.run { client in
            let nodes = try await client.request(.get, "/apis/metrics.k8s.io/v1beta1/nodes")
            #expect(nodes.status == 200 && nodes.body["kind"] == "NodeMetricsList" && nodes.body["items"] == [])
            let pods = try await client.request(.get, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods")
            #expect(pods.status == 200 && pods.body["kind"] == "PodMetricsList")
            let missing = try await client.request(.get, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web")
            #expect(missing.status == 404 && missing.body["reason"] == "NotFound")
            #expect(missing.body["message"] == "pods.metrics.k8s.io \"web\" not found")
            let write = try await client.json(.post, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", ["metadata": ["name": "x"]])
            #expect(write.status == 405 && write.body["reason"] == "MethodNotAllowed")
            let watch = try await client.request(.get, "/apis/metrics.k8s.io/v1beta1/nodes?watch=true")
            #expect(watch.status == 405)
        }
    }
}
