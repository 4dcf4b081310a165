import AsyncHTTPClient
import Foundation
import Hummingbird
import KeelsonAPI
import NIOCore

/// Forwards the pod subresources that only the node can answer (`pods/log`) to the kubelet of the pod's node,
/// found from the Node's InternalIP and kubelet port, and streams the answer back as it comes.
final class KubeletProxy: Sendable {
    /// The process-wide client: it needs no shutdown, so an API server that never ran has nothing to release.
    private var http: HTTPClient { .shared }

    /// The kubelet's base URL for a Node object.
    static func kubeletURL(_ node: JSONValue) -> String? {
        let addresses = node["status"]?["addresses"]?.arrayValue ?? []
        let address = ["InternalIP", "ExternalIP", "Hostname"].lazy.compactMap { type in
            addresses.first { $0["type"]?.stringValue == type }?["address"]?.stringValue
        }.first
        guard let address else { return nil }
        let port = node["status"]?["daemonEndpoints"]?["kubeletEndpoint"]?["Port"]?.intValue ?? 10250
        return "http://\(address.contains(":") ? "[\(address)]" : address):\(port)"
    }

    func get(_ url: String) async throws -> Response {
        let response: HTTPClientResponse
        do {
            response = try await http.execute(HTTPClientRequest(url: url), timeout: .hours(24))
        } catch {
            throw Status(code: 500, reason: .internalError, message: "error trying to reach the kubelet at \(url): \(error)")
        }
        guard response.status == .ok else {
            let body = (try? await response.body.collect(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
            let code = Int(response.status.code)
            throw Status(code: code == 404 ? 400 : 500, reason: code == 404 ? .badRequest : .internalError,
                message: body.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let body = ResponseBody { writer in
            for try await chunk in response.body { try await writer.write(chunk) }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/plain"], body: body)
    }
}
