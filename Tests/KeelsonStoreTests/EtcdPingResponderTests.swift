import NIOCore
import NIOEmbedded
import Testing

@testable import KeelsonStore

@Suite("etcd PING responder")
struct EtcdPingResponderTests {
    static func frame(type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, payload: [UInt8]) -> [UInt8] {
        let length = UInt32(payload.count)
        return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags]
            + [UInt8(stream >> 24 & 0xFF), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)] + payload
    }

    @Test("PINGs are answered and kept from the HTTP/2 handler; every other frame passes through in order, even split across reads")
    func answersPings() throws {
        let channel = EmbeddedChannel(handler: EtcdPingResponder())
        let settings = Self.frame(type: 0x4, payload: [0, 3, 0, 0, 0, 100])
        let ping = Self.frame(type: 0x6, payload: [1, 2, 3, 4, 5, 6, 7, 8])
        let pingAck = Self.frame(type: 0x6, flags: 0x1, payload: [9, 9, 9, 9, 9, 9, 9, 9])
        let data = Self.frame(type: 0x0, flags: 0x1, stream: 1, payload: Array("hello".utf8))
        let stream = settings + ping + pingAck + data + ping
        // Delivered in awkward pieces: mid-header, mid-payload, several frames at once.
        for piece in [stream[0..<4], stream[4..<20], stream[20..<31], stream[31..<60], stream[60...]] {
            try channel.writeInbound(ByteBuffer(bytes: Array(piece)))
        }
        var passed: [UInt8] = []
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { passed += Array(buffer.readableBytesView) }
        #expect(passed == settings + pingAck + data)
        let expectedAck = Self.frame(type: 0x6, flags: 0x1, payload: [1, 2, 3, 4, 5, 6, 7, 8])
        for _ in 0..<2 {
            let answer = try #require(try channel.readOutbound(as: ByteBuffer.self))
            #expect(Array(answer.readableBytesView) == expectedAck)
        }
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
    }
}
