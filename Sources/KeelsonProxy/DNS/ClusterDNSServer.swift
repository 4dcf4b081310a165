import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Serves the cluster's names over UDP and TCP (SwiftNIO), forwarding the rest to the node's resolvers.
/// The zone is swapped whole when the cluster changes; queries in flight keep the zone they started with.
public final class ClusterDNSServer: Sendable {
    let responder: DNSResponder
    let channels: [any Channel]
    /// Where it listens, one entry per address (UDP and TCP share the port).
    public let boundAddresses: [SocketAddress]

    private init(responder: DNSResponder, channels: [any Channel], boundAddresses: [SocketAddress]) {
        self.responder = responder
        self.channels = channels
        self.boundAddresses = boundAddresses
    }

    static let queriesPerRead = 32

    /// Listens on each address; with port 0 each address gets a free port, the same for UDP and TCP.
    public static func start(zone: ClusterDNSZone, addresses: [String], port: Int, forwarder: DNSForwarder?,
                             group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> ClusterDNSServer {
        let responder = DNSResponder(zone: zone, forwarder: forwarder)
        var channels: [any Channel] = []
        var bound: [SocketAddress] = []
        do {
            for address in addresses {
                // A free UDP port may be taken for TCP by someone else; with port 0 another pair is tried.
                var attempt = 0
                while true {
                    attempt += 1
                    let udp = try await bindDatagram(host: address, port: port, responder: responder, group: group)
                    channels.append(udp)
                    let actualPort = udp.localAddress?.port ?? port
                    do {
                        channels.append(try await bindStream(host: address, port: actualPort, responder: responder, group: group))
                    } catch let error as IOError where error.errnoCode == EADDRINUSE && port == 0 && attempt < 10 {
                        channels.removeLast()
                        try? await udp.close()
                        continue
                    }
                    if let local = udp.localAddress { bound.append(local) }
                    break
                }
            }
        } catch {
            for channel in channels { try? await channel.close() }
            throw error
        }
        return ClusterDNSServer(responder: responder, channels: channels, boundAddresses: bound)
    }

    private static func bindDatagram(host: String, port: Int, responder: DNSResponder, group: any EventLoopGroup) async throws -> any Channel {
        try await DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            // recvmmsg: one system call reads many queries under load. The receive buffer is split evenly
            // between the messages of one read, so it is sized for 32 queries of up to 2 KiB each (the
            // default would leave each 64 bytes and cut longer names off).
            .channelOption(.datagramVectorReadMessageCount, value: Self.queriesPerRead)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: Self.queriesPerRead * 2048))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DatagramHandler(responder: responder))
                }
            }
            .bind(host: host, port: port).get()
    }

    private static func bindStream(host: String, port: Int, responder: DNSResponder, group: any EventLoopGroup) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(readTimeout: .seconds(10)),
                        ByteToMessageHandler(StreamDecoder()),
                        StreamHandler(responder: responder),
                    ])
                }
            }
            .bind(host: host, port: port).get()
    }

    public func update(_ zone: ClusterDNSZone) {
        responder.zone.withLockedValue { $0 = zone }
    }

    public func close() async {
        for channel in channels { try? await channel.close() }
    }
}

/// Turns a query's bytes into the reply's, now or (for forwarded names) later.
final class DNSResponder: Sendable {
    let zone: NIOLockedValueBox<ClusterDNSZone>
    let forwarder: DNSForwarder?

    init(zone: ClusterDNSZone, forwarder: DNSForwarder?) {
        self.zone = NIOLockedValueBox(zone)
        self.forwarder = forwarder
    }

    enum Handling {
        case now(ByteBuffer)
        case later
        case drop
    }

    /// The largest reply for a query: TCP carries any; UDP what the asker's EDNS0 allows (512 bytes without),
    /// capped at the size this server advertises.
    static func limit(for query: DNSMessage?, overTCP: Bool) -> Int {
        if overTCP { return 65_535 }
        guard let size = query?.ednsPayloadSize else { return 512 }
        return max(512, min(Int(size), Int(ClusterDNSZone.ednsPayloadSize)))
    }

    func handle(_ packet: ByteBuffer, overTCP: Bool, allocator: ByteBufferAllocator,
                later: @escaping @Sendable (ByteBuffer) -> Void) -> Handling {
        let query: DNSMessage
        do {
            query = try DNSMessage(parsing: packet)
        } catch {
            // A header is enough to say FORMERR to; less than that is noise.
            guard let id = packet.getInteger(at: packet.readerIndex, as: UInt16.self), packet.readableBytes >= 12,
                  packet.getInteger(at: packet.readerIndex + 2, as: UInt8.self).map({ $0 & 0x80 == 0 }) == true else { return .drop }
            var reply = DNSMessage(id: id)
            reply.isResponse = true
            reply.responseCode = .formatError
            return .now(reply.encoded(allocator: allocator))
        }
        // Never answer an answer: two servers would bounce it between them for ever.
        guard !query.isResponse else { return .drop }
        let limit = Self.limit(for: query, overTCP: overTCP)
        switch zone.withLockedValue({ $0 }).resolve(query) {
        case .reply(let reply):
            return .now(reply.encoded(limit: limit, allocator: allocator))
        case .forward:
            guard let forwarder else { return .now(Self.failure(query, allocator: allocator)) }
            // The asker's protocol is kept: a truncated UDP answer sends it back over TCP, which is then used upstream.
            let completion: @Sendable (ByteBuffer?) -> Void = { reply in later(reply ?? Self.failure(query, allocator: allocator)) }
            if overTCP { forwarder.forwardOverTCP(packet, completion: completion) } else { forwarder.forward(packet, completion: completion) }
            return .later
        case .forwardAfterAlias(let alias, let target):
            guard let forwarder else { return .now(Self.failure(query, allocator: allocator)) }
            var targetQuery = DNSMessage(id: query.id)
            targetQuery.recursionDesired = true
            targetQuery.questions = [DNSQuestion(name: target, type: query.questions[0].type)]
            targetQuery.ednsPayloadSize = ClusterDNSZone.ednsPayloadSize
            forwarder.forward(targetQuery.encoded(allocator: allocator)) { bytes in
                guard let bytes, let answer = try? DNSMessage(parsing: bytes) else {
                    later(Self.failure(query, allocator: allocator))
                    return
                }
                var reply = DNSMessage(id: query.id)
                reply.isResponse = true
                reply.recursionDesired = query.recursionDesired
                reply.recursionAvailable = true
                reply.questions = query.questions
                reply.answers = [alias] + answer.answers
                reply.authority = answer.answers.isEmpty ? answer.authority : []
                reply.responseCode = answer.responseCode
                if query.ednsPayloadSize != nil { reply.ednsPayloadSize = ClusterDNSZone.ednsPayloadSize }
                later(reply.encoded(limit: limit, allocator: allocator))
            }
            return .later
        }
    }

    static func failure(_ query: DNSMessage, allocator: ByteBufferAllocator) -> ByteBuffer {
        var reply = DNSMessage(id: query.id)
        reply.isResponse = true
        reply.recursionDesired = query.recursionDesired
        reply.recursionAvailable = true
        reply.questions = query.questions
        reply.responseCode = .serverFailure
        return reply.encoded(allocator: allocator)
    }
}

private final class DatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    let responder: DNSResponder
    private var unflushed = false

    init(responder: DNSResponder) { self.responder = responder }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = Self.unwrapInboundIn(data)
        let channel = context.channel
        let remote = envelope.remoteAddress
        let handling = responder.handle(envelope.data, overTCP: false, allocator: channel.allocator) { reply in
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: remote, data: reply), promise: nil)
        }
        if case .now(let reply) = handling {
            context.write(Self.wrapOutboundOut(AddressedEnvelope(remoteAddress: remote, data: reply)), promise: nil)
            unflushed = true
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if unflushed {
            unflushed = false
            context.flush()
        }
    }

    /// A client gone away shows up as a refused send; the socket serves everyone else, so it stays open.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {}
}

/// DNS over TCP frames each message with its length in two bytes (RFC 1035 §4.2.2).
private struct StreamDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self), buffer.readableBytes >= 2 + Int(length) else {
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: 2)
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}

private final class StreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let responder: DNSResponder

    init(responder: DNSResponder) { self.responder = responder }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let channel = context.channel
        let handling = responder.handle(Self.unwrapInboundIn(data), overTCP: true, allocator: channel.allocator) { reply in
            channel.writeAndFlush(Self.framed(reply, allocator: channel.allocator), promise: nil)
        }
        switch handling {
        case .now(let reply): context.writeAndFlush(Self.wrapOutboundOut(Self.framed(reply, allocator: channel.allocator)), promise: nil)
        case .later: break
        case .drop: context.close(promise: nil)
        }
    }

    static func framed(_ message: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var framed = allocator.buffer(capacity: message.readableBytes + 2)
        framed.writeInteger(UInt16(truncatingIfNeeded: message.readableBytes))
        framed.writeImmutableBuffer(message)
        return framed
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
