import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore

/// A connection whose first request asks for `Upgrade: SPDY/3.1`: what kubectl up to 1.29 sends for exec and
/// attach, and up to 1.30 for port-forward. Hummingbird's HTTP/1 channel negotiates WebSocket only, so this child
/// channel reads the head of a connection's first request before any HTTP handler exists: a SPDY upgrade takes
/// the connection as raw bytes; anything else is handed, bytes and all, to the wrapped channel.
struct SPDYUpgradeChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias SPDYHandler = @Sendable (_ request: HTTPRequest, _ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
        _ leftover: ByteBuffer, _ logger: Logger) async -> Void

    enum Decision: Sendable {
        case http(Base.Value)
        /// The upgrade request, the connection, and any bytes the client sent after the request's head.
        case spdy(HTTPRequest, NIOAsyncChannel<ByteBuffer, ByteBuffer>, ByteBuffer)
    }

    struct Value: ServerChildChannelValue {
        let channel: any Channel
        let decision: EventLoopFuture<Decision>
    }

    let base: Base
    let handleSPDY: SPDYHandler

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let decision = channel.eventLoop.makePromise(of: Decision.self)
            try channel.pipeline.syncOperations.addHandler(FirstRequestReader<Base>(decision: decision) { channel in
                base.setup(channel: channel, logger: logger)
            })
            return Value(channel: channel, decision: decision.futureResult)
        }
    }

    func handle(value: Value, logger: Logger) async {
        switch try? await value.decision.get() {
        case .http(let http):
            await base.handle(value: http, logger: logger)
        case .spdy(let request, let connection, let leftover):
            await handleSPDY(request, connection, leftover, logger)
        case nil:
            try? await value.channel.close()
        }
    }
}

/// Holds a connection's first bytes until its first request head is complete, then decides what serves it.
private final class FirstRequestReader<Base: ServerChildChannel>: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias Decision = SPDYUpgradeChannel<Base>.Decision

    /// A request head larger than this is not looked at (the HTTP decoder refuses it with its own limits).
    static var headLimit: Int { 64 * 1024 }

    private let decision: EventLoopPromise<Decision>
    private let setupHTTP: (any Channel) -> EventLoopFuture<Base.Value>
    private var received: ByteBuffer?
    private var decided = false

    init(decision: EventLoopPromise<Decision>, setupHTTP: @escaping (any Channel) -> EventLoopFuture<Base.Value>) {
        self.decision = decision
        self.setupHTTP = setupHTTP
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = Self.unwrapInboundIn(data)
        if received == nil { received = bytes } else { received!.writeBuffer(&bytes) }
        guard let buffer = received else { return }
        let view = buffer.readableBytesView
        if let end = view.firstRange(of: [13, 10, 13, 10]) {
            let headLength = end.upperBound - view.startIndex
            if let request = Self.spdyUpgrade(head: buffer.getSlice(at: buffer.readerIndex, length: headLength)!) {
                takeOver(context: context, request: request, leftover: buffer.getSlice(at: buffer.readerIndex + headLength,
                    length: buffer.readableBytes - headLength)!)
                return
            }
            handOver(context: context)
        } else if buffer.readableBytes > Self.headLimit {
            handOver(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !decided {
            decided = true
            decision.fail(ChannelError.inputClosed)
        }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client finished sending before its first request was whole: nothing will be served.
        if let event = event as? ChannelEvent, event == .inputClosed, !decided {
            decided = true
            decision.fail(ChannelError.inputClosed)
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !decided {
            decided = true
            decision.fail(error)
            context.close(promise: nil)
            return
        }
        context.fireErrorCaught(error)
    }

    /// Not a SPDY upgrade: the HTTP pipeline is built behind this handler, which then passes on what it held and
    /// leaves.
    private func handOver(context: ChannelHandlerContext) {
        decided = true
        let held = received
        received = nil
        let setup = setupHTTP(context.channel)
        setup.map { Decision.http($0) }.cascade(to: decision)
        if let held { context.fireChannelRead(Self.wrapInboundOut(held)) }
        context.fireChannelReadComplete()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func takeOver(context: ChannelHandlerContext, request: HTTPRequest, leftover: ByteBuffer) {
        decided = true
        received = nil
        do {
            let connection = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: context.channel,
                configuration: .init(isOutboundHalfClosureEnabled: true))
            decision.succeed(.spdy(request, connection, leftover))
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } catch {
            decision.fail(error)
            context.close(promise: nil)
        }
    }

    /// The request of `head` when it asks to switch to SPDY/3.1.
    static func spdyUpgrade(head: ByteBuffer) -> HTTPRequest? {
        let text = String(decoding: head.readableBytesView, as: UTF8.self)
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: true).makeIterator()
        guard let requestLine = lines.next() else { return nil }
        let parts = requestLine.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { return nil }
        var fields = HTTPFields()
        var upgrade = false
        var authority: String?
        while let line = lines.next() {
            guard let colon = line.firstIndex(of: ":"), let name = HTTPField.Name(String(line[..<colon])) else { return nil }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            // HTTP/1's Host is HTTP/2's authority, as the HTTP codec gives it.
            if name.canonicalName == "host" {
                authority = value
                continue
            }
            if name == .upgrade, value.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces).lowercased() == "spdy/3.1" }) {
                upgrade = true
            }
            fields.append(HTTPField(name: name, value: value))
        }
        guard upgrade else { return nil }
        return HTTPRequest(method: HTTPRequest.Method(String(parts[0])) ?? .post, scheme: nil,
            authority: authority, path: String(parts[1]), headerFields: fields)
    }
}
