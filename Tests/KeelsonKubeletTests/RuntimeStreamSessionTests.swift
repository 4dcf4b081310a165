import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import KeelsonKubelet

/// A value several tasks write and the test reads at the end.
final class Shared<Value: Sendable>: Sendable {
    private let lock: Mutex<Value>
    init(_ value: Value) { lock = Mutex(value) }
    func update(_ body: (inout Value) -> Void) { lock.withLock { body(&$0) } }
    var value: Value { lock.withLock { $0 } }
}

@Suite("Exec sessions relayed to the runtime over SPDY")
struct RuntimeStreamSessionTests {
    /// A stand-in for the runtime's streaming server: it upgrades `POST /exec/TOKEN` to SPDY, replies to the
    /// client's streams, and once stdin ends writes what it read to stdout (upper-cased) and to stderr (its
    /// length), then a Status on the error stream, then GOAWAY — the order a runtime ends a session in.
    static func fakeRuntime(requestLine: Shared<String>) async throws -> (port: Int, task: Task<Void, Never>) {
        try await LoopbackServer.start { inbound, outbound in
            var head: [UInt8] = []
            var iterator = inbound.makeAsyncIterator()
            while head.firstRange(of: [13, 10, 13, 10]) == nil, let buffer = try await iterator.next() { head += buffer.readableBytesView }
            let text = String(decoding: head, as: UTF8.self)
            requestLine.update { $0 = String(text.split(separator: "\r\n").first ?? "") }
            try await outbound.write(ByteBuffer(string: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                + "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n"))
            let framer = try SPDYFramer()
            framer.append(head[(head.firstRange(of: [13, 10, 13, 10])!.upperBound)...])
            var streams: [String: UInt32] = [:]
            var stdin: [UInt8] = []
            func reply(_ frame: SPDYFrame) async throws { try await outbound.write(ByteBuffer(bytes: try framer.encode(frame))) }
            loop: while true {
                while let frame = try framer.next() {
                    switch frame {
                    case .synStream(let id, let headers, _):
                        streams[headers["streamtype"] ?? ""] = id
                        try await reply(.synReply(streamID: id, headers: [:], fin: false))
                    case .data(let id, let bytes, let fin) where id == streams["stdin"]:
                        stdin += bytes
                        if fin { break loop }
                    default:
                        break
                    }
                }
                guard let buffer = try await iterator.next() else { return }
                framer.append(buffer.readableBytesView)
            }
            try await reply(.data(streamID: streams["stdout"]!, bytes: Array(String(decoding: stdin, as: UTF8.self).uppercased().utf8), fin: false))
            try await reply(.data(streamID: streams["stderr"]!, bytes: Array("\(stdin.count)".utf8), fin: false))
            try await reply(.data(streamID: streams["error"]!, bytes: Array(#"{"metadata":{},"status":"Success"}"#.utf8), fin: false))
            try await reply(.goAway(lastGoodStreamID: 0, status: 0))
            // As a runtime does, the connection stays open until the client closes it.
            while try await iterator.next() != nil {}
        }
    }

    struct Message: Sendable {
        var channel: UInt8
        var text: String
    }

    @Test("streams open per channel; stdin reaches the runtime, and v5's close of stdin ends it; outputs come back by channel")
    func relaysChannels() async throws {
        let requestLine = Shared("")
        let (port, server) = try await Self.fakeRuntime(requestLine: requestLine)
        defer { server.cancel() }
        let received = Shared<[Message]>([])
        let session = try RuntimeStreamSession { channel, bytes in received.update { $0.append(Message(channel: channel, text: String(decoding: bytes, as: UTF8.self))) } }
        let (fromClient, client) = AsyncStream<(UInt8, [UInt8])>.makeStream()
        client.yield((0, Array("hello ".utf8)))
        client.yield((0, Array("runtime".utf8)))
        client.yield((255, [0]))
        let request = StreamRequest(kind: .exec, containerID: "c1", command: ["cat"], tty: false, stdin: true, stdout: true, stderr: true)
        try await session.run(url: "http://127.0.0.1:\(port)/exec/TOKEN", request: request, fromClient: fromClient)
        client.finish()
        #expect(requestLine.value == "POST /exec/TOKEN HTTP/1.1")
        let messages = received.value
        #expect(messages.map(\.channel) == [1, 2, 3])
        #expect(messages.map(\.text) == ["HELLO RUNTIME", "13", #"{"metadata":{},"status":"Success"}"#])
    }

    @Test("a runtime that goes away before answering the streams ends the session (a client waiting to send stdin does not hold it)")
    func runtimeGoesAwayFirst() async throws {
        let (port, task) = try await LoopbackServer.start { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            _ = try await iterator.next()
            try await outbound.write(ByteBuffer(string: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: SPDY/3.1\r\n\r\n"))
            try await outbound.write(ByteBuffer(bytes: try SPDYFramer().encode(.goAway(lastGoodStreamID: 0, status: 0))))
            while try await iterator.next() != nil {}
        }
        defer { task.cancel() }
        let session = try RuntimeStreamSession { _, _ in }
        let request = StreamRequest(kind: .exec, containerID: "c1", command: ["cat"], tty: false, stdin: true, stdout: true, stderr: true)
        let (fromClient, client) = AsyncStream<(UInt8, [UInt8])>.makeStream()
        defer { client.finish() }
        try await session.run(url: "http://127.0.0.1:\(port)/exec/TOKEN", request: request, fromClient: fromClient)
    }

    @Test("a runtime that refuses the upgrade: the session fails saying so")
    func refusedUpgrade() async throws {
        let (port, task) = try await LoopbackServer.start { inbound, outbound in
            for try await _ in inbound {
                try await outbound.write(ByteBuffer(string: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
                return
            }
        }
        defer { task.cancel() }
        let session = try RuntimeStreamSession { _, _ in }
        let request = StreamRequest(kind: .exec, containerID: "c1", command: ["true"], tty: false, stdin: false, stdout: true, stderr: true)
        await #expect {
            try await session.run(url: "http://127.0.0.1:\(port)/exec/expired", request: request, fromClient: AsyncStream<(UInt8, [UInt8])> { _ in })
        } throws: { error in
            "\(error)".contains("404 Not Found")
        }
    }
}
