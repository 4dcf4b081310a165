import Foundation
import HTTPTypes
import HummingbirdWSClient
import HummingbirdWebSocket
import KeelsonAPI
import Logging
import NIOCore

/// `pods/exec` and `pods/attach` over WebSocket (what kubectl 1.30+ speaks): the upgrade is accepted once the pod,
/// its container and its node's kubelet are known, and every message is relayed unchanged to the kubelet's
/// `/exec` or `/attach` session, in the channel protocol the client and kubelet agreed on. Requests that are
/// not upgrades fall through to the REST handler, which answers with the reason as a Status.
///
/// `pods/portforward` the same way, to the kubelet's `/portForward`: kubectl 1.31+ tunnels SPDY through the
/// WebSocket, and the messages are relayed as they are. A port-forward that cannot be opened is not upgraded (its
/// protocol has no channel for a Status), so the REST handler's Status answers it.
struct PodStreamProxy: Sendable {
    let handler: RESTHandler
    let logger: Logger

    static let protocolHeader = HTTPField.Name("Sec-WebSocket-Protocol")!
    static let supported = ["v5.channel.k8s.io", "v4.channel.k8s.io"]
    static let portForwardTunnel = "SPDY/3.1+portforward.k8s.io"

    enum Target {
        /// Not an exec or attach WebSocket request: the REST handler answers it.
        case notStreaming
        /// A session that cannot be opened, for this reason (sent to the client on the error channel).
        case refused(Status, subprotocol: String)
        /// `nodeName`: the name the kubelet's certificate is checked for (TLS cannot name an IP address).
        case kubelet(url: String, subprotocol: String, nodeName: String)
    }

    /// Where an exec or attach request on a pod goes.
    func target(_ request: HTTPRequest) async -> Target {
        guard let components = URLComponents(string: request.path ?? "") else { return .notStreaming }
        let parts = components.path.split(separator: "/").map(String.init)
        // /api/v1/namespaces/NS/pods/NAME/exec
        guard parts.count == 7, parts[0] == "api", parts[1] == "v1", parts[2] == "namespaces", parts[4] == "pods",
              ["exec", "attach", "portforward"].contains(parts[6]) else { return .notStreaming }
        let offered = (request.headerFields[Self.protocolHeader] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let (namespace, name, kind) = (parts[3], parts[5], parts[6])
        let portForward = kind == "portforward"
        guard let subprotocol = (portForward ? [Self.portForwardTunnel] : Self.supported).first(where: offered.contains) else { return .notStreaming }
        guard let pods = handler.registry.lookup(group: "", version: "v1", resource: "pods"),
              let nodes = handler.registry.lookup(group: "", version: "v1", resource: "nodes") else { return .notStreaming }
        do {
            let pod = try await handler.get(pods, namespace: namespace, name: name)
            let container = portForward ? "" : try Self.container(pod, requested: components.queryItems?.first { $0.name == "container" }?.value)
            guard let nodeName = pod["spec"]?["nodeName"]?.stringValue, !nodeName.isEmpty else {
                throw Status.badRequest("pod \(name) does not have a host assigned")
            }
            let node = try await handler.get(nodes, namespace: nil, name: nodeName)
            guard let base = handler.kubelets?.kubeletURL(node) else {
                throw Status.internalError("node \(nodeName) has no address for its kubelet")
            }
            let query = components.percentEncodedQuery.map { "?" + $0 } ?? ""
            let path = portForward ? "/portForward/\(namespace)/\(name)" : "/\(kind)/\(namespace)/\(name)/\(container)" + query
            let url = base.replacingOccurrences(of: "https://", with: "wss://").replacingOccurrences(of: "http://", with: "ws://") + path
            return .kubelet(url: url, subprotocol: subprotocol, nodeName: nodeName)
        } catch where portForward {
            return .notStreaming
        } catch let status as Status {
            return .refused(status, subprotocol: subprotocol)
        } catch {
            return .refused(Status.internalError("\(error)"), subprotocol: subprotocol)
        }
    }

    /// The container a request names, or the pod's only one.
    static func container(_ pod: JSONValue, requested: String?) throws -> String {
        let all = ((pod["spec"]?["containers"]?.arrayValue ?? []) + (pod["spec"]?["initContainers"]?.arrayValue ?? []))
            .compactMap { $0["name"]?.stringValue }
        if let requested, !requested.isEmpty {
            guard all.contains(requested) else {
                throw Status.badRequest("container \(requested) is not valid for pod \(pod.name ?? "")")
            }
            return requested
        }
        let regular = (pod["spec"]?["containers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        guard regular.count == 1 else {
            throw Status.badRequest("a container name must be specified for pod \(pod.name ?? ""), choose one of: [\(regular.joined(separator: " "))]")
        }
        return regular[0]
    }

    func shouldUpgrade(_ request: HTTPRequest) async -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        let url: String
        let subprotocol: String
        let nodeName: String
        switch await target(request) {
        case .notStreaming:
            return .dontUpgrade
        case .refused(let status, let chosen):
            return .upgrade([Self.protocolHeader: chosen]) { _, outbound, _ in try await Self.report(status, to: outbound) }
        case .kubelet(let target, let chosen, let node):
            (url, subprotocol, nodeName) = (target, chosen, node)
        }
        let logger = self.logger
        let tls = handler.kubelets?.tls
        return .upgrade([Self.protocolHeader: subprotocol]) { inbound, outbound, _ in
            var configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 20)
            configuration.additionalHeaders[Self.protocolHeader] = subprotocol
            // The kubelet's certificate names its node (and its address, which TLS's server name cannot carry).
            configuration.sniHostname = nodeName
            do {
                try await WebSocketClient.connect(url: url, configuration: configuration, tlsConfiguration: tls, logger: logger) { kubeletIn, kubeletOut, _ in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await message in inbound.messages(maxSize: 1 << 24) {
                                if case .binary(let data) = message { try await kubeletOut.write(.binary(data)) }
                            }
                        }
                        for try await message in kubeletIn.messages(maxSize: 1 << 24) {
                            if case .binary(let data) = message { try await outbound.write(.binary(data)) }
                        }
                        group.cancelAll()
                    }
                }
            } catch {
                logger.debug("kubelet stream failed", metadata: ["url": "\(url)", "error": "\(error)"])
                if subprotocol != Self.portForwardTunnel {
                    try await Self.report(Status.internalError("error dialing the kubelet: \(error)"), to: outbound)
                }
            }
        }
    }

    /// A failed session as kubectl reads it: the Status on the error channel (3).
    static func report(_ status: Status, to outbound: WebSocketOutboundWriter) async throws {
        var buffer = ByteBuffer(integer: UInt8(3))
        buffer.writeBytes(status.jsonValue.encoded())
        try await outbound.write(.binary(buffer))
    }
}
