import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import KeelsonAPI
import KeelsonAPIServer
import KeelsonStore
import Logging
import Testing

/// An API server on a fresh store in a temporary directory, driven in process (no socket).
struct TestServer {
    struct Reply {
        var status: Int
        var body: JSONValue
        var contentType: String?
        var headers: HTTPFields = [:]
        var bytes: [UInt8] = []
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    static func run(_ body: @escaping @Sendable (TestServer.Client) async throws -> Void) async throws {
        try await run { client, _ in try await body(client) }
    }

    static func run(configure: (inout APIServerConfiguration) -> Void = { _ in },
                    _ body: @escaping @Sendable (TestServer.Client, SQLiteStore) async throws -> Void) async throws {
        try await runServing(configure: configure) { client, store, _ in try await body(client, store) }
    }

    /// As `run`, with the server itself for what its router client cannot reach (requests made in process).
    static func runServing(configure: (inout APIServerConfiguration) -> Void = { _ in }, mode: TestingSetup = .router,
                           _ body: @escaping @Sendable (TestServer.Client, SQLiteStore, APIServer) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-api-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteStore(configuration: SQLiteStore.Configuration(path: dir.appendingPathComponent("state.db").path))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = APIServerConfiguration(host: "127.0.0.1", port: 0)
        configure(&configuration)
        let server = APIServer(configuration: configuration, store: store, logger: logger)
        try await server.bootstrap()
        let caches = Task { try await server.followStore() }
        do {
            try await server.makeApplication().test(mode) { client in
                try await body(Client(client: client), store, server)
            }
        } catch {
            caches.cancel()
            _ = await caches.result
            throw error
        }
        caches.cancel()
        _ = await caches.result
        try store.close()
    }

    struct Client: Sendable {
        let client: any TestClientProtocol

        /// The server's port, when it listens on a socket (`mode: .live`).
        var port: Int? { client.port }

        @discardableResult
        func request(_ method: HTTPRequest.Method, _ uri: String, body: String? = nil, contentType: String = "application/json",
            accept: String = "application/json", headers extra: [(String, String)] = []) async throws -> Reply
        {
            var headers: HTTPFields = [.accept: accept]
            for (name, value) in extra { headers.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
            if body != nil { headers[.contentType] = contentType }
            let response = try await client.execute(uri: uri, method: method, headers: headers,
                body: body.map { ByteBuffer(string: $0) })
            let bytes = Array(buffer: response.body)
            let value = (try? JSONParser.parse(bytes)) ?? .string(String(decoding: bytes, as: UTF8.self))
            return Reply(status: Int(response.status.code), body: value, contentType: response.headers[.contentType],
                headers: response.headers, bytes: bytes)
        }

        func json(_ method: HTTPRequest.Method, _ uri: String, _ body: JSONValue, contentType: String = "application/json",
            headers: [(String, String)] = []) async throws -> Reply
        {
            try await request(method, uri, body: body.encodedString(), contentType: contentType, headers: headers)
        }
    }
}
