import Foundation
import NIOCore
import NIOPosix

/// One `kubectl port-forward` connection at the kubelet, in Kubernetes' `portforward.k8s.io` protocol over SPDY:
/// for each connection kubectl accepts locally it opens two streams with the same `requestID` header — an error
/// stream, which kubectl closes at once and reads for a message, and a data stream — both naming the pod's `port`.
/// Once both are there the kubelet connects to that port on the pod's loopback and copies bytes both ways; a
/// failure is written on the error stream. The pod closing its side ends the pair; kubectl closing its side only
/// half-closes the pod's connection (a request can still be answered).
actor PortForwardSession {
    typealias Writer = @Sendable ([UInt8]) async throws -> Void
    typealias Dialer = @Sendable (Int) async throws -> CInt

    private struct Pair {
        var dataStream: UInt32?
        var errorStream: UInt32?
        var port: String?
        var toPod: AsyncStream<[UInt8]>.Continuation?
        var task: Task<Void, Never>?
    }

    private let framer: SPDYFramer
    private let write: Writer
    private let dial: Dialer
    /// Names the pod in error messages, as the kubelet does: `pod NAME, uid UID`.
    private let podDescription: String
    private var pairs: [String: Pair] = [:]
    private var requestOfStream: [UInt32: String] = [:]

    init(podDescription: String, write: @escaping Writer, dial: @escaping Dialer) throws {
        self.framer = try SPDYFramer()
        self.podDescription = podDescription
        self.write = write
        self.dial = dial
    }

    /// Reads the client's bytes until the connection ends; every forwarded connection ends with it.
    func run<Input: AsyncSequence>(_ input: Input) async throws where Input.Element == [UInt8] {
        defer { closeAll() }
        for try await bytes in input {
            framer.append(bytes)
            while let frame = try framer.next() {
                if try await !handle(frame) { return }
            }
        }
    }

    /// False once the client says it is going away.
    private func handle(_ frame: SPDYFrame) async throws -> Bool {
        switch frame {
        case .synStream(let id, let headers, _):
            try await send(.synReply(streamID: id, headers: [:], fin: false))
            opened(id, headers: headers)
        case .data(let id, let bytes, let fin):
            guard let request = requestOfStream[id], let pair = pairs[request], pair.dataStream == id else { break }
            if !bytes.isEmpty { pair.toPod?.yield(bytes) }
            if fin { pair.toPod?.finish() }
        case .rstStream(let id, _):
            if let request = requestOfStream[id] { end(request) }
        case .ping(let id):
            // Odd identifiers are the client's; answering is how it knows the connection lives.
            if id % 2 == 1 { try await send(.ping(id: id)) }
        case .goAway:
            return false
        case .synReply, .settings, .headers, .windowUpdate:
            break
        }
        return true
    }

    private func opened(_ id: UInt32, headers: [String: String]) {
        let type = headers["streamtype"] ?? ""
        // Clients before request IDs paired a data stream with the error stream opened just before it.
        let request = headers["requestid"].flatMap { $0.isEmpty ? nil : $0 } ?? String(type == "data" && id >= 2 ? id - 2 : id)
        var pair = pairs[request] ?? Pair()
        switch type {
        case "error": pair.errorStream = id
        case "data": pair.dataStream = id
        default:
            Task { try? await self.send(.rstStream(streamID: id, status: SPDYFrame.protocolError)) }
            return
        }
        pair.port = pair.port ?? headers["port"]
        requestOfStream[id] = request
        if let data = pair.dataStream, let error = pair.errorStream, pair.task == nil {
            let (toPod, continuation) = AsyncStream<[UInt8]>.makeStream()
            pair.toPod = continuation
            let port = pair.port ?? ""
            pair.task = Task { await self.forward(port: port, data: data, error: error, toPod: toPod, request: request) }
        }
        pairs[request] = pair
    }

    private func forward(port: String, data: UInt32, error: UInt32, toPod: AsyncStream<[UInt8]>, request: String) async {
        do {
            guard let number = Int(port), (1...65535).contains(number) else {
                throw PodPortDialer.Failure(description: "invalid port \"\(port)\"")
            }
            let socket = try await dial(number)
            try await copy(socket: socket, data: data, toPod: toPod)
        } catch is CancellationError {
        } catch let failure {
            let message = "error forwarding port \(port) to \(podDescription): \(failure)"
            try? await send(.data(streamID: error, bytes: Array(message.utf8), fin: false))
            // kubectl reads the error only once the data stream has ended too.
            try? await send(.data(streamID: data, bytes: [], fin: true))
        }
        try? await send(.data(streamID: error, bytes: [], fin: true))
        forgotten(request)
    }

    private func copy(socket: CInt, data: UInt32, toPod: AsyncStream<[UInt8]>) async throws {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .withConnectedSocket(socket) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true))
                    }
                }
        } catch {
            close(socket)
            throw error
        }
        try await channel.executeThenClose { fromPod, podWriter in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await bytes in toPod { try await podWriter.write(ByteBuffer(bytes: bytes)) }
                    podWriter.finish()
                }
                for try await buffer in fromPod {
                    try await send(.data(streamID: data, bytes: Array(buffer.readableBytesView), fin: false))
                }
                try await send(.data(streamID: data, bytes: [], fin: true))
                group.cancelAll()
            }
        }
    }

    private func send(_ frame: SPDYFrame) async throws {
        try await write(try framer.encode(frame))
    }

    private func end(_ request: String) {
        guard let pair = pairs[request] else { return }
        pair.toPod?.finish()
        pair.task?.cancel()
        forgotten(request)
    }

    private func forgotten(_ request: String) {
        guard let pair = pairs.removeValue(forKey: request) else { return }
        for id in [pair.dataStream, pair.errorStream].compactMap({ $0 }) { requestOfStream[id] = nil }
    }

    private func closeAll() {
        for request in Array(pairs.keys) { end(request) }
    }
}
