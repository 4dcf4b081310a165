import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// One request as an `APIClient` hands it to its transport: the method, the path with its query, headers and body.
public struct APITransportRequest: Sendable {
    public var method: HTTPMethod
    /// The path and query (`/api/v1/pods?watch=true`), relative to the server.
    public var target: String
    public var headers: HTTPHeaders
    public var body: [UInt8]?

    public init(method: HTTPMethod, target: String, headers: HTTPHeaders, body: [UInt8]?) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
    }
}

/// The server's answer: its status, and a body that streams (a watch) or ends (everything else).
public struct APITransportResponse: Sendable {
    public var status: Int
    public var body: any AsyncSequence<ByteBuffer, any Error> & Sendable

    public init(status: Int, body: any AsyncSequence<ByteBuffer, any Error> & Sendable) {
        self.status = status
        self.body = body
    }
}

/// How an `APIClient`'s requests reach the API server: HTTP(S) over the network by default; `keelson server` gives
/// the components it runs beside its API server one that hands each request to that server directly, answered by
/// the same routing, authorization, admission and audit as a request from the network, without the TLS and the
/// socket between two parts of one process.
public protocol APITransport: Sendable {
    func send(_ request: APITransportRequest, timeout: Duration) async throws -> APITransportResponse
    func shutdown() async throws
}

/// The network transport: AsyncHTTPClient with the configuration's TLS, or a shared client.
struct HTTPTransport: APITransport {
    let server: String
    let http: HTTPClient
    let ownsClient: Bool

    func send(_ request: APITransportRequest, timeout: Duration) async throws -> APITransportResponse {
        var outgoing = HTTPClientRequest(url: server + request.target)
        outgoing.method = request.method
        outgoing.headers = request.headers
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        let (seconds, attoseconds) = timeout.components
        let response = try await http.execute(outgoing, timeout: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
        return APITransportResponse(status: Int(response.status.code), body: response.body)
    }

    func shutdown() async throws {
        if ownsClient { try await http.shutdown() }
    }
}
