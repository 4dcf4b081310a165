import ArgumentParser
import Foundation
import KeelsonAPI
import KeelsonProxy
import NIOCore
import NIOPosix

/// Cluster DNS queries per second on loopback: the server with a zone of SERVICES services, asked for their A
/// records by closed-loop clients (each socket keeps WINDOW queries in flight), latency from send to reply.
struct DNSBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dns", abstract: "Cluster DNS queries/s and latency on loopback.")

    @Option(help: "Services in the zone") var services: Int = 10_000
    @Option(help: "Client sockets") var sockets: Int = 2
    @Option(help: "Queries in flight per socket, comma-separated (one run each)") var windows: String = "1,8,32"
    @Option(help: "Seconds per run") var seconds: Int = 5

    func run() async throws {
        let definitions: [JSONValue] = (0..<services).map { i in
            ["metadata": ["name": .string("svc-\(i)"), "namespace": "bench"],
             "spec": ["clusterIP": .string("10.43.\(i / 250).\(i % 250 + 1)"), "ports": [["name": "http", "port": 80]]]]
        }
        let buildStart = ContinuousClock.now
        let zone = ClusterDNSZone.build(services: definitions, slices: [], configuration: .init())
        let build = ContinuousClock.now - buildStart
        // The server on its own event loop, the clients on another: two cores, one each.
        let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await ClusterDNSServer.start(zone: zone, addresses: ["127.0.0.1"], port: 0, forwarder: nil, group: serverGroup)
        let address = server.boundAddresses[0]
        let queries: [ByteBuffer] = (0..<min(services, 4096)).map { i in
            var query = DNSMessage(id: 0)
            query.recursionDesired = true
            query.questions = [DNSQuestion(name: "svc-\((i * 7919) % services).bench.svc.cluster.local", type: .a)]
            return query.encoded()
        }
        print(String(format: "dns: zone of %d services built in %.1f ms", services, Double(build.components.attoseconds) / 1e15
            + Double(build.components.seconds) * 1000))
        for window in windows.split(separator: ",").compactMap({ Int($0) }) {
            let deadline = NIODeadline.now() + .seconds(Int64(seconds))
            var runs: [EventLoopFuture<LaneResult>] = []
            var channels: [any Channel] = []
            for _ in 0..<sockets {
                let promise = clientGroup.next().makePromise(of: LaneResult.self)
                let channel = try await DatagramBootstrap(group: clientGroup)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(Lane(server: address, queries: queries, window: window,
                                                                                 deadline: deadline, done: promise))
                        }
                    }
                    .bind(host: "127.0.0.1", port: 0).get()
                channels.append(channel)
                runs.append(promise.futureResult)
            }
            var latencies: [Double] = []
            var answered = 0, wrong = 0
            for run in runs {
                let result = try await run.get()
                latencies += result.latencies
                answered += result.answered
                wrong += result.wrong
            }
            for channel in channels { try await channel.close() }
            latencies.sort()
            func percentile(_ p: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
            print(String(format: "dns: %d sockets × %2d in flight: %8.0f queries/s; latency p50 %.3f ms, p99 %.3f ms, max %.3f ms; %d wrong answers",
                sockets, window, Double(answered) / Double(seconds), percentile(0.5) * 1000, percentile(0.99) * 1000,
                (latencies.last ?? 0) * 1000, wrong))
        }
        await server.close()
        try await serverGroup.shutdownGracefully()
        try await clientGroup.shutdownGracefully()
    }

    struct LaneResult: Sendable {
        var latencies: [Double]
        var answered: Int
        var wrong: Int
    }

    /// One client socket: keeps `window` queries outstanding until the deadline, then reports.
    final class Lane: ChannelInboundHandler {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        typealias OutboundOut = AddressedEnvelope<ByteBuffer>

        let server: SocketAddress
        let queries: [ByteBuffer]
        let window: Int
        let deadline: NIODeadline
        let done: EventLoopPromise<LaneResult>
        var sentAt: [UInt16: NIODeadline] = [:]
        var nextID: UInt16 = 1
        var nextQuery = 0
        var result = LaneResult(latencies: [], answered: 0, wrong: 0)
        var finished = false

        init(server: SocketAddress, queries: [ByteBuffer], window: Int, deadline: NIODeadline, done: EventLoopPromise<LaneResult>) {
            self.server = server
            self.queries = queries
            self.window = window
            self.deadline = deadline
            self.done = done
            result.latencies.reserveCapacity(1 << 20)
        }

        func channelActive(context: ChannelHandlerContext) {
            for _ in 0..<window { send(context) }
            context.flush()
            // Lost datagrams would shrink the window for good: a timer tops it up.
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { task in
                let (lane, context) = bound.value
                guard !lane.finished else { task.cancel(); return }
                if NIODeadline.now() >= lane.deadline {
                    lane.finished = true
                    lane.done.succeed(lane.result)
                    return
                }
                let stale = NIODeadline.now() - .milliseconds(200)
                for (id, sent) in lane.sentAt where sent < stale { lane.sentAt[id] = nil }
                while lane.sentAt.count < lane.window { lane.send(context) }
                context.flush()
            }
        }

        func send(_ context: ChannelHandlerContext) {
            var packet = queries[nextQuery % queries.count]
            nextQuery += 1
            let id = nextID
            nextID = nextID &+ 1
            packet.setInteger(id, at: packet.readerIndex)
            sentAt[id] = .now()
            context.write(Self.wrapOutboundOut(AddressedEnvelope(remoteAddress: server, data: packet)), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let reply = Self.unwrapInboundIn(data).data
            let now = NIODeadline.now()
            guard let id = reply.getInteger(at: reply.readerIndex, as: UInt16.self), let sent = sentAt.removeValue(forKey: id) else { return }
            result.latencies.append(Double((now - sent).nanoseconds) / 1e9)
            result.answered += 1
            // Flags 0x8580: a response, authoritative, recursion desired and available, NOERROR; one answer.
            if reply.getInteger(at: reply.readerIndex + 2, as: UInt16.self) != 0x8580 || reply.getInteger(at: reply.readerIndex + 6, as: UInt16.self) != 1 {
                result.wrong += 1
            }
            if now >= deadline {
                if !finished {
                    finished = true
                    done.succeed(result)
                }
                return
            }
            send(context)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            context.flush()
        }
    }
}
