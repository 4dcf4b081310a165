import NIOCore

/// Answers etcd's HTTP/2 PINGs before they reach the HTTP/2 parser.
///
/// etcd's gRPC server (grpc-go) sends a PING for every window of request data it receives while it estimates the
/// connection's bandwidth — thousands a second under load. swift-nio-http2 counts every PING towards a
/// denial-of-service guard (200 control frames per 30 s) and the gRPC transport closes the connection when it
/// trips, with no setting to raise it. This handler sits between the socket and the HTTP/2 handler, acknowledges
/// each PING itself (a PING frame with the ACK flag and the same 8 bytes, as RFC 9113 § 6.7 asks) and passes every
/// other frame through untouched, in order. PING ACKs — answers to pings of our own — still reach the HTTP/2 handler.
final class EtcdPingResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let frameHeaderLength = 9
    static let pingType: UInt8 = 0x6
    static let ackFlag: UInt8 = 0x1

    /// The start of a frame not yet complete.
    private var pending: ByteBuffer?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        var buffer: ByteBuffer
        if var pending {
            pending.writeBuffer(&incoming)
            buffer = pending
            self.pending = nil
        } else {
            buffer = incoming
        }
        // Frames are passed on in runs: everything from `runStart` up to the next PING.
        var runStart = buffer.readerIndex
        var answered = false
        while buffer.readableBytes >= Self.frameHeaderLength,
            let word = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
            buffer.readableBytes >= Self.frameHeaderLength + Int(word >> 8)
        {
            let length = Int(word >> 8)
            let start = buffer.readerIndex
            let type = UInt8(truncatingIfNeeded: word)
            let flags = buffer.getInteger(at: start + 4, as: UInt8.self) ?? 0
            guard type == Self.pingType, flags & Self.ackFlag == 0, length == 8 else {
                buffer.moveReaderIndex(forwardBy: Self.frameHeaderLength + length)
                continue
            }
            if start > runStart {
                buffer.moveReaderIndex(to: runStart)
                if let run = buffer.readSlice(length: start - runStart) { context.fireChannelRead(wrapInboundOut(run)) }
            }
            buffer.moveReaderIndex(forwardBy: Self.frameHeaderLength)
            var ack = context.channel.allocator.buffer(capacity: Self.frameHeaderLength + 8)
            ack.writeInteger(UInt32(8 << 8) | UInt32(Self.pingType))  // length 8, type PING
            ack.writeInteger(Self.ackFlag)
            ack.writeInteger(UInt32(0))  // stream 0
            if let opaque = buffer.readSlice(length: 8) { ack.writeImmutableBuffer(opaque) }
            context.write(wrapOutboundOut(ack), promise: nil)
            answered = true
            runStart = buffer.readerIndex
        }
        if answered { context.flush() }
        let end = buffer.readerIndex
        if end > runStart {
            buffer.moveReaderIndex(to: runStart)
            if let run = buffer.readSlice(length: end - runStart) { context.fireChannelRead(wrapInboundOut(run)) }
        }
        if buffer.readableBytes > 0 { pending = buffer.slice() }
    }
}
