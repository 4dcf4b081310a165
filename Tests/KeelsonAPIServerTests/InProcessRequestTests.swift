import Foundation
import KeelsonAPI
import NIOCore
import Testing

@testable import KeelsonAPIServer

/// Requests made in the server's own process (how `keelson server` runs its scheduler, controller manager and
/// agent): answered as the network's are, for the user given.
@Suite("Requests made in process")
struct InProcessRequestTests {
    static let configMap = Array(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"local"},"data":{"a":"1"}}"#.utf8)
    static let headers = [("Content-Type", "application/json"), ("Accept", "application/json"), ("User-Agent", "in-process-test/1.0")]

    static func collect(_ body: AsyncThrowingStream<ByteBuffer, any Error>) async throws -> JSONValue {
        var bytes: [UInt8] = []
        for try await chunk in body { bytes.append(contentsOf: chunk.readableBytesView) }
        return try JSONParser.parse(bytes)
    }

    @Test("authorized and admitted as the given user: a user without a binding is forbidden, a master creates, its user agent manages the fields")
    func identityAndAdmission() async throws {
        let security = try SecuredServer.security()
        try await TestServer.runServing(configure: { $0.security = security }) { _, _, server in
            let refused = await server.respondInProcess(method: "POST", target: "/api/v1/namespaces/default/configmaps",
                headers: Self.headers, body: Self.configMap, as: UserInfo(name: "bob"))
            #expect(refused.status == 403)
            let status = try await Self.collect(refused.body)
            #expect(status["reason"] == "Forbidden")
            #expect(status["message"]?.stringValue?.contains(#"User "bob" cannot create resource "configmaps""#) == true, "\(status)")

            let created = await server.respondInProcess(method: "POST", target: "/api/v1/namespaces/default/configmaps",
                headers: Self.headers, body: Self.configMap, as: UserInfo(name: "admin", groups: [UserInfo.masters]))
            #expect(created.status == 201)
            let object = try await Self.collect(created.body)
            #expect(object["data"]?["a"] == "1")
            #expect(object.metadata?["managedFields"]?.arrayValue?.first?["manager"] == "in-process-test")

            let invalid = await server.respondInProcess(method: "POST", target: "/api/v1/namespaces/default/configmaps",
                headers: Self.headers, body: Array(#"{"metadata":{"name":"Bad_Name"}}"#.utf8), as: UserInfo(name: "admin", groups: [UserInfo.masters]))
            #expect(invalid.status == 422, "validated as any request")
        }
    }

    @Test("a watch streams its events to the caller as they happen")
    func watchStreams() async throws {
        try await TestServer.runServing { _, _, server in
            let admin = UserInfo(name: "admin", groups: [UserInfo.masters])
            let watch = await server.respondInProcess(method: "GET", target: "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=0",
                headers: Self.headers, body: [], as: admin)
            #expect(watch.status == 200)
            let created = await server.respondInProcess(method: "POST", target: "/api/v1/namespaces/default/configmaps",
                headers: Self.headers, body: Self.configMap, as: admin)
            #expect(created.status == 201)
            var pending: [UInt8] = []
            var event: JSONValue?
            for try await chunk in watch.body {
                pending.append(contentsOf: chunk.readableBytesView)
                if let newline = pending.firstIndex(of: 10) {
                    event = try JSONParser.parse(Array(pending[..<newline]))
                    break
                }
            }
            #expect(event?["type"] == "ADDED")
            #expect(event?["object"]?.name == "local")
        }
    }

    @Test("once the caller has stopped reading, the next write of the answer fails, which ends a watch's handler")
    func writerStopsWithTheReader() async throws {
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        var writer = InProcessBodyWriter(continuation: continuation)
        try await writer.write(ByteBuffer(string: "first\n"))
        var iterator = stream.makeAsyncIterator()
        #expect(try await iterator.next() == ByteBuffer(string: "first\n"))
        continuation.finish()
        await #expect(throws: CancellationError.self) { try await writer.write(ByteBuffer(string: "second\n")) }
    }
}
