import AsyncHTTPClient
import Foundation
import Hummingbird
import KeelsonAPI
import NIOCore
import NIOSSL
import Synchronization

/// The API server's way to the kubelets: the pod subresources only the node can answer (`pods/log`, and through
/// `PodStreamProxy` exec and attach), the node proxy, and the resource metrics. A kubelet is found from its Node's
/// InternalIP and kubelet port. With TLS (any secured server) it is called over HTTPS with the API server's kubelet
/// client certificate, and its serving certificate must come from the server CA and name that address, as
/// kube-apiserver with `--kubelet-certificate-authority` checks it.
final class KubeletProxy: Sendable {
    /// The client side of TLS toward kubelets; nil calls them over plain HTTP (servers without security, tests).
    let tls: TLSConfiguration?
    private let client = Mutex<HTTPClient?>(nil)

    init(tls: TLSConfiguration? = nil) {
        self.tls = tls
    }

    /// TLS toward kubelets from the server CA and the API server's kubelet client certificate.
    static func tls(serverCAPEM: String, identity: IssuedCertificate) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(serverCAPEM.utf8)))
        tls.certificateChain = [.certificate(try NIOSSLCertificate(bytes: try identity.certificate.derBytes, format: .der))]
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.keyPEM.utf8), format: .pem))
        return tls
    }

    /// Without TLS the process-wide client, which needs no shutdown; with it, one of its own made at first use, so
    /// that a server that never called a kubelet has nothing to release.
    var http: HTTPClient {
        guard let tls else { return .shared }
        return client.withLock { client in
            if let client { return client }
            var configuration = HTTPClient.Configuration()
            configuration.tlsConfiguration = tls
            let made = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            client = made
            return made
        }
    }

    func shutdown() async {
        let made = client.withLock { client in defer { client = nil }; return client }
        try? await made?.shutdown()
    }

    /// The kubelet's base URL for a Node object (`https://ADDRESS:PORT`, or `http://` without TLS).
    func kubeletURL(_ node: JSONValue) -> String? {
        let addresses = node["status"]?["addresses"]?.arrayValue ?? []
        let address = ["InternalIP", "ExternalIP", "Hostname"].lazy.compactMap { type in
            addresses.first { $0["type"]?.stringValue == type }?["address"]?.stringValue
        }.first
        guard let address else { return nil }
        let port = node["status"]?["daemonEndpoints"]?["kubeletEndpoint"]?["Port"]?.intValue ?? 10250
        return "\(tls == nil ? "http" : "https")://\(address.contains(":") ? "[\(address)]" : address):\(port)"
    }

    /// The kubelet's answer to a GET, streamed back as it comes; `contentType` when the kubelet names none.
    func get(_ url: String, contentType: String = "text/plain") async throws -> Response {
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
        let type = response.headers.first(name: "Content-Type") ?? contentType
        return Response(status: .ok, headers: [.contentType: type], body: body)
    }
}
