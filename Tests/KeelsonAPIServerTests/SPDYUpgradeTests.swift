import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTesting
import HummingbirdWebSocket
import KeelsonAPI
import NIOCore
import NIOPosix
import Testing
@testable import KeelsonAPIServer

/// The server on a loopback socket, spoken to in raw HTTP/1.1: SPDY upgrades (older kubectl's exec, attach and
/// port-forward) are told apart from every other request before the HTTP codec sees them.
@Suite("SPDY upgrades")
struct SPDYUpgradeTests {
    static let pod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "p1"],
        "spec": ["containers": [["name": "c", "image": "busybox"]]]]

    static func upgrade(_ path: String, versions: [String]) -> String {
        "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: kubectl/v1.29.0\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
            + versions.map { "X-Stream-Protocol-Version: \($0)\r\n" }.joined() + "\r\n"
    }

    /// The answer to a refused upgrade: status code and the Status in its body.
    static func refusal(_ text: String) -> (code: Int?, status: JSONValue?) {
        let code = text.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) }
        return (code, body.flatMap { try? JSONParser.parse($0) })
    }

    @Test("a SPDY upgrade that cannot be served gets its Status as an HTTP answer: missing pod, unscheduled pod, unknown container, no v4, another path")
    func refusals() async throws {
        try await TestServer.runServing(mode: .live) { client, _, _ in
            let port = try #require(client.port)
            let missing = Self.refusal(try await RawHTTP.exchange(port: port, Self.upgrade(
                "/api/v1/namespaces/default/pods/nothing/exec?command=true&stdout=true", versions: ["v4.channel.k8s.io"])))
            #expect(missing.code == 404 && missing.status?["reason"] == "NotFound", "\(missing)")

            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod).status == 201)
            let unscheduled = Self.refusal(try await RawHTTP.exchange(port: port, Self.upgrade(
                "/api/v1/namespaces/default/pods/p1/portforward", versions: ["portforward.k8s.io"])))
            #expect(unscheduled.code == 400 && unscheduled.status?["message"] == "pod p1 does not have a host assigned", "\(unscheduled)")

            let container = Self.refusal(try await RawHTTP.exchange(port: port, Self.upgrade(
                "/api/v1/namespaces/default/pods/p1/exec?container=nope&command=true&stdout=true", versions: ["v4.channel.k8s.io"])))
            #expect(container.code == 400 && container.status?["message"]?.stringValue?.contains("container nope is not valid") == true, "\(container)")

            let oldOnly = Self.refusal(try await RawHTTP.exchange(port: port, Self.upgrade(
                "/api/v1/namespaces/default/pods/p1/attach?stdout=true", versions: ["v2.channel.k8s.io", "channel.k8s.io"])))
            #expect(oldOnly.code == 400 && oldOnly.status?["message"]?.stringValue?.contains("the client offered [v2.channel.k8s.io, channel.k8s.io]") == true,
                "\(oldOnly)")

            let elsewhere = Self.refusal(try await RawHTTP.exchange(port: port, Self.upgrade("/api/v1/namespaces", versions: ["v4.channel.k8s.io"])))
            #expect(elsewhere.code == 400 && elsewhere.status?["message"]?.stringValue?.contains("exec, attach and portforward subresources of pods only") == true,
                "\(elsewhere)")
        }
    }

    @Test("other requests are served as before: a head arriving a byte at a time, pipelined requests on one connection, WebSocket upgrades")
    func otherRequests() async throws {
        try await TestServer.runServing(mode: .live) { client, _, _ in
            let port = try #require(client.port)
            let get = "GET /api/v1/namespaces/default HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
            let trickled = try await RawHTTP.exchange(port: port, get, chunkSize: 1)
            #expect(trickled.hasPrefix("HTTP/1.1 200") && trickled.contains("\"name\":\"default\""), "\(trickled.prefix(300))")

            let first = "GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            let both = try await RawHTTP.exchange(port: port, first + get)
            #expect(both.components(separatedBy: "HTTP/1.1 200 OK").count == 3, "\(both.prefix(600))")

            // A WebSocket upgrade still reaches the WebSocket channel: here refused (no such pod) on channel 3.
            let webSocket = "GET /api/v1/namespaces/default/pods/nothing/exec?command=true&stdout=true HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                + "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n"
            let switched = try await RawHTTP.exchange(port: port, webSocket) { $0.contains("NotFound") }
            #expect(switched.hasPrefix("HTTP/1.1 101") && switched.contains("v5.channel.k8s.io") && switched.contains("NotFound"),
                "\(switched.prefix(600))")
        }
    }
}

extension SPDYUpgradeTests {
    static let protocolHeader = HTTPField.Name("Sec-WebSocket-Protocol")!

    /// A kubelet's streaming endpoints on loopback, as the API server reaches them: each tunnel echoes what it is
    /// sent; an exec tunnel first answers with a Status (a refusal for the container named "stopped").
    static func withFakeKubelet(_ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        let server: HTTPServerBuilder = .http1WebSocketUpgrade { request, _, _ in
            let offered = request.headerFields[Self.protocolHeader] ?? ""
            let tunnel = ["SPDY/3.1+v4.channel.k8s.io", "SPDY/3.1+portforward.k8s.io"].first { offered.contains($0) }
            guard let tunnel else { return .dontUpgrade }
            let answer: Status? = if tunnel.hasSuffix("portforward.k8s.io") { nil }
                else if request.path?.contains("/stopped?") == true { Status.badRequest("container stopped is not running") }
                else { Status.success() }
            return .upgrade([Self.protocolHeader: tunnel]) { inbound, outbound, _ in
                if let answer {
                    try await outbound.write(.text(answer.jsonValue.encodedString()))
                    guard answer.succeeded else { return }
                }
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    if case .binary(let data) = message { try await outbound.write(.binary(data)) }
                }
            }
        }
        let kubelet = Application(router: Router(), server: server, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            logger: TestServer.quietLogger)
        try await kubelet.test(.live) { client in try await body(try #require(client.port)) }
    }

    @Test("an accepted SPDY upgrade is answered 101 with the protocol version and relayed both ways through the kubelet's tunnel; a refusal from the kubelet becomes the HTTP answer")
    func relayed() async throws {
        try await Self.withFakeKubelet { kubeletPort in
            try await TestServer.runServing(mode: .live) { client, _, _ in
                let port = try #require(client.port)
                let node: JSONValue = ["apiVersion": "v1", "kind": "Node", "metadata": ["name": "n1"],
                    "status": ["addresses": [["type": "InternalIP", "address": "127.0.0.1"]],
                               "daemonEndpoints": ["kubeletEndpoint": ["Port": .integer(Int64(kubeletPort))]]]]
                #expect(try await client.json(.post, "/api/v1/nodes", node).status == 201)
                let pod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "p2"],
                    "spec": ["nodeName": "n1", "containers": [["name": "c", "image": "busybox"], ["name": "stopped", "image": "busybox"]]]]
                #expect(try await client.json(.post, "/api/v1/namespaces/default/pods", pod).status == 201)

                for (path, version) in [("exec?container=c&command=cat&stdin=true&stdout=true", "v4.channel.k8s.io"),
                                        ("portforward", "portforward.k8s.io")] {
                    // The first bytes after the head travel in the same packet as the request (the leftover path).
                    let request = Self.upgrade("/api/v1/namespaces/default/pods/p2/\(path)", versions: [version, "v3.channel.k8s.io"])
                    let echoed = try await RawHTTP.exchange(port: port, request + "first bytes|", then: "second bytes") {
                        $0.hasSuffix("first bytes|second bytes")
                    }
                    #expect(echoed.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"), "\(path): \(echoed)")
                    #expect(echoed.contains("Upgrade: SPDY/3.1\r\n") && echoed.contains("X-Stream-Protocol-Version: \(version)\r\n"), "\(echoed)")
                    #expect(echoed.hasSuffix("\r\n\r\nfirst bytes|second bytes"), "\(path): \(echoed)")
                }

                let refused = Self.refusal(try await RawHTTP.exchange(port: port, Self.upgrade(
                    "/api/v1/namespaces/default/pods/p2/exec?container=stopped&command=true&stdout=true", versions: ["v4.channel.k8s.io"])))
                #expect(refused.code == 400 && refused.status?["message"] == "container stopped is not running", "\(refused)")
            }
        }
    }
}

/// One connection to a loopback port: the request written (in pieces of `chunkSize` bytes if given), then
/// everything read until the server closes the connection (or what was read satisfies `enough`).
enum RawHTTP {
    /// `then` is written once the answer's head has arrived (a client that waits for its upgrade to be accepted).
    static func exchange(port: Int, _ request: String, chunkSize: Int? = nil, then: String? = nil,
                         enough: @Sendable (String) -> Bool = { _ in false }) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        // A bound on the whole exchange, so that a server that never answers fails the test instead of hanging it.
        let underlying = channel.channel
        let deadline = underlying.eventLoop.scheduleTask(in: .seconds(30)) { underlying.close(promise: nil) }
        defer { deadline.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            let bytes = Array(request.utf8)
            var offset = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + (chunkSize ?? bytes.count))
                try await outbound.write(ByteBuffer(bytes: bytes[offset..<end]))
                offset = end
            }
            var received = ByteBuffer()
            var pending = then
            for try await chunk in inbound {
                received.writeImmutableBuffer(chunk)
                if let next = pending, String(buffer: received).contains("\r\n\r\n") {
                    pending = nil
                    try await outbound.write(ByteBuffer(string: next))
                }
                if enough(String(buffer: received)) { break }
            }
            return String(buffer: received)
        }
    }
}
