import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import KeelsonAPI
import KeelsonClient
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// The TLS of the kubelet's API: its serving certificate, and the CA whose clients it admits.
public struct KubeletServingTLS: Sendable {
    public var certificatePEM: String
    public var keyPEM: String
    /// Client certificates must chain to this CA (the server CA: the API server's kubelet client identity).
    public var clientCAPEM: String

    public init(certificatePEM: String, keyPEM: String, clientCAPEM: String) {
        self.certificatePEM = certificatePEM
        self.keyPEM = keyPEM
        self.clientCAPEM = clientCAPEM
    }

    /// HTTPS that admits only clients presenting a certificate of `clientCAPEM` made for client authentication.
    func configuration() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)))
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(clientCAPEM.utf8)))
        tls.shutdownTimeout = .seconds(1)
        return tls
    }
}

/// The kubelet's API (port 10250): `/healthz`, `/pods`, `/containerLogs/NS/POD/CONTAINER` (behind the API
/// server's `pods/log`), the stats (`/stats/summary`, `/metrics/cadvisor`, `/metrics/resource`, `/metrics`) and
/// the `/exec`, `/attach` and `/portForward` WebSocket sessions (behind `pods/exec`, `pods/attach` and
/// `pods/portforward`). With TLS it answers only
/// clients whose certificate the handshake verifies against the client CA of `KubeletServingTLS`: in a cluster,
/// the API server alone (nodes' certificates come from another CA), so one node cannot exec into another's pods.
public struct KubeletServer: Service {
    let runtime: any ContainerRuntime
    let pods: Informer
    let stats: NodeStats
    let host: String
    let port: Int
    let logger: Logger
    /// The TLS to serve with, obtained at start (a joining agent waits for its certificate to be signed); nil serves
    /// plain HTTP (tests, simulated nodes).
    let tls: (@Sendable () async throws -> KubeletServingTLS)?

    public init(kubelet: Kubelet, host: String, port: Int, logger: Logger, tls: (@Sendable () async throws -> KubeletServingTLS)? = nil) {
        self.runtime = kubelet.runtime
        self.pods = kubelet.pods
        self.stats = kubelet.stats
        self.host = host
        self.port = port
        self.logger = logger
        self.tls = tls
    }

    public func run() async throws {
        let router = Router()
        router.get("/healthz") { _, _ in "ok" }
        router.get("/pods") { [pods] _, _ -> Response in
            let list: JSONValue = ["kind": "PodList", "apiVersion": "v1", "metadata": [:], "items": .array(pods.list())]
            return Self.json(list)
        }
        router.get("/containerLogs/:namespace/:pod/:container") { [self] request, context -> Response in
            try await logs(request, namespace: context.parameters.require("namespace"), pod: context.parameters.require("pod"),
                container: context.parameters.require("container"))
        }
        router.get("/stats/summary") { [stats] _, _ in Self.json(stats.summary.build()) }
        router.get("/metrics/cadvisor") { [stats] _, _ in Self.prometheus(Array(stats.metrics.cadvisor().utf8)) }
        router.get("/metrics/resource") { [stats] _, _ in Self.prometheus(Array(stats.metrics.resource().utf8)) }
        let ownMetrics = KubeletMetrics()
        router.get("/metrics") { [stats] _, _ in Self.prometheus(ownMetrics.render(history: stats.history)) }
        let streaming = StreamingProxy(runtime: runtime, pods: pods, stats: stats, logger: logger)
        let http: HTTPServerBuilder = .http1WebSocketUpgrade(configuration: .init(ws: .init(maxFrameSize: 1 << 20))) { request, _, _ in
            await streaming.shouldUpgrade(request)
        }
        var server = http
        if let tls { server = try HTTPServerBuilder.tls(http, tlsConfiguration: try await tls().configuration()) }
        let app = Application(router: router, server: server,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil), logger: logger)
        try await app.run()
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: value.encoded())))
    }

    static func prometheus(_ text: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain"], body: ResponseBody(byteBuffer: ByteBuffer(string: message + "\n")))
    }

    /// The file's bytes from `offset` on (empty when it is missing).
    static func read(_ path: String, from offset: Int) -> Data {
        guard let handle = FileHandle(forReadingAtPath: path) else { return Data() }
        defer { try? handle.close() }
        try? handle.seek(toOffset: UInt64(offset))
        return (try? handle.readToEnd()) ?? Data()
    }

    func logs(_ request: Request, namespace: String, pod: String, container: String) async throws -> Response {
        let query = request.uri.queryParameters
        let follow = query["follow"].map { $0 == "true" || $0 == "1" } ?? false
        let previous = query["previous"].map { $0 == "true" || $0 == "1" } ?? false
        var options = ContainerLogReader.Options()
        options.timestamps = query["timestamps"].map { $0 == "true" || $0 == "1" } ?? false
        options.tailLines = query["tailLines"].flatMap { Int(String($0)) }
        options.limitBytes = query["limitBytes"].flatMap { Int(String($0)) }
        if let seconds = query["sinceSeconds"].flatMap({ Int(String($0)) }) {
            options.since = Date().addingTimeInterval(-Double(seconds))
        } else if let time = query["sinceTime"] {
            options.since = ContainerLogReader.date(String(time))
        }
        let instances = try await runtime.listContainers()
            .filter { $0.labels[RuntimeLabels.podNamespace] == namespace && $0.labels[RuntimeLabels.podName] == pod && $0.name == container }
            .sorted { ($0.attempt, $0.createdAt) > ($1.attempt, $1.createdAt) }
        guard let chosen = previous ? instances.dropFirst().first : instances.first else {
            return Self.error(.notFound, previous ? "previous terminated container \"\(container)\" in pod \"\(pod)\" not found"
                : "container \"\(container)\" in pod \"\(pod)\" is not available")
        }
        let status = try await runtime.containerStatus(chosen.id)
        let path = status.logPath
        let runtime = self.runtime
        let logOptions = options
        let body = ResponseBody { writer in
            var offset = 0
            var partial = false
            var written = 0
            var first = true
            while true {
                let data = Self.read(path, from: offset)
                var readOptions = logOptions
                if !first { readOptions.tailLines = nil }
                first = false
                if !data.isEmpty {
                    var (output, consumed) = ContainerLogReader.render(data, options: readOptions, pendingPartial: &partial)
                    offset += consumed
                    if let limit = logOptions.limitBytes {
                        output = output.prefix(max(0, limit - written))
                    }
                    if !output.isEmpty {
                        written += output.count
                        try await writer.write(ByteBuffer(bytes: output))
                    }
                    if let limit = logOptions.limitBytes, written >= limit { break }
                }
                guard follow else { break }
                let state = try? await runtime.containerStatus(chosen.id).state
                if state != .running && state != .created {
                    // One more read catches what the container wrote just before it ended.
                    if Self.read(path, from: offset).isEmpty { break }
                    continue
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/plain"], body: body)
    }
}
