import AsyncHTTPClient
import Foundation
import Hummingbird
import KeelsonAPI
import KeelsonStore
import NIOCore

/// `metrics.k8s.io/v1beta1` (NodeMetrics, PodMetrics), answered by the API server itself from the kubelets'
/// `/stats/summary` — what metrics-server adds to a Kubernetes cluster — so that `kubectl top` works out of the
/// box. Usage is the kubelet's: CPU averaged over its last 10 s, memory as working set.
struct ResourceMetricsAPI: Sendable {
    let handler: RESTHandler
    /// How long one kubelet may take to answer before its node is left out.
    var timeout: TimeAmount = .seconds(5)

    static let group = "metrics.k8s.io"
    static let window = "10s"

    func handle(_ request: APIRequest, path: ResourcePath, definition: ResourceDefinition) async throws -> Response {
        guard request.method == "GET" else {
            throw Status.methodNotAllowed("the server does not allow this method on the requested resource")
        }
        guard path.subresource == nil else { throw Status(code: 404, reason: .notFound, message: "the server could not find the requested resource") }
        let options = try ListOptions(query: request.query, definition: definition)
        if options.watch { throw Status.methodNotAllowed("watch is not supported on \(definition.plural).\(Self.group)") }
        let registry = handler.registry
        guard let nodes = registry.lookup(group: "", version: "v1", resource: "nodes"),
              let pods = registry.lookup(group: "", version: "v1", resource: "pods") else { throw Status.internalError("no nodes or pods resource") }
        if path.resource == "nodes" {
            var selected = try await objects(nodes, namespace: nil, name: path.name)
            selected = selected.filter { options.labelSelector.matches(Self.labels($0)) }
            let summaries = await summaries(of: selected)
            let items = selected.compactMap { node in summaries[node.name ?? ""].flatMap { nodeMetrics(node, $0) } }
            return try answer(items, path: path, definition: definition, kind: "NodeMetrics")
        }
        var selected = try await objects(pods, namespace: path.namespace, name: path.name)
        selected = selected.filter {
            options.labelSelector.matches(Self.labels($0)) && options.fieldSelector.matches(["metadata.name": $0.name ?? "",
                "metadata.namespace": $0.metadata?["namespace"]?.stringValue ?? ""])
        }
        let nodeNames = Set(selected.compactMap { $0["spec"]?["nodeName"]?.stringValue })
        let nodeObjects = try await objects(nodes, namespace: nil, name: nil).filter { nodeNames.contains($0.name ?? "") }
        let summaries = await summaries(of: nodeObjects)
        var byUID: [String: JSONValue] = [:]
        for summary in summaries.values {
            for pod in summary["pods"]?.arrayValue ?? [] {
                if let uid = pod["podRef"]?["uid"]?.stringValue { byUID[uid] = pod }
            }
        }
        let items = selected.compactMap { pod in pod.uid.flatMap { byUID[$0] }.flatMap { podMetrics(pod, $0) } }
        return try answer(items, path: path, definition: definition, kind: "PodMetrics")
    }

    private func answer(_ items: [JSONValue], path: ResourcePath, definition: ResourceDefinition, kind: String) throws -> Response {
        let apiVersion = JSONValue.string("\(Self.group)/v1beta1")
        if let name = path.name {
            guard let item = items.first else { throw Status.notFound(definition.plural, group: Self.group, name: name) }
            return RESTHandler.json(item)
        }
        return RESTHandler.json(["kind": .string(kind + "List"), "apiVersion": apiVersion, "metadata": [:], "items": .array(items)])
    }

    static func labels(_ object: JSONValue) -> [String: String] {
        (object.metadata?["labels"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
    }

    /// Nodes or pods from the store: one by name, or all (of a namespace).
    private func objects(_ definition: ResourceDefinition, namespace: String?, name: String?) async throws -> [JSONValue] {
        if let name {
            return (try? await handler.get(definition, namespace: namespace, name: name)).map { [$0] } ?? []
        }
        var out: [JSONValue] = []
        var after: String?
        repeat {
            let page = try await handler.store.range(prefix: definition.prefix(namespace: namespace), at: nil, startAfter: after, limit: 500)
            for stored in page.items { out.append(try ObjectCodec.decodeStored(stored)) }
            after = page.more ? page.items.last?.key : nil
        } while after != nil
        return out
    }

    /// Each reachable node's summary, by node name, asked of all of them at once; a node that does not answer in
    /// time is left out, as metrics-server leaves out a node it cannot scrape.
    private func summaries(of nodes: [JSONValue]) async -> [String: JSONValue] {
        await withTaskGroup(of: (String, JSONValue?).self) { group in
            for node in nodes {
                guard let kubelets = handler.kubelets, let name = node.name, let base = kubelets.kubeletURL(node) else { continue }
                group.addTask { [timeout] in
                    do {
                        let response = try await kubelets.http.execute(HTTPClientRequest(url: base + "/stats/summary"), timeout: timeout)
                        guard response.status == .ok else { return (name, nil) }
                        let body = try await response.body.collect(upTo: 64 * 1024 * 1024)
                        return (name, try JSONParser.parse(Array(body.readableBytesView)))
                    } catch {
                        return (name, nil)
                    }
                }
            }
            var out: [String: JSONValue] = [:]
            for await (name, summary) in group { if let summary { out[name] = summary } }
            return out
        }
    }

    static func usage(cpu: JSONValue?, memory: JSONValue?) -> JSONValue? {
        guard let nanoCores = cpu?["usageNanoCores"]?.intValue, let workingSet = memory?["workingSetBytes"]?.intValue else { return nil }
        return ["cpu": .string("\(nanoCores)n"), "memory": .string("\(workingSet / 1024)Ki")]
    }

    private func nodeMetrics(_ node: JSONValue, _ summary: JSONValue) -> JSONValue? {
        guard let usage = Self.usage(cpu: summary["node"]?["cpu"], memory: summary["node"]?["memory"]) else { return nil }
        var metadata: [String: JSONValue] = ["name": node["metadata"]?["name"] ?? "", "creationTimestamp": .string(Timestamp.format(Date()))]
        if let labels = node.metadata?["labels"] { metadata["labels"] = labels }
        return ["kind": "NodeMetrics", "apiVersion": .string("\(Self.group)/v1beta1"), "metadata": .object(metadata),
                "timestamp": summary["node"]?["cpu"]?["time"] ?? .string(Timestamp.format(Date())), "window": .string(Self.window),
                "usage": usage]
    }

    private func podMetrics(_ pod: JSONValue, _ stats: JSONValue) -> JSONValue? {
        let containers: [JSONValue] = (stats["containers"]?.arrayValue ?? []).compactMap { container in
            Self.usage(cpu: container["cpu"], memory: container["memory"]).map { ["name": container["name"] ?? "", "usage": $0] }
        }
        // No figures yet (a pod started within the kubelet's last sample or two): not listed, as metrics-server does.
        guard !containers.isEmpty else { return nil }
        var metadata: [String: JSONValue] = ["name": pod["metadata"]?["name"] ?? "", "namespace": pod["metadata"]?["namespace"] ?? "",
            "creationTimestamp": .string(Timestamp.format(Date()))]
        if let labels = pod.metadata?["labels"] { metadata["labels"] = labels }
        let time = stats["containers"]?.arrayValue?.first?["cpu"]?["time"] ?? .string(Timestamp.format(Date()))
        return ["kind": "PodMetrics", "apiVersion": .string("\(Self.group)/v1beta1"), "metadata": .object(metadata),
                "timestamp": time, "window": .string(Self.window), "containers": .array(containers)]
    }
}
