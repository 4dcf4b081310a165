import Foundation
import NIOCore
import NIOPosix

/// An exec or attach session relayed from kubectl's WebSocket channels to the runtime's streaming server, spoken to
/// in SPDY as Kubernetes' own kubelet clients do: one stream per channel (error, stdin, stdout, stderr, resize).
/// SPDY can end a single stream, which the WebSocket protocol the runtime speaks (v4) cannot: so kubectl's "close
/// stdin" (v5 channel 255) reaches the process as end of input, which `kubectl cp` into a pod and `exec -i` of a
/// command that reads to the end need.
actor RuntimeStreamSession {
    typealias ClientWriter = @Sendable (_ channel: UInt8, _ bytes: [UInt8]) async throws -> Void

    /// Stream identifiers, opened in kubectl's order. Channel numbers are the WebSocket protocol's.
    private enum StreamType: String, CaseIterable {
        case error, stdin, stdout, stderr, resize

        var channel: UInt8 {
            switch self {
            case .stdin: 0
            case .stdout: 1
            case .stderr: 2
            case .error: 3
            case .resize: 4
            }
        }
    }

    private let framer: SPDYFramer
    private let toClient: ClientWriter
    private var streams: [StreamType: UInt32] = [:]
    private var typeOfStream: [UInt32: StreamType] = [:]
    private var replied: Set<UInt32> = []
    private var ready: [CheckedContinuation<Void, Never>] = []
    private var finished = false
    private var runtimeWriter: NIOAsyncChannelOutboundWriter<ByteBuffer>?

    init(toClient: @escaping ClientWriter) throws {
        self.framer = try SPDYFramer()
        self.toClient = toClient
    }

    /// Runs the session to its end: the runtime closing it (after the final Status on the error channel) or the
    /// client going away. `fromClient` yields the client's messages as channel byte and payload.
    func run<Input: AsyncSequence & Sendable>(url: String, request: StreamRequest, fromClient: Input) async throws
    where Input.Element == (UInt8, [UInt8]) {
        let (channel, upgrade) = try await RuntimeStreamConnection.open(url)
        try await channel.executeThenClose { runtimeIn, runtimeOut in
            runtimeWriter = runtimeOut
            try await runtimeOut.write(upgrade)
            var input = runtimeIn.makeAsyncIterator()
            let leftover = try await RuntimeStreamConnection.upgraded(&input)
            try await open(request)
            framer.append(leftover)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await self.relayFromClient(fromClient)
                    // The client is gone: closing the connection ends the loop below (and the runtime's session).
                    try? await channel.channel.close()
                }
                defer {
                    // A client still waiting for the streams to be answered must not hold the session open.
                    finished = true
                    for waiter in ready { waiter.resume() }
                    ready = []
                    group.cancelAll()
                }
                if try await processFrames() {
                    while let buffer = try await input.next(isolation: #isolation) {
                        framer.append(buffer.readableBytesView)
                        if try await !processFrames() { break }
                    }
                }
            }
        }
    }

    /// Opens the streams the request asks for; the runtime starts the session once all of them are there.
    private func open(_ request: StreamRequest) async throws {
        var wanted: [StreamType] = [.error]
        if request.stdin { wanted.append(.stdin) }
        if request.stdout { wanted.append(.stdout) }
        // A terminal merges stderr into stdout; its size travels on the resize stream instead.
        if request.stderr && !request.tty { wanted.append(.stderr) }
        if request.tty { wanted.append(.resize) }
        var next: UInt32 = 1
        for type in wanted {
            streams[type] = next
            typeOfStream[next] = type
            try await send(.synStream(streamID: next, headers: ["streamtype": type.rawValue], fin: false))
            next += 2
        }
    }

    /// False once the session is over: the runtime went away or ended the error stream with the final Status.
    private func processFrames() async throws -> Bool {
        while let frame = try framer.next() {
            switch frame {
            case .synReply(let id, _, _):
                replied.insert(id)
                if replied.count == streams.count {
                    for waiter in ready { waiter.resume() }
                    ready = []
                }
            case .data(let id, let bytes, let fin):
                guard let type = typeOfStream[id] else { break }
                if !bytes.isEmpty { try await toClient(type.channel, bytes) }
                if fin && type == .error { return false }
            case .rstStream(let id, _):
                if typeOfStream[id] == .error { return false }
            case .ping(let id):
                if id % 2 == 0 { try await send(.ping(id: id)) }
            case .goAway:
                return false
            case .synStream(let id, _, _):
                try await send(.rstStream(streamID: id, status: SPDYFrame.protocolError))
            case .settings, .headers, .windowUpdate:
                break
            }
        }
        return true
    }

    private func relayFromClient<Input: AsyncSequence>(_ fromClient: Input) async throws where Input.Element == (UInt8, [UInt8]) {
        if replied.count < streams.count && !finished { await withCheckedContinuation { ready.append($0) } }
        guard !finished else { return }
        for try await (channel, payload) in fromClient {
            switch channel {
            case StreamType.stdin.channel:
                if let id = streams[.stdin], !payload.isEmpty { try await send(.data(streamID: id, bytes: payload, fin: false)) }
            case StreamType.resize.channel:
                if let id = streams[.resize] { try await send(.data(streamID: id, bytes: payload, fin: false)) }
            case 255 where payload.first == StreamType.stdin.channel:
                if let id = streams[.stdin] { try await send(.data(streamID: id, bytes: [], fin: true)) }
            default:
                break
            }
        }
    }

    private func send(_ frame: SPDYFrame) async throws {
        guard let runtimeWriter else { return }
        try await runtimeWriter.write(ByteBuffer(bytes: try framer.encode(frame)))
    }
}
