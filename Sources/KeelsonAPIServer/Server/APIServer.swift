import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import KeelsonAPI
import KeelsonStore
import Logging
import NIOCore
import ServiceLifecycle

/// Where the API server listens and how much it accepts.
public struct APIServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Largest request body; larger ones get 413.
    public var maxBodyBytes: Int = ObjectCodec.maxBodyBytes
    /// Where Service cluster IPs come from (`--service-cidr`).
    public var serviceRange = IPv4Range("10.43.0.0/16")!
    /// Where node ports come from (`--service-node-port-range`).
    public var nodePortRange = 30000...32767
    /// How long new pods tolerate a not-ready or unreachable node by default.
    public var defaultTolerationSeconds = DefaultTolerationSeconds()
    /// How long Events live after their last write (`--event-ttl`, one hour as in kube-apiserver).
    public var eventTTL: Duration = .seconds(3600)
    /// How often a watch that allows bookmarks gets one (kube-apiserver sends them about once a minute).
    public var watchBookmarkInterval: Duration = .seconds(60)
    /// Keep the registry in memory and answer lists from it (kube-apiserver's `--watch-cache`).
    public var watchCache = true
    /// The cluster DNS address (`--cluster-dns`): reserved by a `kube-system/kube-dns` Service, as clusters
    /// running CoreDNS have one, so that no other Service is given it.
    public var clusterDNS: String?
    /// TLS and authentication; nil serves plain HTTP and treats every request as the cluster admin's (tests only).
    public var security: APIServerSecurity?
    /// The audit log (`--audit-log-path`); nil records nothing.
    public var auditLog: AuditLog?
    /// Secrets encryption at rest (`--secrets-encryption`): served for `keelson secrets-encrypt`.
    public var secretsEncryption: SecretsEncryption?

    public init(host: String = "127.0.0.1", port: Int = 6443) {
        self.host = host
        self.port = port
    }
}

/// The Kubernetes API over HTTP: discovery, health, and the generic REST handler for every registered kind.
public final class APIServer: Service {
    let configuration: APIServerConfiguration
    let handler: RESTHandler
    let discovery: Discovery
    let openAPI: OpenAPIDocuments
    let customResources: CustomResourceRegistrar
    let namespaceCache: NamespaceCache
    let allocator: ServiceAllocator
    let metrics = APIMetrics()
    let kubelets: KubeletProxy
    let authorizer: RBACAuthorizer
    let nodeAuthorizer: NodeAuthorizer
    let peerCertificates = PeerCertificates()
    /// The configured authentication chain plus service account tokens; nil without security (unit tests).
    let authenticator: RequestAuthenticator?
    let logger: Logger
    private let onListening: @Sendable (Int) async -> Void

    /// - Parameter onListening: called with the bound port once the server accepts connections.
    /// Logs of the HTTP server itself (connections, handshakes), apart from the API's.
    let httpLogger: Logger

    public init(configuration: APIServerConfiguration, store: any Store, logger: Logger, httpLogger: Logger? = nil,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in })
    {
        self.httpLogger = httpLogger ?? logger
        self.configuration = configuration
        kubelets = KubeletProxy(tls: configuration.security?.kubeletTLS)
        let registry = ResourceRegistry(BuiltinResources.all)
        let namespaceCache = NamespaceCache(store: store, prefix: registry.lookup(group: "", version: "v1", resource: "namespaces")!.keyPrefix,
            logger: logger)
        self.namespaceCache = namespaceCache
        self.allocator = ServiceAllocator(store: store, serviceRange: configuration.serviceRange, nodePorts: configuration.nodePortRange,
            logger: logger)
        let authorizer = RBACAuthorizer(store: store, logger: logger)
        self.authorizer = authorizer
        self.nodeAuthorizer = NodeAuthorizer(store: store,
            podsPrefix: registry.lookup(group: "", version: "v1", resource: "pods")!.keyPrefix,
            claimsPrefix: registry.lookup(group: "", version: "v1", resource: "persistentvolumeclaims")!.keyPrefix, logger: logger)
        self.handler = RESTHandler(store: store, registry: registry, logger: logger, namespaces: namespaceCache, allocator: allocator,
            tolerationDefaults: configuration.defaultTolerationSeconds, kubelets: kubelets, eventTTL: configuration.eventTTL,
            bookmarkInterval: configuration.watchBookmarkInterval,
            watchCache: configuration.watchCache ? WatchCache(store: store, logger: logger) : nil, escalation: configuration.security == nil ? nil : EscalationCheck(authorizer: authorizer),
            tokenIssuer: configuration.security?.serviceAccountTokens, webhooks: AdmissionWebhooks(store: store, logger: logger))
        if let security = configuration.security {
            let handler = self.handler
            let accounts = security.serviceAccountTokens.map { issuer in
                ServiceAccountTokenAuthenticator(issuer: issuer) { resource, namespace, name in
                    guard let definition = handler.registry.lookup(group: "", version: "v1", resource: resource) else { return nil }
                    return try? await handler.get(definition, namespace: namespace, name: name).uid
                }
            }
            self.authenticator = security.authenticator.adding(accounts.map { [$0] } ?? [])
        } else {
            self.authenticator = nil
        }
        self.customResources = CustomResourceRegistrar(handler: handler, logger: logger)
        self.discovery = Discovery(registry: registry, serverAddress: "\(configuration.host):\(configuration.port)")
        self.openAPI = OpenAPIDocuments(registry: registry)
        self.logger = logger
        self.onListening = onListening
    }

    /// Creates what a new cluster starts with, idempotently: the four system namespaces and the `kubernetes`
    /// Service on the first address of the service range; and repairs the allocations of Service addresses.
    public func bootstrap() async throws {
        let registry = handler.registry
        guard let namespaces = registry.lookup(group: "", version: "v1", resource: "namespaces"),
            let services = registry.lookup(group: "", version: "v1", resource: "services")
        else { return }
        try await allocator.repair(servicePrefix: services.keyPrefix)
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            var object: JSONValue = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]]
            do {
                _ = try await handler.create(object: &object, namespace: nil, definition: namespaces, dryRun: false)
            } catch let status as Status where status.code == 409 {
                continue
            }
        }
        try await createClusterDNSService(services)
        try await reconcileBootstrapPolicy()
        try await authorizer.prime()
        try await nodeAuthorizer.prime()
        try await customResources.prime()
        if try await handler.store.get(services.key(namespace: "default", name: "kubernetes"), at: nil) != nil { return }
        var kubernetes: JSONValue = [
            "apiVersion": "v1", "kind": "Service",
            "metadata": ["name": "kubernetes", "labels": ["component": "apiserver", "provider": "kubernetes"]],
            "spec": [
                "type": "ClusterIP", "clusterIP": .string(allocator.apiServerServiceIP),
                "ports": [["name": "https", "port": 443, "protocol": "TCP", "targetPort": .integer(Int64(configuration.port))]],
            ],
        ]
        do {
            _ = try await handler.create(object: &kubernetes, namespace: "default", definition: services, dryRun: false)
        } catch let status as Status where status.code == 409 {
            return
        }
    }

    /// Every agent answers on the cluster DNS address itself; the annotation tells proxies to leave the address
    /// to the node rather than send it to endpoints this Service does not have.
    private func createClusterDNSService(_ services: ResourceDefinition) async throws {
        guard let address = configuration.clusterDNS, let ip = IPv4Range.parse(address), configuration.serviceRange.contains(ip),
              try await handler.store.get(services.key(namespace: "kube-system", name: "kube-dns"), at: nil) == nil else { return }
        var service: JSONValue = [
            "apiVersion": "v1", "kind": "Service",
            "metadata": [
                "name": "kube-dns",
                "labels": ["k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "KeelsonDNS"],
                "annotations": [ServiceAnnotations.nodeLocal: "true"],
            ],
            "spec": [
                "type": "ClusterIP", "clusterIP": .string(address),
                "ports": [["name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53],
                          ["name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53]],
            ],
        ]
        do {
            _ = try await handler.create(object: &service, namespace: "kube-system", definition: services, dryRun: false)
        } catch let status as Status where status.code == 409 || status.code == 422 {
            // Taken by a Service created before; the address is not Keelson's to reclaim.
            logger.warning("the cluster DNS address is held by another Service", metadata: ["address": "\(address)", "reason": "\(status.message)"])
        }
    }

    public func run() async throws {
        try await bootstrap()
        let auditLog = configuration.auditLog
        // The audit log is written by a task of its own that outlives the HTTP server, so that the events of the
        // last requests are on disk before the server returns.
        let writer = Task { await auditLog?.run() }
        func drain() async {
            auditLog?.finish()
            await writer.value
            await kubelets.shutdown()
        }
        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await self.followStore() }
                try await self.makeApplication().run()
                group.cancelAll()
            }
        } catch {
            await drain()
            throw error
        }
        await drain()
    }

    /// The caches kept current from the store (namespaces, the RBAC policy), until cancelled or shut down; exposed
    /// so tests driving the application without a socket can run them.
    public func followStore() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.namespaceCache.run() }
            group.addTask { try await self.authorizer.run() }
            group.addTask { try await self.nodeAuthorizer.run() }
            group.addTask { try await self.customResources.run() }
            if let cache = self.handler.watchCache { group.addTask { await cache.run() } }
            if let webhooks = self.handler.webhooks { group.addTask { try await webhooks.run() } }
        }
    }

    /// The HTTP application serving this API (exposed so tests can drive it without a socket).
    public func makeApplication() throws -> some ApplicationProtocol {
        let streams = PodStreamProxy(handler: handler, logger: logger)
        // kubectl writes stdin (`cp` into a pod) in messages of up to 32 KiB; 16 KiB is the library's default.
        let channelConfiguration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(additionalChannelHandlers: [CloseWhenPeerFinishes()]), ws: .init(maxFrameSize: 1 << 20))
        let http = HTTPServerBuilder { [self] responder in
            let webSocket = HTTP1WebSocketUpgradeChannel(responder: responder, configuration: channelConfiguration) { request, channel, _ in
                guard await self.mayStream(request, channel: channel) else { return .dontUpgrade }
                return await streams.shouldUpgrade(request)
            }
            return SPDYUpgradeChannel(base: webSocket) { request, connection, leftover, _ in
                await streams.serveSPDY(request, connection: connection, leftover: leftover) {
                    try await self.authorizeStream(request, channel: connection.channel)
                }
            }
        }
        return Application(
            responder: CallbackResponder { [self] (request: Request, context: APIRequestContext) in
                await self.respond(to: request, channel: context.channel)
            },
            server: try configuration.security.map { try .tls(http, configuration: try $0.tlsConfiguration()) } ?? http,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { [onListening] channel in
                await onListening(channel.localAddress?.port ?? 0)
            },
            logger: httpLogger
        )
    }

    /// Answers one request; every failure becomes a `Status`. `user` is given for requests made in this process
    /// (see `respondInProcess`); others are authenticated.
    func respond(to request: Request, channel: (any Channel)?, user given: UserInfo? = nil) async -> Response {
        var audit: AuditRequest?
        var decision: String?
        do {
            let (user, impersonator) = if let given { (given, UserInfo?.none) } else {
                try await identify(headers: request.headers, path: request.uri.path, channel: channel)
            }
            let body = try await readBody(of: request)
            let apiRequest = APIRequest(
                method: request.method.rawValue, path: request.uri.path, query: APIRequest.parseQuery(request.uri.query),
                contentType: request.headers[.contentType], accept: request.headers[.accept],
                userAgent: request.headers[.userAgent], body: body, ifNoneMatch: request.headers[.ifNoneMatch])
            let start = ContinuousClock.now
            let registry = handler.registry
            // Parsed once: routing and the request metrics both need it.
            let resourcePath = APIRequest.parseResourcePath(apiRequest.path) { g, v, r in registry.lookup(group: g, version: v, resource: r)?.namespaced }
            let attributes = AuthorizationAttributes.of(method: apiRequest.method, path: apiRequest.path, query: apiRequest.query,
                resourcePath: resourcePath, user: user)
            if let auditLog = configuration.auditLog {
                audit = AuditRequest(log: auditLog, attributes: attributes, impersonator: impersonator, method: apiRequest.method,
                    uri: request.uri.description, userAgent: apiRequest.userAgent, sourceIP: channel?.remoteAddress?.ipAddress, body: body, contentType: apiRequest.contentType)
                audit?.emit(.requestReceived, decision: nil)
            }
            let response: Response
            do {
                decision = "forbid"
                try authorize(attributes)
                decision = "allow"
                let warnings = RequestWarnings()
                var answer = try await RequestUser.$current.withValue(user) {
                    try await RequestWarnings.$current.withValue(warnings) {
                        try await RequestAuditAnnotations.$current.withValue(audit?.annotations) {
                            try await route(apiRequest, resourcePath: resourcePath, user: user)
                        }
                    }
                }
                for warning in warnings.all {
                    answer.headers.append(HTTPField(name: HTTPField.Name("Warning")!, value: "299 - \"\(warning.replacingOccurrences(of: "\"", with: "\\\""))\""))
                }
                response = answer
            } catch {
                recordMetrics(apiRequest, resourcePath, code: (error as? Status)?.code ?? Status(mapping: error, definition: nil, name: "").code, since: start)
                throw error
            }
            recordMetrics(apiRequest, resourcePath, code: Int(response.status.code), since: start)
            return audit?.completing(response, decision: decision, longRunning: attributes.verb == "watch") ?? response
        } catch {
            let status = (error as? Status) ?? Status(mapping: error, definition: nil, name: "")
            if status.code >= 500 {
                // A Status is an answer the server chose; anything else reaching here is a fault.
                logger.log(level: error is Status ? .warning : .error, "request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            }
            var response = RESTHandler.statusResponse(status)
            if let audit {
                audit.emit(.responseComplete, code: status.code, status: status, decision: decision)
                response.headers[AuditRequest.idHeader] = audit.auditID
            } else if status.code == 401, let auditID = auditFailedAuthentication(request, channel: channel, status: status) {
                response.headers[AuditRequest.idHeader] = auditID
            }
            return response
        }
    }

    /// Most bytes of an oversized body read and thrown away so the client, which may send it all before reading
    /// any answer, gets its 413 instead of a stalled connection.
    static let oversizedBodyDrainLimit = 64 * 1024 * 1024

    /// Collects the request body, refusing one over the limit with 413 `RequestEntityTooLarge`.
    private func readBody(of request: Request) async throws -> [UInt8] {
        var collected: [UInt8] = []
        var total = 0
        for try await chunk in request.body {
            total += chunk.readableBytes
            if total <= configuration.maxBodyBytes {
                collected.append(contentsOf: chunk.readableBytesView)
            } else if total > configuration.maxBodyBytes + Self.oversizedBodyDrainLimit {
                break
            }
        }
        if total > configuration.maxBodyBytes {
            throw Status(code: 413, reason: .requestEntityTooLarge,
                message: "Request entity too large: limit is \(configuration.maxBodyBytes)")
        }
        return collected
    }

    private func recordMetrics(_ request: APIRequest, _ path: ResourcePath?, code: Int, since start: ContinuousClock.Instant) {
        let watch = request.query["watch"] == "true" || request.query["watch"] == "1"
        let verb = path == nil ? request.method : APIMetrics.verb(method: request.method, hasName: path?.name != nil, watch: watch)
        metrics.record(verb: verb, resource: path?.resource ?? "", code: code, duration: ContinuousClock.now - start)
    }

    private func route(_ request: APIRequest, resourcePath: ResourcePath?, user: UserInfo) async throws -> Response {
        let path = request.path.count > 1 && request.path.hasSuffix("/") ? String(request.path.dropLast()) : request.path
        switch path {
        case "/healthz", "/livez", "/readyz":
            return Self.text("ok")
        case "/metrics":
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.render())))
        case "/version":
            return RESTHandler.json(Discovery.version)
        case "/cacerts" where configuration.security != nil:
            // Public like k3s's: what it serves is checked by the agent against the hash in its join token.
            return Self.text(configuration.security?.serverCAPEM ?? "")
        case "/v1-keelson/secrets-encrypt" where request.method == "GET":
            guard let encryption = configuration.secretsEncryption else { throw Self.encryptionDisabled }
            return RESTHandler.json(try await encryption.status())
        case "/v1-keelson/secrets-encrypt/rotate-keys" where request.method == "POST":
            guard let encryption = configuration.secretsEncryption else { throw Self.encryptionDisabled }
            return RESTHandler.json(try await encryption.rotateKeys())
        case "/api":
            if let version = request.aggregatedDiscoveryVersion { return aggregated(core: true, version: version) }
            return RESTHandler.json(discovery.apiVersions())
        case "/apis":
            if let version = request.aggregatedDiscoveryVersion { return aggregated(core: false, version: version) }
            return RESTHandler.json(discovery.apiGroupList())
        case "/api/v1":
            return RESTHandler.json(discovery.resourceList(group: "", version: "v1")!)
        case "/openapi/v3":
            return RESTHandler.json(openAPI.index())
        case "/openapi/v2":
            if let accept = request.accept, OpenAPIDocuments.protobufMediaTypes.contains(where: accept.contains) {
                return Self.document(openAPI.cached("v2.pb") { openAPI.swaggerProtobuf() } ?? [],
                                     contentType: OpenAPIDocuments.protobufContentType, request: request)
            }
            return Self.document(openAPI.cached("v2") { openAPI.swagger().encoded() } ?? [], contentType: "application/json", request: request)
        default:
            break
        }
        let segments = path.split(separator: "/")
        if path.hasPrefix("/openapi/v3/") {
            let rest = segments.dropFirst(2)
            let group = rest.first == "api" ? "" : rest.dropFirst().first.map(String.init) ?? ""
            let version = rest.last.map(String.init) ?? ""
            if (rest.first == "api" && rest.count == 2) || (rest.first == "apis" && rest.count == 3),
                let document = openAPI.encodedDocument(group: group, version: version)
            {
                return Self.document(document, contentType: "application/json", request: request)
            }
        }
        if segments.first == "apis" && segments.count == 2, let group = discovery.apiGroup(String(segments[1])) {
            return RESTHandler.json(group)
        }
        if segments.first == "apis" && segments.count == 3,
            let list = discovery.resourceList(group: String(segments[1]), version: String(segments[2]))
        {
            return RESTHandler.json(list)
        }
        guard let resourcePath,
            let definition = handler.registry.lookup(group: resourcePath.group, version: resourcePath.version, resource: resourcePath.resource)
        else {
            throw Status(code: 404, reason: .notFound, message: "the server could not find the requested resource")
        }
        if AccessReviewAPI.groups.contains(definition.group) {
            return try AccessReviewAPI(authorizer: authorizer, decide: { [self] in decide($0) })
                .handle(request, path: resourcePath, definition: definition, user: user)
        }
        if definition.group == ResourceMetricsAPI.group {
            return try await ResourceMetricsAPI(handler: handler).handle(request, path: resourcePath, definition: definition)
        }
        return try await handler.handle(request, path: resourcePath, definition: definition)
    }

    private func aggregated(core: Bool, version: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json;g=apidiscovery.k8s.io;v=\(version);as=APIGroupDiscoveryList"
        headers[.vary] = "Accept"
        return Response(status: .ok, headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: discovery.aggregated(core: core, version: version).encoded())))
    }

    static let encryptionDisabled = Status(code: 400, reason: .badRequest,
        message: "secrets encryption is not enabled: start the server with --secrets-encryption")

    /// A document clients cache (OpenAPI): answered with an ETag, and with 304 when the client has it already.
    private static func document(_ bytes: [UInt8], contentType: String, request: APIRequest) -> Response {
        let etag = "\"\(OpenAPIDocuments.hash(bytes))\""
        var headers = HTTPFields()
        headers[.eTag] = etag
        headers[.contentType] = contentType
        if let wanted = request.ifNoneMatch, wanted.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag }) {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    private static func text(_ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
