import AsyncHTTPClient
import Foundation
import KeelsonAPI
import NIOCore
import NIOHTTP1

/// One event of a watch.
public struct WatchEvent: Sendable {
    public enum EventType: String, Sendable {
        case added = "ADDED"
        case modified = "MODIFIED"
        case deleted = "DELETED"
        case bookmark = "BOOKMARK"
        case error = "ERROR"
    }

    public var type: EventType
    public var object: JSONValue

    public init(type: EventType, object: JSONValue) {
        self.type = type
        self.object = object
    }
}

/// The options of a list or watch.
public struct ListOptions: Sendable {
    public var labelSelector: String?
    public var fieldSelector: String?
    public var limit: Int?
    public var continueToken: String?
    public var resourceVersion: String?
    public var timeoutSeconds: Int?
    public var allowWatchBookmarks = false
    /// Not sent: the client leaves `metadata.managedFields` out of the objects it decodes, as Kubernetes' own
    /// components do in their informers — ownership records are for appliers, and they are a third of a pod.
    public var omitsManagedFields = false

    public init(labelSelector: String? = nil, fieldSelector: String? = nil, limit: Int? = nil, resourceVersion: String? = nil,
        timeoutSeconds: Int? = nil, allowWatchBookmarks: Bool = false)
    {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.limit = limit
        self.resourceVersion = resourceVersion
        self.timeoutSeconds = timeoutSeconds
        self.allowWatchBookmarks = allowWatchBookmarks
    }

    var queryItems: [(String, String)] {
        var items: [(String, String)] = []
        if let labelSelector { items.append(("labelSelector", labelSelector)) }
        if let fieldSelector { items.append(("fieldSelector", fieldSelector)) }
        if let limit { items.append(("limit", String(limit))) }
        if let continueToken { items.append(("continue", continueToken)) }
        if let resourceVersion { items.append(("resourceVersion", resourceVersion)) }
        if let timeoutSeconds { items.append(("timeoutSeconds", String(timeoutSeconds))) }
        if allowWatchBookmarks { items.append(("allowWatchBookmarks", "true")) }
        return items
    }
}

/// One page of a list.
public struct ObjectList: Sendable {
    public var items: [JSONValue]
    public var resourceVersion: String
    public var continueToken: String?

    public init(items: [JSONValue], resourceVersion: String, continueToken: String? = nil) {
        self.items = items
        self.resourceVersion = resourceVersion
        self.continueToken = continueToken
    }
}

/// The Kubernetes REST API over HTTP, for any resource: the dynamic client every Keelson component builds on.
public final class APIClient: KubernetesClient {
    public let configuration: ClientConfiguration
    private let transport: any APITransport

    /// - Parameter httpClient: a shared client; when nil the API client owns one and `shutdown()` ends it.
    public init(configuration: ClientConfiguration, httpClient: HTTPClient? = nil) {
        self.configuration = configuration
        if let httpClient {
            self.transport = HTTPTransport(server: configuration.server, http: httpClient, ownsClient: false)
        } else {
            var config = HTTPClient.Configuration()
            // Every watch holds an HTTP/1.1 connection for minutes, and a controller manager watches some 40
            // resources: the pool must leave room for ordinary requests beside them, or those queue behind watches.
            config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)
            config.tlsConfiguration = configuration.tls
            self.transport = HTTPTransport(server: configuration.server,
                http: HTTPClient(eventLoopGroupProvider: .singleton, configuration: config), ownsClient: true)
        }
    }

    /// A client whose requests go through `transport` (the configuration's server and TLS are not used).
    public init(configuration: ClientConfiguration, transport: any APITransport) {
        self.configuration = configuration
        self.transport = transport
    }

    public func shutdown() async throws {
        try await transport.shutdown()
    }

    /// Runs `body` with a client for `configuration`, shut down however the body ends (an HTTP client that is not
    /// shut down traps when it goes away).
    public static func using<T>(_ configuration: ClientConfiguration, _ body: (APIClient) async throws -> T) async throws -> T {
        let client = APIClient(configuration: configuration)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    // MARK: Verbs

    public func get(_ resource: ResourceReference, namespace: String?, name: String, subresource: String?) async throws -> JSONValue {
        try await send(.GET, resource.path(namespace: namespace, name: name, subresource: subresource))
    }

    public func list(_ resource: ResourceReference, namespace: String?, options: ListOptions) async throws -> ObjectList {
        let value = try await send(.GET, resource.path(namespace: namespace), query: options.queryItems,
            omitting: options.omitsManagedFields ? "managedFields" : nil)
        return ObjectList(items: value["items"]?.arrayValue ?? [],
            resourceVersion: value["metadata"]?["resourceVersion"]?.stringValue ?? "",
            continueToken: value["metadata"]?["continue"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 })
    }

    public func create(_ resource: ResourceReference, namespace: String?, _ object: JSONValue, subresource: String?) async throws -> JSONValue {
        let path = subresource.map { resource.path(namespace: namespace, name: object.name ?? "", subresource: $0) } ?? resource.path(namespace: namespace)
        return try await send(.POST, path, body: object)
    }

    public func update(_ resource: ResourceReference, namespace: String?, _ object: JSONValue, subresource: String?) async throws -> JSONValue {
        try await send(.PUT, resource.path(namespace: namespace, name: object.name ?? "", subresource: subresource), body: object)
    }

    public func patch(_ resource: ResourceReference, namespace: String?, name: String, _ patch: JSONValue, type: PatchType,
        subresource: String?) async throws -> JSONValue
    {
        try await send(.PATCH, resource.path(namespace: namespace, name: name, subresource: subresource), body: patch, contentType: type.rawValue)
    }

    public func delete(_ resource: ResourceReference, namespace: String?, name: String, options: JSONValue?) async throws -> JSONValue {
        try await send(.DELETE, resource.path(namespace: namespace, name: name), body: options)
    }

    public func deleteCollection(_ resource: ResourceReference, namespace: String?, options: ListOptions) async throws -> JSONValue {
        try await send(.DELETE, resource.path(namespace: namespace), query: options.queryItems)
    }

    public func raw(_ method: HTTPMethod, _ path: String, body: JSONValue?) async throws -> JSONValue {
        try await send(method, path, body: body)
    }

    // MARK: Watch

    public func watch(_ resource: ResourceReference, namespace: String? = nil, options: ListOptions) -> AsyncThrowingStream<WatchEvent, any Error> {
        var query = options.queryItems
        query.append(("watch", "true"))
        let path = resource.path(namespace: namespace)
        let request = makeRequest(.GET, path, query: query, body: nil, contentType: nil)
        let transport = self.transport
        let omitted = options.omitsManagedFields ? "managedFields" : nil
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let response = try await transport.send(request, timeout: .seconds(options.timeoutSeconds ?? 1800) + .seconds(30))
                    guard response.status == 200 else {
                        let body = try await Self.collect(response.body)
                        throw Self.error(method: "GET", path: path, status: response.status, body: body)
                    }
                    var pending: [UInt8] = []
                    for try await chunk in response.body {
                        pending.append(contentsOf: chunk.readableBytesView)
                        // A chunk often carries many events: take every line, then drop them from the buffer once.
                        var consumed = 0
                        defer { pending.removeFirst(consumed) }
                        while let newline = pending[consumed...].firstIndex(of: 10) {
                            let line = Array(pending[consumed..<newline])
                            consumed = newline + 1
                            if line.isEmpty { continue }
                            let value = try JSONParser.parse(line, omitting: omitted)
                            guard let type = value["type"]?.stringValue.flatMap(WatchEvent.EventType.init(rawValue:)),
                                let object = value["object"]
                            else { continue }
                            if type == .error {
                                throw APIError(status: Status(json: object) ?? .internalError("watch error"), method: "GET", path: path)
                            }
                            continuation.yield(WatchEvent(type: type, object: object))
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    // MARK: Transport

    private func makeRequest(_ method: HTTPMethod, _ path: String, query: [(String, String)], body: JSONValue?, contentType: String?) -> APITransportRequest {
        var target = path
        if !query.isEmpty {
            target += "?" + query.map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }.joined(separator: "&")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "User-Agent", value: configuration.userAgent)
        if let token = configuration.bearerToken { headers.add(name: "Authorization", value: "Bearer \(token)") }
        var encoded: [UInt8]?
        if let body {
            headers.add(name: "Content-Type", value: contentType ?? "application/json")
            encoded = body.encoded()
        }
        return APITransportRequest(method: method, target: target, headers: headers, body: encoded)
    }

    private static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)

    static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if unreserved.contains(byte) {
                out.append(Character(Unicode.Scalar(byte)))
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    private func send(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: JSONValue? = nil,
        contentType: String? = nil, omitting omittedKey: String? = nil) async throws -> JSONValue
    {
        let request = makeRequest(method, path, query: query, body: body, contentType: contentType)
        let response = try await transport.send(request, timeout: .seconds(60))
        let bytes = try await Self.collect(response.body)
        let code = response.status
        guard (200..<300).contains(code) else {
            throw Self.error(method: method.rawValue, path: path, status: code, body: bytes)
        }
        if bytes.isEmpty { return .null }
        return try JSONParser.parse(bytes, omitting: omittedKey)
    }

    /// A whole body, up to 64 MiB.
    private static func collect(_ body: any AsyncSequence<ByteBuffer, any Error>) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await chunk in body {
            bytes.append(contentsOf: chunk.readableBytesView)
            if bytes.count > 64 << 20 { throw APIError(status: .internalError("the answer is larger than 64 MiB"), method: "", path: "") }
        }
        return bytes
    }

    private static func error(method: String, path: String, status code: Int, body: [UInt8]) -> APIError {
        let status = (try? JSONParser.parse(body)).flatMap(Status.init(json:))
            ?? Status(code: code, reason: nil, message: String(decoding: body.prefix(512), as: UTF8.self))
        return APIError(status: status, method: method, path: path)
    }
}
