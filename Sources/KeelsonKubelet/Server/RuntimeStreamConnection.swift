import Foundation
import NIOCore
import NIOPosix

/// A connection to the runtime's streaming server for one exec or attach URL, switched to SPDY/3.1 with
/// Kubernetes' v4 channel protocol, as kubectl asks a kubelet for it.
enum RuntimeStreamConnection {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    typealias Input = NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator

    /// Connects to the URL's server; the upgrade request is returned to be written first on the connection.
    static func open(_ url: String) async throws -> (channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, upgradeRequest: ByteBuffer) {
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port else {
            throw Failure(description: "the runtime's streaming URL \(url) cannot be used")
        }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        let path = components.percentEncodedPath + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
        let request = ByteBuffer(string: "POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: Upgrade\r\n"
            + "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n")
        return (channel, request)
    }

    /// Reads the answer to the upgrade request; the bytes after its head are the first SPDY frames.
    static func upgraded(_ input: inout Input) async throws -> [UInt8] {
        var head: [UInt8] = []
        let end: [UInt8] = [13, 10, 13, 10]
        while true {
            if let range = head.firstRange(of: end) {
                let text = String(decoding: head[..<range.lowerBound], as: UTF8.self)
                let status = text.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) }
                guard status == 101 else {
                    throw Failure(description: "the runtime refused the stream: \(text.split(separator: "\r\n").first ?? "")")
                }
                return Array(head[range.upperBound...])
            }
            guard head.count < 1 << 16, let buffer = try await input.next() else {
                throw Failure(description: "the runtime closed the stream before upgrading it")
            }
            head += buffer.readableBytesView
        }
    }
}
