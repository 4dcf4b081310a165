import Foundation
import HTTPTypes
import HummingbirdWSClient
import HummingbirdWebSocket
import KeelsonAPI
import Logging
import NIOConcurrencyHelpers
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

    /// A stream request on a pod: `/api/v1/namespaces/NS/pods/NAME/{exec,attach,portforward}`.
    struct PodStream {
        var namespace: String
        var name: String
        var kind: String
        var components: URLComponents

        var portForward: Bool { kind == "portforward" }

        init?(path: String?) {
            guard let components = URLComponents(string: path ?? "") else { return nil }
            let parts = components.path.split(separator: "/").map(String.init)
            guard parts.count == 7, parts[0] == "api", parts[1] == "v1", parts[2] == "namespaces", parts[4] == "pods",
                  ["exec", "attach", "portforward"].contains(parts[6]) else { return nil }
            (namespace, name, kind, self.components) = (parts[3], parts[5], parts[6], components)
        }
    }

    /// Where an exec or attach request on a pod goes.
    func target(_ request: HTTPRequest) async -> Target {
        guard let stream = PodStream(path: request.path) else { return .notStreaming }
        let offered = (request.headerFields[Self.protocolHeader] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let subprotocol = (stream.portForward ? [Self.portForwardTunnel] : Self.supported).first(where: offered.contains) else { return .notStreaming }
        do {
            let (url, nodeName) = try await kubeletSession(stream)
            return .kubelet(url: url, subprotocol: subprotocol, nodeName: nodeName)
        } catch where stream.portForward {
            return .notStreaming
        } catch let status as Status {
            return .refused(status, subprotocol: subprotocol)
        } catch {
            return .refused(Status.internalError("\(error)"), subprotocol: subprotocol)
        }
    }

    /// The kubelet URL (as a WebSocket URL) of a stream, and the node whose certificate the kubelet presents;
    /// throws the Status that says why there is none (no such pod or container, no node yet).
    func kubeletSession(_ stream: PodStream) async throws -> (url: String, nodeName: String) {
        guard let pods = handler.registry.lookup(group: "", version: "v1", resource: "pods"),
              let nodes = handler.registry.lookup(group: "", version: "v1", resource: "nodes") else {
            throw Status.internalError("pods and nodes are not served")
        }
        let pod = try await handler.get(pods, namespace: stream.namespace, name: stream.name)
        let container = stream.portForward ? ""
            : try Self.container(pod, requested: stream.components.queryItems?.first { $0.name == "container" }?.value)
        guard let nodeName = pod["spec"]?["nodeName"]?.stringValue, !nodeName.isEmpty else {
            throw Status.badRequest("pod \(stream.name) does not have a host assigned")
        }
        let node = try await handler.get(nodes, namespace: nil, name: nodeName)
        guard let base = handler.kubelets?.kubeletURL(node) else {
            throw Status.internalError("node \(nodeName) has no address for its kubelet")
        }
        let query = stream.components.percentEncodedQuery.map { "?" + $0 } ?? ""
        let path = stream.portForward ? "/portForward/\(stream.namespace)/\(stream.name)"
            : "/\(stream.kind)/\(stream.namespace)/\(stream.name)/\(container)" + query
        let url = base.replacingOccurrences(of: "https://", with: "wss://").replacingOccurrences(of: "http://", with: "ws://") + path
        return (url, nodeName)
    }

    /// A WebSocket connection to the kubelet, as the API server makes them for every stream.
    func connectKubelet(url: String, subprotocol: String, nodeName: String,
                        _ body: @escaping @Sendable (WebSocketInboundStream, WebSocketOutboundWriter) async throws -> Void) async throws {
        var configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 20)
        configuration.additionalHeaders[Self.protocolHeader] = subprotocol
        // The kubelet's certificate names its node (and its address, which TLS's server name cannot carry).
        configuration.sniHostname = nodeName
        _ = try await WebSocketClient.connect(url: url, configuration: configuration, tlsConfiguration: handler.kubelets?.tls, logger: logger) {
            kubeletIn, kubeletOut, _ in try await body(kubeletIn, kubeletOut)
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
        return .upgrade([Self.protocolHeader: subprotocol]) { inbound, outbound, _ in
            do {
                try await connectKubelet(url: url, subprotocol: subprotocol, nodeName: nodeName) { kubeletIn, kubeletOut in
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

extension PodStreamProxy {
    static let streamProtocolHeader = HTTPField.Name("X-Stream-Protocol-Version")!
    /// The channel protocol of exec and attach over SPDY: the one every kubectl since 1.5 offers first, and the one
    /// the kubelet speaks to the runtime.
    static let spdyChannelProtocol = "v4.channel.k8s.io"
    static let spdyPortForwardProtocol = "portforward.k8s.io"
    /// The kubelet's tunnel for an exec or attach session in SPDY: the runtime's own bytes, after a first text
    /// message with the Status of the runtime's answer.
    static let spdyExecTunnel = "SPDY/3.1+v4.channel.k8s.io"

    /// Serves a SPDY upgrade (kubectl ≤ 1.29 exec and attach, ≤ 1.30 port-forward): checked as the WebSocket ones
    /// are, then answered `101 Switching Protocols` once the kubelet has the session, and relayed byte for byte
    /// through a WebSocket to the kubelet, which ends the SPDY session (port-forward) or passes it on to the
    /// runtime's streaming server (exec, attach). A session that cannot be opened gets its Status as an HTTP
    /// answer, which kubectl prints.
    func serveSPDY(_ request: HTTPRequest, connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, leftover: ByteBuffer,
                   authorize: @Sendable () async throws -> Void) async {
        let logger = self.logger
        try? await connection.executeThenClose { inbound, outbound in
            let switched = NIOLockedValueBox(false)
            do {
                guard let stream = PodStream(path: request.path) else {
                    throw Status.badRequest("an upgrade to SPDY/3.1 is served for the exec, attach and portforward subresources of pods only")
                }
                let offered = request.headerFields[values: Self.streamProtocolHeader]
                    .flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
                let version = stream.portForward ? Self.spdyPortForwardProtocol : Self.spdyChannelProtocol
                guard offered.contains(version) else {
                    throw Status.badRequest("unable to upgrade: the server speaks \(version) over SPDY, the client offered [\(offered.joined(separator: ", "))]")
                }
                try await authorize()
                let (url, nodeName) = try await kubeletSession(stream)
                let tunnel = stream.portForward ? Self.portForwardTunnel : Self.spdyExecTunnel
                try await connectKubelet(url: url, subprotocol: tunnel, nodeName: nodeName) { kubeletIn, kubeletOut in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            var messages = kubeletIn.messages(maxSize: 1 << 24).makeAsyncIterator()
                            if !stream.portForward {
                                guard case .text(let text)? = try await messages.next() else {
                                    throw Status.internalError("the kubelet ended the session before the runtime answered")
                                }
                                guard let answer = (try? JSONParser.parse(text)).flatMap(Status.init(json:)) else {
                                    throw Status.internalError("the kubelet answered the session with \(text.prefix(200))")
                                }
                                guard answer.succeeded else { throw answer }
                            }
                            try await outbound.write(Self.switchingProtocols(version))
                            switched.withLockedValue { $0 = true }
                            while let message = try await messages.next() {
                                if case .binary(let data) = message { try await outbound.write(data) }
                            }
                        }
                        group.addTask {
                            if leftover.readableBytes > 0 { try await kubeletOut.write(.binary(leftover)) }
                            for try await chunk in inbound { try await kubeletOut.write(.binary(chunk)) }
                        }
                        // Either side ending ends the session: the kubelet's (the process exited, the forward
                        // closed) closes kubectl's connection; kubectl's going away closes the kubelet's.
                        try await group.next()
                        group.cancelAll()
                    }
                }
            } catch {
                logger.debug("SPDY stream ended", metadata: ["path": "\(request.path ?? "")", "error": "\(error)"])
                guard !switched.withLockedValue({ $0 }) else { return }
                let status = (error as? Status) ?? Status.internalError("error dialing the kubelet: \(error)")
                try? await outbound.write(Self.httpAnswer(status))
            }
        }
    }

    static func switchingProtocols(_ version: String) -> ByteBuffer {
        ByteBuffer(string: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
            + "\(streamProtocolHeader.rawName): \(version)\r\n\r\n")
    }

    /// A refused upgrade: the Status as the body of an HTTP answer, and the connection closed after it.
    static func httpAnswer(_ status: Status) -> ByteBuffer {
        let body = status.jsonValue.encoded()
        let reason = HTTPResponse.Status(code: status.code).reasonPhrase
        var buffer = ByteBuffer(string: "HTTP/1.1 \(status.code) \(reason)\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n")
        buffer.writeBytes(body)
        return buffer
    }
}
