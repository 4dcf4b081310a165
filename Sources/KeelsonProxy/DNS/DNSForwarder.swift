import KeelsonAPI
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Passes queries for names outside the cluster to the node's resolvers over one UDP socket (and over TCP those
/// that came over TCP), as CoreDNS's `forward` plugin does: each query goes out under an ID of its own, the reply comes back under the asker's,
/// and a resolver that does not answer within `timeout` hands the query to the next (then SERVFAIL).
public final class DNSForwarder: Sendable {
    public let upstreams: [SocketAddress]
    let timeout: TimeAmount
    let channel: any Channel
    private let pending: NIOLockedValueBox<[UInt16: Pending]>

    private struct Pending {
        var originalID: UInt16
        var query: ByteBuffer
        var attempt: Int
        var timeout: Scheduled<Void>?
        var completion: @Sendable (ByteBuffer?) -> Void
    }

    private init(upstreams: [SocketAddress], timeout: TimeAmount, channel: any Channel, pending: NIOLockedValueBox<[UInt16: Pending]>) {
        self.upstreams = upstreams
        self.timeout = timeout
        self.channel = channel
        self.pending = pending
    }

    public static func start(upstreams: [SocketAddress], timeout: TimeAmount = .seconds(2),
                             group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> DNSForwarder {
        let pending = NIOLockedValueBox<[UInt16: Pending]>([:])
        let box = NIOLockedValueBox<DNSForwarder?>(nil)
        // One socket speaks one address family: the first resolver's.
        let family = upstreams.first?.protocol
        let upstreams = upstreams.filter { $0.protocol == family }
        let anyAddress = family == .inet6 ? "::" : "0.0.0.0"
        let channel = try await DatagramBootstrap(group: group)
            // A reply may be as large as a UDP datagram; an adaptive buffer shrunk by small replies would cut it.
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_536))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ReplyHandler(forwarder: box))
                }
            }
            .bind(host: anyAddress, port: 0).get()
        let forwarder = DNSForwarder(upstreams: upstreams, timeout: timeout, channel: channel, pending: pending)
        box.withLockedValue { $0 = forwarder }
        return forwarder
    }

    /// Sends `query` (a whole DNS message) on; `completion` gets the reply with the query's own ID, or nil when no
    /// resolver answered.
    public func forward(_ query: ByteBuffer, completion: @escaping @Sendable (ByteBuffer?) -> Void) {
        guard !upstreams.isEmpty, let originalID = query.getInteger(at: query.readerIndex, as: UInt16.self) else {
            completion(nil)
            return
        }
        let id: UInt16? = pending.withLockedValue { pending in
            guard pending.count < 32_768 else { return nil }
            var id = UInt16.random(in: .min ... .max)
            while pending[id] != nil { id = UInt16.random(in: .min ... .max) }
            pending[id] = Pending(originalID: originalID, query: query, attempt: 0, completion: completion)
            return id
        }
        guard let id else {
            completion(nil)
            return
        }
        send(id)
    }

    /// Sends `query` on over TCP (a query that came over TCP: its answer may be larger than UDP carries), one
    /// connection per query, trying the next resolver when one does not answer within the timeout.
    public func forwardOverTCP(_ query: ByteBuffer, completion: @escaping @Sendable (ByteBuffer?) -> Void) {
        guard !upstreams.isEmpty, let id = query.getInteger(at: query.readerIndex, as: UInt16.self) else {
            completion(nil)
            return
        }
        let (upstreams, timeout, group) = (self.upstreams, self.timeout, channel.eventLoop)
        Task {
            for attempt in 0..<max(2, upstreams.count) {
                let upstream = upstreams[attempt % upstreams.count]
                if let reply = try? await Self.exchange(query, with: upstream, timeout: timeout, group: group),
                   reply.getInteger(at: reply.readerIndex, as: UInt16.self) == id {
                    completion(reply)
                    return
                }
            }
            completion(nil)
        }
    }

    struct NoAnswer: Error {}

    /// One query and its reply over a TCP connection, each with its 2-byte length (RFC 1035 4.2.2).
    static func exchange(_ query: ByteBuffer, with upstream: SocketAddress, timeout: TimeAmount, group: any EventLoopGroup) async throws -> ByteBuffer {
        try await withThrowingTaskGroup(of: ByteBuffer.self) { tasks in
            tasks.addTask {
                try await Task.sleep(for: .nanoseconds(timeout.nanoseconds))
                throw NoAnswer()
            }
            tasks.addTask {
                let channel = try await ClientBootstrap(group: group).connectTimeout(timeout).connect(to: upstream) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                }
                return try await channel.executeThenClose { inbound, outbound in
                    var framed = ByteBuffer()
                    framed.writeInteger(UInt16(query.readableBytes))
                    framed.writeImmutableBuffer(query)
                    try await outbound.write(framed)
                    var received = ByteBuffer()
                    for try await chunk in inbound {
                        received.writeImmutableBuffer(chunk)
                        if let length = received.getInteger(at: received.readerIndex, as: UInt16.self),
                           let reply = received.getSlice(at: received.readerIndex + 2, length: Int(length)) {
                            return reply
                        }
                    }
                    throw NoAnswer()
                }
            }
            defer { tasks.cancelAll() }
            guard let reply = try await tasks.next() else { throw NoAnswer() }
            return reply
        }
    }

    private func send(_ id: UInt16) {
        let outgoing: (ByteBuffer, SocketAddress)? = pending.withLockedValue { pending in
            guard var entry = pending[id] else { return nil }
            var packet = entry.query
            packet.setInteger(id, at: packet.readerIndex)
            let upstream = upstreams[entry.attempt % upstreams.count]
            entry.timeout = channel.eventLoop.scheduleTask(in: timeout) { [weak self] in self?.timedOut(id) }
            pending[id] = entry
            return (packet, upstream)
        }
        guard let (packet, upstream) = outgoing else { return }
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: upstream, data: packet), promise: nil)
    }

    private func timedOut(_ id: UInt16) {
        let giveUp: (@Sendable (ByteBuffer?) -> Void)? = pending.withLockedValue { pending in
            guard var entry = pending[id] else { return nil }
            entry.attempt += 1
            if entry.attempt < max(2, upstreams.count) {
                pending[id] = entry
                return nil
            }
            pending[id] = nil
            return entry.completion
        }
        if let giveUp { giveUp(nil) } else { send(id) }
    }

    fileprivate func received(_ envelope: AddressedEnvelope<ByteBuffer>) {
        // Only a configured resolver's reply is taken, so that nobody else can answer in its name.
        guard upstreams.contains(where: { $0.ipAddress == envelope.remoteAddress.ipAddress && $0.port == envelope.remoteAddress.port }),
              let id = envelope.data.getInteger(at: envelope.data.readerIndex, as: UInt16.self) else { return }
        let entry: Pending? = pending.withLockedValue { pending in pending.removeValue(forKey: id) }
        guard let entry else { return }
        entry.timeout?.cancel()
        var reply = envelope.data
        reply.setInteger(entry.originalID, at: reply.readerIndex)
        entry.completion(reply)
    }

    public func close() async {
        try? await channel.close()
        let waiting = pending.withLockedValue { pending in
            defer { pending.removeAll() }
            return Array(pending.values)
        }
        for entry in waiting {
            entry.timeout?.cancel()
            entry.completion(nil)
        }
    }

    private final class ReplyHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let forwarder: NIOLockedValueBox<DNSForwarder?>

        init(forwarder: NIOLockedValueBox<DNSForwarder?>) { self.forwarder = forwarder }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            forwarder.withLockedValue { $0 }?.received(Self.unwrapInboundIn(data))
        }
    }
}

extension DNSForwarder {
    /// The nameservers of a resolv.conf text, on port 53.
    public static func nameservers(resolvConf text: String) -> [SocketAddress] {
        // A link-local IPv6 resolver's zone (`%eth0`) is dropped: the socket address takes the bare address.
        ResolvConf(parsing: text).nameservers.compactMap { try? SocketAddress(ipAddress: String($0.split(separator: "%").first ?? ""), port: 53) }
    }
}
