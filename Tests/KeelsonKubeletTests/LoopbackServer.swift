import NIOCore
import NIOPosix
import Testing

/// A TCP server on 127.0.0.1 for the tests: each connection is handed to `handle` in a task of its own; the
/// server stops when its task is cancelled.
enum LoopbackServer {
    typealias Handler = @Sendable (NIOAsyncChannelInboundStream<ByteBuffer>, NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws -> Void

    static func start(_ handle: @escaping Handler) async throws -> (port: Int, task: Task<Void, Never>) {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        let port = try #require(server.channel.localAddress?.port)
        let task = Task<Void, Never> {
            _ = try? await server.executeThenClose { connections in
                for try await connection in connections {
                    Task { try? await connection.executeThenClose { inbound, outbound in try await handle(inbound, outbound) } }
                }
            }
        }
        return (port, task)
    }
}
