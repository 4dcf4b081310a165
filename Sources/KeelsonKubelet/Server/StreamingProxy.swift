import Foundation
import HTTPTypes
import HummingbirdWebSocket
import KeelsonAPI
import KeelsonClient
import Logging
import NIOCore

/// `kubectl exec` and `attach` at the kubelet: `/exec/NS/POD/CONTAINER?command=…&stdin=…&stdout=…&stderr=…&tty=…`
/// upgraded to a WebSocket with Kubernetes' channel protocol, relayed to the session the runtime's streaming
/// server opens for the container. Each message is one channel byte (0 stdin, 1 stdout, 2 stderr, 3 the final
/// Status, 4 terminal resize) and its data; v5 adds channel 255 to close a stream. The kubelet offers v5 and v4 to
/// its clients and speaks SPDY to the runtime (`RuntimeStreamSession`), where closing stdin has a meaning.
///
/// `/portForward/NS/POD` is served here too, without the runtime's streaming server: SPDY tunnelled through the
/// WebSocket (what kubectl 1.31+ speaks), terminated by a `PortForwardSession`.
struct StreamingProxy: Sendable {
    let runtime: any ContainerRuntime
    let pods: Informer
    let stats: NodeStats
    let logger: Logger

    static let protocolHeader = HTTPField.Name("Sec-WebSocket-Protocol")!
    static let v5 = "v5.channel.k8s.io"
    static let v4 = "v4.channel.k8s.io"
    static let maxMessage = 1 << 24
    /// kubectl's port-forward protocol with the prefix that says its SPDY frames travel inside WebSocket messages.
    static let portForwardTunnel = "SPDY/3.1+portforward.k8s.io"
    /// The API server's tunnel for kubectl's SPDY exec and attach (kubectl ≤ 1.29): the runtime's streaming server
    /// speaks that same protocol, so its bytes are relayed as they are, after a first text message with the
    /// Status of the runtime's answer to the upgrade (the API server answers kubectl's upgrade only then).
    static let spdyTunnel = "SPDY/3.1+v4.channel.k8s.io"

    /// The channel protocol both sides support, preferring v5; nil when the client offers none of them.
    static func negotiate(_ offered: String?) -> String? {
        let protocols = offers(offered)
        return [v5, v4].first { protocols.contains($0) }
    }

    static func offers(_ header: String?) -> [String] {
        (header ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    func shouldUpgrade(_ request: HTTPRequest) async -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        guard let components = URLComponents(string: request.path ?? "") else { return .dontUpgrade }
        let parts = components.path.split(separator: "/").map(String.init)
        if parts.count == 3 && parts[0] == "portForward" { return await portForward(request, namespace: parts[1], pod: parts[2]) }
        let tunnel = Self.offers(request.headerFields[Self.protocolHeader]).contains(Self.spdyTunnel)
        guard let chosen = tunnel ? Self.spdyTunnel : Self.negotiate(request.headerFields[Self.protocolHeader]) else { return .dontUpgrade }
        guard parts.count == 4, let kind = StreamRequest.Kind(rawValue: parts[0]) else { return .dontUpgrade }
        // Form encoding: a "+" in the query is a space (kubectl encodes command arguments so).
        let query = (components.percentEncodedQueryItems ?? []).map {
            URLQueryItem(name: $0.name, value: $0.value?.replacingOccurrences(of: "+", with: "%20").removingPercentEncoding)
        }
        func flag(_ name: String) -> Bool { query.contains { $0.name == name && ($0.value == "true" || $0.value == "1") } }
        let (namespace, pod, container) = (parts[1], parts[2], parts[3])
        let url: String
        let stream: StreamRequest
        do {
            let instances = try await runtime.listContainers().filter {
                $0.labels[RuntimeLabels.podNamespace] == namespace && $0.labels[RuntimeLabels.podName] == pod && $0.name == container
                    && $0.state == .running
            }
            guard let running = instances.max(by: { $0.attempt < $1.attempt }) else {
                return Self.refuse(Status.badRequest("container \(container) in pod \(namespace)/\(pod) is not running"), chosen)
            }
            stream = StreamRequest(kind: kind, containerID: running.id, command: query.filter { $0.name == "command" }.compactMap(\.value),
                tty: flag("tty"), stdin: flag("stdin"), stdout: flag("stdout"), stderr: flag("stderr"))
            url = try await runtime.streamURL(stream)
        } catch {
            return Self.refuse(Status.internalError("the container runtime refused the session: \(error)"), chosen)
        }
        let logger = self.logger
        if tunnel { return Self.relaySPDY(url: url, logger: logger) }
        return .upgrade([Self.protocolHeader: chosen]) { inbound, outbound, _ in
            let session = try RuntimeStreamSession { channel, bytes in
                var buffer = ByteBuffer(integer: channel)
                buffer.writeBytes(bytes)
                try await outbound.write(.binary(buffer))
            }
            let messages = inbound.messages(maxSize: Self.maxMessage).compactMap { message -> (UInt8, [UInt8])? in
                guard case .binary(let data) = message, let channel = data.getInteger(at: data.readerIndex, as: UInt8.self) else { return nil }
                return (channel, Array(data.readableBytesView.dropFirst()))
            }
            do {
                try await session.run(url: url, request: stream, fromClient: messages)
            } catch {
                logger.debug("runtime stream ended", metadata: ["url": "\(url)", "error": "\(error)"])
                try? await outbound.write(.binary(Self.statusMessage(Status.internalError("the container runtime's stream failed: \(error)"))))
            }
        }
    }

    /// The tunnelled SPDY port-forward: the pod must have a ready sandbox here; its network namespace is found from
    /// a process in its cgroup (host-network pods are dialled from the node's own).
    func portForward(_ request: HTTPRequest, namespace: String, pod: String) async
        -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>>
    {
        let offered = (request.headerFields[Self.protocolHeader] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let logger = self.logger
        guard offered.contains(Self.portForwardTunnel) else { return .dontUpgrade }
        guard let sandbox = try? await runtime.listSandboxes().first(where: {
            $0.podNamespace == namespace && $0.podName == pod && $0.state == .ready
        }) else {
            logger.debug("port-forward refused: no ready sandbox", metadata: ["pod": "\(namespace)/\(pod)"])
            return .dontUpgrade
        }
        let hostNetwork = pods.get(Informer.key(namespace: namespace, name: pod))?["spec"]?["hostNetwork"]?.boolValue == true
        let networkNamespace = hostNetwork ? nil : stats.podProcess(uid: sandbox.podUID).map { "/proc/\($0)/ns/net" }
        if !hostNetwork && networkNamespace == nil {
            logger.debug("port-forward refused: no process of the pod found", metadata: ["pod": "\(namespace)/\(pod)"])
            return .dontUpgrade
        }
        return .upgrade([Self.protocolHeader: Self.portForwardTunnel]) { inbound, outbound, _ in
            let session = try PortForwardSession(podDescription: "pod \(pod), uid \(sandbox.podUID)",
                write: { bytes in try await outbound.write(.binary(ByteBuffer(bytes: bytes))) },
                dial: { port in try await PodPortDialer.connect(port: port, networkNamespace: networkNamespace) })
            let messages = inbound.messages(maxSize: Self.maxMessage).compactMap { message -> [UInt8]? in
                guard case .binary(let data) = message else { return nil }
                return Array(data.readableBytesView)
            }
            do {
                try await session.run(messages)
            } catch {
                logger.debug("port-forward session ended", metadata: ["pod": "\(namespace)/\(pod)", "error": "\(error)"])
            }
        }
    }

    /// The SPDY tunnel: the runtime's session upgraded first, then its bytes relayed both ways unchanged.
    static func relaySPDY(url: String, logger: Logger) -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        .upgrade([protocolHeader: spdyTunnel]) { inbound, outbound, _ in
            let connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>
            let upgrade: ByteBuffer
            do {
                (connection, upgrade) = try await RuntimeStreamConnection.open(url)
            } catch {
                try await outbound.write(.text(Status.internalError("error dialing the container runtime: \(error)").jsonValue.encodedString()))
                return
            }
            try await connection.executeThenClose { runtimeIn, runtimeOut in
                try await runtimeOut.write(upgrade)
                var input = runtimeIn.makeAsyncIterator()
                let leftover: [UInt8]
                do {
                    leftover = try await RuntimeStreamConnection.upgraded(&input)
                } catch {
                    try await outbound.write(.text(Status.internalError("\(error)").jsonValue.encodedString()))
                    return
                }
                try await outbound.write(.text(Status.success().jsonValue.encodedString()))
                if !leftover.isEmpty { try await outbound.write(.binary(ByteBuffer(bytes: leftover))) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await message in inbound.messages(maxSize: Self.maxMessage) {
                            if case .binary(let data) = message { try await runtimeOut.write(data) }
                        }
                        // kubectl is gone: closing the runtime's connection ends its session and the loop below.
                        try? await connection.channel.close()
                    }
                    while let chunk = try await input.next() {
                        try await outbound.write(.binary(chunk))
                    }
                    group.cancelAll()
                }
            }
            logger.debug("SPDY session relayed to the runtime ended", metadata: ["url": "\(url)"])
        }
    }

    /// Accepts the upgrade only to say why there is no session: the Status on the error channel (3), as kubectl
    /// reads it, instead of a bare HTTP error that would make it retry with SPDY. Through the SPDY tunnel the
    /// Status is the first message, as text.
    static func refuse(_ status: Status, _ chosen: String) -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        if chosen == spdyTunnel {
            return .upgrade([protocolHeader: chosen]) { _, outbound, _ in try await outbound.write(.text(status.jsonValue.encodedString())) }
        }
        return .upgrade([protocolHeader: chosen]) { _, outbound, _ in try await outbound.write(.binary(statusMessage(status))) }
    }

    /// A Status on the error channel (3).
    static func statusMessage(_ status: Status) -> ByteBuffer {
        var buffer = ByteBuffer(integer: UInt8(3))
        buffer.writeBytes(status.jsonValue.encoded())
        return buffer
    }
}
