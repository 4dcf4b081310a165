import KeelsonAPI
import NIOCore
import NIOConcurrencyHelpers
import NIOPosix
import Testing
@testable import KeelsonProxy

/// The DNS server on loopback, asked over real UDP and TCP sockets.
@Suite("cluster DNS server")
struct ClusterDNSServerTests {
    static func zone(domain: String = "cluster.local", endpoints: Int = 2, services extra: [JSONValue] = []) -> ClusterDNSZone {
        let services: [JSONValue] = [
            ["metadata": ["name": "web", "namespace": "default"], "spec": ["clusterIP": "10.43.0.7"]],
            ["metadata": ["name": "many", "namespace": "default"], "spec": ["clusterIP": "None"]],
        ] + extra
        let slice: JSONValue = ["metadata": ["name": "many-1", "namespace": "default", "labels": ["kubernetes.io/service-name": "many"]],
            "addressType": "IPv4",
            "endpoints": .array((0..<endpoints).map { ["addresses": [.string("10.42.\($0 / 250).\($0 % 250 + 1)")]] })]
        return ClusterDNSZone.build(services: services, slices: [slice], configuration: .init(domain: domain))
    }

    /// How long a forwarder here waits for its upstream: the suite runs beside hundreds of other tests, and a
    /// reply delayed past the 2 s default would turn into SERVFAIL, which is not what these tests are about.
    static let loadedMachineTimeout: TimeAmount = .seconds(15)

    static func query(_ name: String, _ type: DNSRecordType = .a, edns: UInt16? = nil) -> DNSMessage {
        var query = DNSMessage(id: UInt16.random(in: 1...UInt16.max))
        query.recursionDesired = true
        query.questions = [DNSQuestion(name: name, type: type)]
        query.ednsPayloadSize = edns
        return query
    }

    @Test("answers over UDP and over TCP; a later zone replaces the first")
    func udpAndTCP() async throws {
        let server = try await ClusterDNSServer.start(zone: Self.zone(), addresses: ["127.0.0.1"], port: 0, forwarder: nil)
        let address = try #require(server.boundAddresses.first)
        let overUDP = try await DNSTestClient.udp(Self.query("web.default.svc.cluster.local"), to: address)
        #expect(overUDP.answers.map(\.data) == [.a(IPv4Address("10.43.0.7")!)])
        let overTCP = try await DNSTestClient.tcp(Self.query("web.default.svc.cluster.local"), to: address)
        #expect(overTCP.answers.map(\.data) == [.a(IPv4Address("10.43.0.7")!)])
        server.update(ClusterDNSZone.build(services: [], slices: [], configuration: .init()))
        #expect(try await DNSTestClient.udp(Self.query("web.default.svc.cluster.local"), to: address).responseCode == .nameError)
        await server.close()
    }

    @Test("a query with a long name (glibc's first search-path try of a full name) is read whole over UDP")
    func longQuery() async throws {
        let server = try await ClusterDNSServer.start(zone: Self.zone(), addresses: ["127.0.0.1"], port: 0, forwarder: nil)
        let address = try #require(server.boundAddresses.first)
        let long = "web.default.svc.cluster.local.default.svc.cluster.local"
        let searched = try await DNSTestClient.udp(Self.query(long), to: address)
        #expect(searched.responseCode == .nameError && searched.questions.first?.name == long)
        let name = (0..<3).map { _ in String(repeating: "a", count: 60) }.joined(separator: ".") + ".cluster.local"
        let longest = try await DNSTestClient.udp(Self.query(name), to: address)
        #expect(longest.responseCode == .nameError && longest.questions.first?.name == name)
        await server.close()
    }

    @Test("an answer too big for UDP is truncated there and whole over TCP; EDNS0 raises the UDP limit")
    func truncation() async throws {
        let server = try await ClusterDNSServer.start(zone: Self.zone(endpoints: 60), addresses: ["127.0.0.1"], port: 0, forwarder: nil)
        let address = try #require(server.boundAddresses.first)
        let name = "many.default.svc.cluster.local"
        let plain = try await DNSTestClient.udp(Self.query(name), to: address)
        #expect(plain.truncated && plain.answers.isEmpty)
        let withEDNS = try await DNSTestClient.udp(Self.query(name, edns: 4096), to: address)
        #expect(!withEDNS.truncated && withEDNS.answers.count == 60 && withEDNS.ednsPayloadSize == 1232)
        let overTCP = try await DNSTestClient.tcp(Self.query(name), to: address)
        #expect(!overTCP.truncated && overTCP.answers.count == 60)
        await server.close()
    }

    @Test("garbage gets FORMERR, answers are never answered, and the server goes on serving")
    func garbage() async throws {
        let server = try await ClusterDNSServer.start(zone: Self.zone(), addresses: ["127.0.0.1"], port: 0, forwarder: nil)
        let address = try #require(server.boundAddresses.first)
        let reply = try await DNSTestClient.udpRaw(ByteBuffer(bytes: [0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1]), to: address)
        let parsed = try DNSMessage(parsing: reply)
        #expect(parsed.id == 0x1234 && parsed.responseCode == .formatError)
        var answer = Self.query("web.default.svc.cluster.local")
        answer.isResponse = true
        await #expect(throws: DNSTestClient.NoReply.self) {
            _ = try await DNSTestClient.udpRaw(answer.encoded(), to: address, wait: .milliseconds(300))
        }
        #expect(try await DNSTestClient.udp(Self.query("web.default.svc.cluster.local"), to: address).answers.count == 1)
        await server.close()
    }

    @Test("names outside the cluster go to the node's resolver; an ExternalName is followed through it")
    func forwarding() async throws {
        // The "node's resolver" is a second server, for a domain of its own.
        let upstreamZone = Self.zone(domain: "upstream.test")
        let upstream = try await ClusterDNSServer.start(zone: upstreamZone, addresses: ["127.0.0.1"], port: 0, forwarder: nil)
        let forwarder = try await DNSForwarder.start(upstreams: upstream.boundAddresses, timeout: Self.loadedMachineTimeout)
        let alias: JSONValue = ["metadata": ["name": "docs", "namespace": "default"],
                                "spec": ["type": "ExternalName", "externalName": "web.default.svc.upstream.test"]]
        let server = try await ClusterDNSServer.start(zone: Self.zone(services: [alias]), addresses: ["127.0.0.1"], port: 0, forwarder: forwarder)
        let address = try #require(server.boundAddresses.first)
        let outside = try await DNSTestClient.udp(Self.query("web.default.svc.upstream.test"), to: address)
        #expect(outside.answers.map(\.data) == [.a(IPv4Address("10.43.0.7")!)])
        let missing = try await DNSTestClient.tcp(Self.query("nope.default.svc.upstream.test"), to: address)
        #expect(missing.responseCode == .nameError)
        let followed = try await DNSTestClient.udp(Self.query("docs.default.svc.cluster.local"), to: address)
        #expect(followed.answers.map(\.data) == [.cname("web.default.svc.upstream.test"), .a(IPv4Address("10.43.0.7")!)])
        #expect(followed.questions.first?.name == "docs.default.svc.cluster.local")
        await server.close()
        await forwarder.close()
        await upstream.close()
    }

    @Test("a forwarded answer too big for UDP: truncated over UDP, whole over TCP (asked upstream over TCP too)")
    func forwardingOverTCP() async throws {
        let upstream = try await ClusterDNSServer.start(zone: Self.zone(domain: "upstream.test", endpoints: 60), addresses: ["127.0.0.1"],
            port: 0, forwarder: nil)
        let forwarder = try await DNSForwarder.start(upstreams: upstream.boundAddresses, timeout: Self.loadedMachineTimeout)
        let server = try await ClusterDNSServer.start(zone: Self.zone(), addresses: ["127.0.0.1"], port: 0, forwarder: forwarder)
        let address = try #require(server.boundAddresses.first)
        let name = "many.default.svc.upstream.test"
        let overUDP = try await DNSTestClient.udp(Self.query(name), to: address)
        #expect(overUDP.truncated && overUDP.answers.isEmpty)
        let overTCP = try await DNSTestClient.tcp(Self.query(name), to: address)
        #expect(!overTCP.truncated && overTCP.answers.count == 60)
        await server.close()
        await forwarder.close()
        await upstream.close()
    }

    @Test("a resolver that never answers makes SERVFAIL after the retry, not a hang")
    func silentUpstream() async throws {
        // A bound socket that never reads stands for a resolver that drops queries.
        let silent = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let forwarder = try await DNSForwarder.start(upstreams: [try #require(silent.localAddress)], timeout: .milliseconds(200))
        let server = try await ClusterDNSServer.start(zone: Self.zone(), addresses: ["127.0.0.1"], port: 0, forwarder: forwarder)
        let started = ContinuousClock.now
        let reply = try await DNSTestClient.udp(Self.query("example.org"), to: try #require(server.boundAddresses.first), wait: .seconds(20))
        #expect(reply.responseCode == .serverFailure)
        // Two 200 ms tries, then the answer; the bound is loose because other tests share this process's threads.
        #expect(ContinuousClock.now - started < .seconds(10))
        await server.close()
        await forwarder.close()
        try await silent.close()
    }
}

/// A DNS client for the tests: one query, one reply, over a socket of its own.
enum DNSTestClient {
    struct NoReply: Error {}

    static func udp(_ query: DNSMessage, to address: SocketAddress, wait: TimeAmount = .seconds(30)) async throws -> DNSMessage {
        let reply = try await udpRaw(query.encoded(), to: address, wait: wait)
        let message = try DNSMessage(parsing: reply)
        #expect(message.id == query.id)
        return message
    }

    static func udpRaw(_ packet: ByteBuffer, to address: SocketAddress, wait: TimeAmount = .seconds(30)) async throws -> ByteBuffer {
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: ByteBuffer.self)
        let channel = try await DatagramBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(FirstDatagram(promise: promise)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let timeout = channel.eventLoop.scheduleTask(in: wait) { promise.fail(NoReply()) }
        defer {
            timeout.cancel()
            channel.close(promise: nil)
        }
        try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: packet))
        return try await promise.futureResult.get()
    }

    static func tcp(_ query: DNSMessage, to address: SocketAddress) async throws -> DNSMessage {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return try await channel.executeThenClose { inbound, outbound in
            let message = query.encoded()
            var framed = ByteBuffer()
            framed.writeInteger(UInt16(message.readableBytes))
            framed.writeImmutableBuffer(message)
            try await outbound.write(framed)
            var received = ByteBuffer()
            for try await chunk in inbound {
                received.writeImmutableBuffer(chunk)
                if let length = received.getInteger(at: received.readerIndex, as: UInt16.self), received.readableBytes >= Int(length) + 2 {
                    return try DNSMessage(parsing: received.getSlice(at: received.readerIndex + 2, length: Int(length))!)
                }
            }
            throw NoReply()
        }
    }

    private final class FirstDatagram: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let promise: EventLoopPromise<ByteBuffer>

        init(promise: EventLoopPromise<ByteBuffer>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            promise.succeed(Self.unwrapInboundIn(data).data)
        }
    }
}

@Suite("cluster DNS server, parallel queries")
struct ClusterDNSParallelQueryTests {
    @Test("queries sent back to back from one socket (glibc's A and AAAA) are all answered")
    func backToBack() async throws {
        let server = try await ClusterDNSServer.start(zone: ClusterDNSServerTests.zone(), addresses: ["127.0.0.1"], port: 0, forwarder: nil)
        let address = try #require(server.boundAddresses.first)
        let group = MultiThreadedEventLoopGroup.singleton
        for round in 0..<50 {
            let replies = NIOLockedValueBox<[UInt16]>([])
            let promise = group.next().makePromise(of: Void.self)
            let channel = try await DatagramBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(Collector(replies: replies, expected: 2, done: promise))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            // Generous: a lost reply waits this out, while other tests may be keeping this process's threads busy.
            let timeout = channel.eventLoop.scheduleTask(in: .seconds(10)) { promise.succeed() }
            var a = ClusterDNSServerTests.query("web.default.svc.cluster.local", .a)
            a.id = UInt16(round * 2 + 1)
            var aaaa = ClusterDNSServerTests.query("web.default.svc.cluster.local", .aaaa)
            aaaa.id = UInt16(round * 2 + 2)
            channel.write(AddressedEnvelope(remoteAddress: address, data: a.encoded()), promise: nil)
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: aaaa.encoded()), promise: nil)
            try await promise.futureResult.get()
            timeout.cancel()
            try await channel.close()
            #expect(Set(replies.withLockedValue { $0 }) == [a.id, aaaa.id], "round \(round)")
        }
        await server.close()
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let replies: NIOLockedValueBox<[UInt16]>
        let expected: Int
        let done: EventLoopPromise<Void>

        init(replies: NIOLockedValueBox<[UInt16]>, expected: Int, done: EventLoopPromise<Void>) {
            self.replies = replies
            self.expected = expected
            self.done = done
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let data = Self.unwrapInboundIn(data).data
            let count = replies.withLockedValue { replies in
                replies.append(data.getInteger(at: data.readerIndex, as: UInt16.self) ?? 0)
                return replies.count
            }
            if count == expected { done.succeed() }
        }
    }
}
