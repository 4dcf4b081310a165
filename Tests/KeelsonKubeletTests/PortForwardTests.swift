import Crypto
import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import KeelsonKubelet

@Suite("Port-forward: SPDY framing and sessions")
struct PortForwardTests {
    @Test("the header dictionary is SPDY/3's, byte for byte (1,423 bytes; a wrong byte breaks every header block)")
    func dictionary() {
        let dictionary = SPDYHeaderCompression.dictionary
        #expect(dictionary.count == 1423)
        let digest = SHA256.hash(data: dictionary).map { String(format: "%02x", $0) }.joined()
        #expect(digest == "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02")
    }

    @Test("frames survive encoding and decoding in any split, header blocks in one compression stream across frames")
    func framesRoundTrip() throws {
        let frames: [SPDYFrame] = [
            .synStream(streamID: 1, headers: ["streamtype": "error", "port": "8080", "requestid": "0"], fin: false),
            .synStream(streamID: 3, headers: ["streamtype": "data", "port": "8080", "requestid": "0"], fin: true),
            .synReply(streamID: 3, headers: [:], fin: false),
            .data(streamID: 3, bytes: Array("GET / HTTP/1.0\r\n\r\n".utf8), fin: false),
            .data(streamID: 1, bytes: [], fin: true),
            .headers(streamID: 3, headers: ["a": "b\u{0}c"], fin: false),
            .rstStream(streamID: 5, status: SPDYFrame.cancel),
            .ping(id: 7),
            .windowUpdate(streamID: 3, delta: 65536),
            .goAway(lastGoodStreamID: 3, status: 0),
            .data(streamID: 9, bytes: Array(repeating: 0xAB, count: 100_000), fin: true),
        ]
        let sender = try SPDYFramer()
        var wire: [UInt8] = []
        for frame in frames { wire += try sender.encode(frame) }
        for split in [1, 3, 7, 4096, wire.count] {
            let receiver = try SPDYFramer()
            var decoded: [SPDYFrame] = []
            var offset = 0
            while offset < wire.count {
                receiver.append(wire[offset..<min(offset + split, wire.count)])
                offset += split
                while let frame = try receiver.next() { decoded.append(frame) }
            }
            #expect(decoded == frames, "split into pieces of \(split) bytes")
        }
    }

    @Test("a frame with the wrong SPDY version is refused; unknown control frames are skipped")
    func refusesOtherVersions() throws {
        let framer = try SPDYFramer()
        framer.append([0x80, 0x03, 0x00, 0x0A, 0, 0, 0, 0])  // type 10 (CREDENTIAL in draft 3): skipped
        framer.append(try SPDYFramer().encode(.ping(id: 1)))
        #expect(try framer.next() == .ping(id: 1))
        framer.append([0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1])
        #expect(throws: SPDYFramer.ProtocolError.self) { try framer.next() }
    }

    /// A session driven as kubectl drives it, the client's side written with a framer of its own.
    final class Client: Sendable {
        let input: AsyncStream<[UInt8]>.Continuation
        let output: AsyncStream<[UInt8]>
        let session: PortForwardSession
        private let outputContinuation: AsyncStream<[UInt8]>.Continuation

        init(dial: @escaping PortForwardSession.Dialer) throws {
            let (inputStream, input) = AsyncStream<[UInt8]>.makeStream()
            let (output, outputContinuation) = AsyncStream<[UInt8]>.makeStream()
            self.input = input
            self.output = output
            self.outputContinuation = outputContinuation
            session = try PortForwardSession(podDescription: "pod web, uid 1234",
                write: { bytes in outputContinuation.yield(bytes) }, dial: dial)
            let session = self.session
            Task {
                try? await session.run(inputStream)
                outputContinuation.finish()
            }
        }
    }

    /// Frames the session sent, read until `until` is satisfied (or the session ends).
    static func read(_ client: Client, framer: SPDYFramer, until done: ([SPDYFrame]) -> Bool) async throws -> [SPDYFrame] {
        var frames: [SPDYFrame] = []
        for await bytes in client.output {
            framer.append(bytes)
            while let frame = try framer.next() { frames.append(frame) }
            if done(frames) { break }
        }
        return frames
    }

    static func dataBytes(_ frames: [SPDYFrame], stream: UInt32) -> [UInt8] {
        frames.flatMap { frame -> [UInt8] in
            if case .data(let id, let bytes, _) = frame, id == stream { return bytes }
            return []
        }
    }

    static func finished(_ frames: [SPDYFrame], stream: UInt32) -> Bool {
        frames.contains { if case .data(let id, _, true) = $0 { return id == stream } else { return false } }
    }

    /// An echo server on loopback: it sends back what it reads and closes when the client half-closes.
    static func echoServer() async throws -> (port: Int, task: Task<Void, Never>) {
        try await LoopbackServer.start { inbound, outbound in
            for try await buffer in inbound { try await outbound.write(buffer) }
        }
    }

    @Test("a pair of streams reaches the port: bytes both ways, the client's FIN half-closes, the pod's FIN ends the pair")
    func forwardsToThePort() async throws {
        let (port, server) = try await Self.echoServer()
        defer { server.cancel() }
        let client = try Client { port in try await PodPortDialer.connect(port: port, networkNamespace: nil) }
        let framer = try SPDYFramer()
        client.input.yield(try framer.encode(.synStream(streamID: 1, headers: ["streamtype": "error", "port": "\(port)", "requestid": "0"], fin: false)))
        client.input.yield(try framer.encode(.data(streamID: 1, bytes: [], fin: true)))
        client.input.yield(try framer.encode(.synStream(streamID: 3, headers: ["streamtype": "data", "port": "\(port)", "requestid": "0"], fin: false)))
        client.input.yield(try framer.encode(.data(streamID: 3, bytes: Array("hello ".utf8), fin: false)))
        client.input.yield(try framer.encode(.ping(id: 5)))
        client.input.yield(try framer.encode(.data(streamID: 3, bytes: Array("pod".utf8), fin: true)))
        let reader = try SPDYFramer()
        let frames = try await Self.read(client, framer: reader) { Self.finished($0, stream: 1) && Self.finished($0, stream: 3) }
        #expect(frames.contains(.synReply(streamID: 1, headers: [:], fin: false)))
        #expect(frames.contains(.synReply(streamID: 3, headers: [:], fin: false)))
        #expect(frames.contains(.ping(id: 5)), "the client's ping is answered")
        #expect(String(decoding: Self.dataBytes(frames, stream: 3), as: UTF8.self) == "hello pod")
        #expect(Self.dataBytes(frames, stream: 1).isEmpty, "no error")
        client.input.finish()
    }

    @Test("a port nothing listens on: the error stream says so, in the kubelet's words, and both streams end")
    func reportsDialFailures() async throws {
        // A port just freed: nothing listens on it.
        let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(probe.localAddress?.port)
        try await probe.close()
        let client = try Client { port in try await PodPortDialer.connect(port: port, networkNamespace: nil) }
        let framer = try SPDYFramer()
        client.input.yield(try framer.encode(.synStream(streamID: 1, headers: ["streamtype": "error", "port": "\(port)", "requestid": "7"], fin: false)))
        client.input.yield(try framer.encode(.synStream(streamID: 3, headers: ["streamtype": "data", "port": "\(port)", "requestid": "7"], fin: false)))
        let frames = try await Self.read(client, framer: try SPDYFramer()) { Self.finished($0, stream: 1) && Self.finished($0, stream: 3) }
        let message = String(decoding: Self.dataBytes(frames, stream: 1), as: UTF8.self)
        #expect(message.hasPrefix("error forwarding port \(port) to pod web, uid 1234: dial tcp localhost:\(port): "), "\(message)")
        #expect(message.contains("refused"), "\(message)")
        #expect(Self.dataBytes(frames, stream: 3).isEmpty, "the data stream ends empty (kubectl waits for its end to read the error)")
        client.input.finish()
    }

    @Test("streams of several connections are paired by request ID, and an unknown stream type is reset")
    func pairsByRequestID() async throws {
        let (port, server) = try await Self.echoServer()
        defer { server.cancel() }
        let client = try Client { port in try await PodPortDialer.connect(port: port, networkNamespace: nil) }
        let framer = try SPDYFramer()
        // Two connections opened before either's data stream: the streams interleave.
        for (stream, type, request) in [(1, "error", "0"), (3, "error", "1"), (5, "data", "1"), (7, "data", "0"), (9, "bogus", "2")] {
            client.input.yield(try framer.encode(.synStream(streamID: UInt32(stream), headers: ["streamtype": type, "port": "\(port)", "requestid": request], fin: false)))
        }
        client.input.yield(try framer.encode(.data(streamID: 5, bytes: Array("one".utf8), fin: true)))
        client.input.yield(try framer.encode(.data(streamID: 7, bytes: Array("zero".utf8), fin: true)))
        let frames = try await Self.read(client, framer: try SPDYFramer()) {
            Self.finished($0, stream: 5) && Self.finished($0, stream: 7) && $0.contains(.rstStream(streamID: 9, status: SPDYFrame.protocolError))
        }
        #expect(String(decoding: Self.dataBytes(frames, stream: 5), as: UTF8.self) == "one")
        #expect(String(decoding: Self.dataBytes(frames, stream: 7), as: UTF8.self) == "zero")
        client.input.finish()
    }
}
