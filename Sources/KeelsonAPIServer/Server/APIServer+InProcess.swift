import HTTPTypes
import Hummingbird
import NIOCore

extension APIServer {
    /// Answers a request from a component running in this process (`keelson server`'s scheduler, controller manager
    /// and agent), made as `user`: the same routing, authorization, admission, audit and metrics as a request from
    /// the network, without TLS, a socket and HTTP framing between two parts of one process. The identity is given,
    /// not proven, because only code in this process can call here; a body that streams (a watch) streams here too,
    /// and ends when the caller stops reading.
    public func respondInProcess(method: String, target: String, headers: [(String, String)], body: [UInt8], as user: UserInfo)
        async -> (status: Int, body: AsyncThrowingStream<ByteBuffer, any Error>)
    {
        var fields = HTTPFields()
        for (name, value) in headers {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        let head = HTTPRequest(method: HTTPRequest.Method(method) ?? .get, scheme: "https", authority: "localhost", path: target,
            headerFields: fields)
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer(bytes: body)))
        let response = await respond(to: request, channel: nil, user: user.addingAuthenticatedGroup())
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        let answer = response.body
        let writing = Task {
            do {
                try await answer.write(InProcessBodyWriter(continuation: continuation))
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in writing.cancel() }
        return (Int(response.status.code), stream)
    }
}

/// Hands the parts of a response body to the in-process caller; once the caller has stopped reading, writing fails,
/// which ends a watch as a closed connection does.
struct InProcessBodyWriter: ResponseBodyWriter {
    let continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation

    mutating func write(_ buffer: ByteBuffer) async throws {
        if case .terminated = continuation.yield(buffer) { throw CancellationError() }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        continuation.finish()
    }
}
