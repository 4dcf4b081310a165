import ArgumentParser
import AsyncHTTPClient
import Foundation
import KeelsonAPIServer
import KeelsonClient
import KeelsonStore
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// What TLS, authentication and RBAC add to a GET: the same API server code twice in this process, one over plain
/// HTTP deciding nothing, one over HTTPS authenticating a client certificate and deciding with RBAC among
/// `--bindings` RoleBindings, asked in alternation so both see the same machine.
struct TLSOverheadBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tls",
        abstract: "GET latency over HTTPS with authentication and RBAC, against the same server over plain HTTP.")

    @Option(help: "GETs per server") var requests = 3000
    @Option(help: "RoleBindings for other users present while deciding") var bindings = 1000
    @Option(help: "Scratch directory") var dir: String

    struct Server {
        let task: Task<Void, any Error>
        let port: Int
        let store: SQLiteStore
    }

    static func start(_ directory: URL, security: APIServerSecurity?) async throws -> Server {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(configuration: SQLiteStore.Configuration(path: directory.appendingPathComponent("state.db").path))
        var configuration = APIServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.security = security
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = APIServer(configuration: configuration, store: store, logger: logger, onListening: { continuation.yield($0) })
        let task = Task { try await server.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ValidationError("the server did not start") }
        return Server(task: task, port: port, store: store)
    }

    func run() async throws {
        let root = URL(fileURLWithPath: dir)
        let pki = try ClusterPKI.loadOrCreate(directory: root.appendingPathComponent("tls"), dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"])
        let security = APIServerSecurity(serving: pki.serving, clientCA: .init(der: try pki.clientCADER), serverCAPEM: try pki.serverCAPEM,
            authenticator: RequestAuthenticator(clientCA: pki.clientCA.certificate))
        let plain = try await Self.start(root.appendingPathComponent("plain"), security: nil)
        let secured = try await Self.start(root.appendingPathComponent("secured"), security: security)
        let reader = try pki.clientCA.issueWithKey(commonName: "reader", organizations: ["readers"], usage: .client)

        let plainClient = HTTPClient.forBenchmark(connections: 1)
        let adminClient = try Self.client(pki: pki, identity: pki.admin)
        let readerClient = try Self.client(pki: pki, identity: reader)
        do {
            let plainBase = "http://127.0.0.1:\(plain.port)", securedBase = "https://127.0.0.1:\(secured.port)"
            for base in [plainBase] {
                _ = try await plainClient.send(.POST, "\(base)/api/v1/namespaces/default/configmaps", body: #"{"metadata":{"name":"probe"}}"#)
            }
            _ = try await adminClient.send(.POST, "\(securedBase)/api/v1/namespaces/default/configmaps", body: #"{"metadata":{"name":"probe"}}"#)
            // The reader may get ConfigMaps in default; the other bindings name other users and namespaces.
            _ = try await adminClient.send(.POST, "\(securedBase)/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
                body: Self.binding("reader", user: "reader", role: "view"))
            for i in 0..<bindings {
                _ = try await adminClient.send(.POST, "\(securedBase)/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
                    body: Self.binding("other-\(i)", user: "user-\(i)", role: "edit"))
            }
            let path = "/api/v1/namespaces/default/configmaps/probe"
            var allowed = false
            for _ in 0..<500 where !allowed {
                allowed = try await readerClient.send(.GET, securedBase + path).0 == 200
                if !allowed { try await Task.sleep(for: .milliseconds(10)) }
            }
            guard allowed else { throw ValidationError("the reader's binding never took effect") }
            for _ in 0..<300 {
                _ = try await plainClient.send(.GET, plainBase + path)
                _ = try await readerClient.send(.GET, securedBase + path)
            }
            var plainTimes: [Double] = [], securedTimes: [Double] = []
            for _ in 0..<requests {
                plainTimes.append(try await Self.time { _ = try await plainClient.send(.GET, plainBase + path) })
                securedTimes.append(try await Self.time { _ = try await readerClient.send(.GET, securedBase + path) })
            }
            // A new connection for each GET: the handshake too.
            var plainFresh: [Double] = [], securedFresh: [Double] = []
            for _ in 0..<max(requests / 10, 50) {
                plainFresh.append(try await Self.time { _ = try await plainClient.send(.GET, plainBase + path, close: true) })
                securedFresh.append(try await Self.time { _ = try await readerClient.send(.GET, securedBase + path, close: true) })
            }
            func summary(_ label: String, _ a: [Double], _ b: [Double]) {
                let (pa, pb) = (Self.percentile(a, 0.5), Self.percentile(b, 0.5))
                print(String(format: "%@: plain HTTP p50 %.3f ms p99 %.3f ms; HTTPS+authn+RBAC p50 %.3f ms p99 %.3f ms; p50 +%.1f%%",
                    label, pa, Self.percentile(a, 0.99), pb, Self.percentile(b, 0.99), (pb / pa - 1) * 100))
            }
            summary("GET, kept-alive connection, \(bindings + 1) RoleBindings", plainTimes, securedTimes)
            summary("GET on a new connection each time (TCP, and the TLS handshake)", plainFresh, securedFresh)
        } catch {
            for client in [plainClient, adminClient, readerClient] { try? await client.shutdown() }
            throw error
        }
        for client in [plainClient, adminClient, readerClient] { try await client.shutdown() }
        for server in [plain, secured] {
            server.task.cancel()
            _ = await server.task.result
            try server.store.close()
        }
    }

    static func client(pki: ClusterPKI, identity: IssuedCertificate) throws -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 8)
        configuration.tlsConfiguration = try ClientConfiguration.tls(certificateAuthorityPEM: try pki.serverCAPEM,
            clientCertificatePEM: try identity.certificatePEM, clientKeyPEM: identity.keyPEM)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    static func binding(_ name: String, user: String, role: String) -> String {
        #"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"\#(name)"},"#
            + #""roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"\#(role)"},"#
            + #""subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"\#(user)"}]}"#
    }

    /// Milliseconds taken by `body`.
    static func time(_ body: () async throws -> Void) async throws -> Double {
        let start = ContinuousClock.now
        try await body()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }
}
