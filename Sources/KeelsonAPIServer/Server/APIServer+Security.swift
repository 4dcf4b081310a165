import Foundation
import Hummingbird
import HummingbirdTLS
import KeelsonAPI
import NIOCore
import NIOSSL
import Synchronization

/// How the API server knows who is asking: TLS with the cluster's serving certificate, and an authenticator for
/// client certificates and bearer tokens. Without it (unit tests driving the router) every request acts as a
/// member of `system:masters`.
public struct APIServerSecurity: Sendable {
    public var serving: IssuedCertificate
    public var authenticator: RequestAuthenticator
    /// Offered to clients in the handshake as the authorities whose certificates are accepted.
    public var clientCA: IssuedCertificate.CertificateOnly
    /// The server CA, served at `/cacerts` for agents to check against their join token's hash.
    public var serverCAPEM: String
    /// Issues and checks service account tokens.
    public var serviceAccountTokens: ServiceAccountTokenIssuer?
    /// TLS toward kubelets (`useKubeletClient`); nil calls them over plain HTTP.
    public private(set) var kubeletTLS: TLSConfiguration?

    /// Calls kubelets over HTTPS with `identity` (the API server's kubelet client certificate), checking their
    /// serving certificates against the server CA.
    public mutating func useKubeletClient(_ identity: IssuedCertificate) throws {
        kubeletTLS = try KubeletProxy.tls(serverCAPEM: serverCAPEM, identity: identity)
    }

    public init(serving: IssuedCertificate, clientCA: IssuedCertificate.CertificateOnly, serverCAPEM: String, authenticator: RequestAuthenticator) {
        self.serving = serving
        self.clientCA = clientCA
        self.serverCAPEM = serverCAPEM
        self.authenticator = authenticator
    }

    /// TLS 1.2 or newer. A client certificate is asked for but not required, and not checked in the handshake:
    /// the authenticator checks it, so a bad one gets kube-apiserver's 401 instead of a failed handshake.
    func tlsConfiguration() throws -> TLSChannelConfiguration {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: try serving.certificate.derBytes, format: .der))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(serving.keyPEM.utf8), format: .pem)))
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .optionalVerification
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: clientCA.der, format: .der)])
        tls.applicationProtocols = ["http/1.1"]
        // Closing waits this long for the client's close_notify; Go's TLS clients may never send one, and shutdown
        // would otherwise wait five seconds for each of their connections.
        tls.shutdownTimeout = .seconds(1)
        return TLSChannelConfiguration(tlsConfiguration: tls, customVerificationCallback: { _, promise in
            promise.succeed(.certificateVerified)
        })
    }
}

extension IssuedCertificate {
    /// A CA certificate without its key, as the serving side needs it.
    public struct CertificateOnly: Sendable {
        public let der: [UInt8]

        public init(der: [UInt8]) {
            self.der = der
        }
    }
}

/// Closes a connection whose client has finished its side. The server accepts half-closed connections, but a TLS
/// client that ends with close_notify waits (five seconds) for the server's own before it lets go — and a watch
/// still streaming on that connection would never send it.
final class CloseWhenPeerFinishes: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// The client certificate of each open connection, read from its TLS session once: asking the session at every
/// request would cost a hop to the connection's event loop, on a connection whose certificate cannot change.
final class PeerCertificates: Sendable {
    private let known = Mutex<[ObjectIdentifier: [UInt8]?]>([:])

    func certificate(of channel: any Channel) async -> [UInt8]? {
        let id = ObjectIdentifier(channel)
        if let hit = known.withLock({ $0[id] }) { return hit }
        let der: [UInt8]? = if let peer = try? await channel.nioSSL_peerCertificate().get() { try? peer.toDERBytes() } else { nil }
        known.withLock { $0[id] = .some(der) }
        // Forgotten when the connection closes (at once if it already has), before its identifier can be reused.
        channel.closeFuture.whenComplete { [weak self] _ in _ = self?.known.withLock { $0.removeValue(forKey: id) } }
        return der
    }
}

/// The request context of the API server's routes: Hummingbird's, plus the connection, whose TLS session holds
/// the client certificate.
struct APIRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

extension APIServer {
    /// Paths anyone may read without credentials, as kube-apiserver's `system:public-info-viewer` allows.
    static let publicPaths: Set<String> = ["/healthz", "/livez", "/readyz", "/version", "/version/", "/healthz/", "/livez/", "/readyz/",
        "/cacerts"]

    /// The user of a request: authenticated by certificate or token, then impersonation applied. Throws 401 for
    /// a request with bad credentials, or with none outside the public paths.
    /// The user a request acts as and, when it impersonates, the user who sent it.
    func identify(headers: HTTPFields, path: String, channel: (any Channel)?) async throws -> (user: UserInfo, impersonator: UserInfo?) {
        guard let authenticator else {
            return (UserInfo(name: "system:admin", groups: [UserInfo.masters, UserInfo.authenticated]), nil)
        }
        let certificate = if let channel { await peerCertificates.certificate(of: channel) } else { [UInt8]?.none }
        let user: UserInfo
        switch await authenticator.authenticate(clientCertificate: certificate, authorization: headers[.authorization]) {
        case .authenticated(let authenticated):
            user = authenticated
        case .anonymous where Self.publicPaths.contains(path):
            user = UserInfo.anonymous
        case .anonymous:
            throw Status(code: 401, reason: .unauthorized, message: "Unauthorized")
        case .rejected(let reason):
            logger.debug("authentication failed", metadata: ["path": "\(path)", "reason": "\(reason)"])
            throw Status(code: 401, reason: .unauthorized, message: "Unauthorized")
        }
        let impersonation = Impersonation.request(headers: headers.map { ($0.name.rawName, $0.value) })
        if impersonation.isEmpty { return (user, nil) }
        let impersonated = try Impersonation.impersonate(impersonation, as: user) { attributes in
            decide(attributes) != .noOpinion
        }
        return (impersonated, user)
    }

    /// 403 unless an authorizer allows the request.
    func authorize(_ attributes: AuthorizationAttributes) throws {
        guard configuration.security != nil else { return }
        switch nodeAuthorizer.authorize(attributes) {
        case .allow: return
        case .deny(let reason): throw attributes.forbidden(reason: reason)
        case .noOpinion: break
        }
        if case .noOpinion = authorizer.authorize(attributes) { throw attributes.forbidden() }
    }

    /// The authorizers' answer in kube-apiserver's order (Node, then RBAC), as access reviews report it.
    func decide(_ attributes: AuthorizationAttributes) -> RBACAuthorizer.Decision {
        switch nodeAuthorizer.authorize(attributes) {
        case .allow: return .allow(reason: "allowed by the Node authorizer")
        case .deny: return .noOpinion
        case .noOpinion: return authorizer.authorize(attributes)
        }
    }

    /// Whether an exec/attach upgrade may go ahead; when not, the request is left to the REST path, which answers
    /// with the 401 or 403 a client expects before any upgrade.
    func mayStream(_ request: HTTPRequest, channel: any Channel) async -> Bool {
        (try? await authorizeStream(request, channel: channel)) != nil
    }

    /// Authenticates and authorizes a streaming upgrade (exec, attach, port-forward), throwing the 401 or 403
    /// Status otherwise. An accepted one is audited here, as its session never passes through the REST path: a
    /// ResponseStarted event with the switch of protocols.
    func authorizeStream(_ request: HTTPRequest, channel: any Channel) async throws {
        guard configuration.security != nil else { return }
        let components = URLComponents(string: request.path ?? "")
        let path = components?.path ?? ""
        let (user, impersonator) = try await identify(headers: request.headerFields, path: path, channel: channel)
        let registry = handler.registry
        let resourcePath = APIRequest.parseResourcePath(path) { g, v, r in registry.lookup(group: g, version: v, resource: r)?.namespaced }
        let attributes = AuthorizationAttributes.of(method: request.method.rawValue, path: path,
            query: APIRequest.parseQuery(components?.percentEncodedQuery), resourcePath: resourcePath, user: user)
        try authorize(attributes)
        if let auditLog = configuration.auditLog {
            AuditRequest(log: auditLog, attributes: attributes, impersonator: impersonator, method: request.method.rawValue,
                uri: request.path ?? "", userAgent: request.headerFields[.userAgent], sourceIP: channel.remoteAddress?.ipAddress, body: [])?
                .emit(.responseStarted, code: 101, decision: "allow")
        }
    }

    /// The audit event of a request whose credential was refused (kube-apiserver logs these too, with no user),
    /// returning its ID for the `Audit-Id` header.
    func auditFailedAuthentication(_ request: Request, channel: (any Channel)?, status: Status) -> String? {
        guard let auditLog = configuration.auditLog else { return nil }
        let path = request.uri.path
        let registry = handler.registry
        let resourcePath = APIRequest.parseResourcePath(path) { g, v, r in registry.lookup(group: g, version: v, resource: r)?.namespaced }
        let attributes = AuthorizationAttributes.of(method: request.method.rawValue, path: path, query: APIRequest.parseQuery(request.uri.query),
            resourcePath: resourcePath, user: UserInfo(name: ""))
        guard let entry = AuditRequest(log: auditLog, attributes: attributes, impersonator: nil, method: request.method.rawValue,
            uri: request.uri.description, userAgent: request.headers[.userAgent], sourceIP: channel?.remoteAddress?.ipAddress, body: [])
        else { return nil }
        entry.emit(.responseStarted, code: status.code, status: status, decision: nil)
        return entry.auditID
    }

    /// Writes the default roles and bindings, adding to those still marked for automatic update what they lack.
    func reconcileBootstrapPolicy() async throws {
        let registry = handler.registry
        guard let clusterRoles = registry.lookup(group: EscalationCheck.group, version: "v1", resource: "clusterroles"),
              let bindings = registry.lookup(group: EscalationCheck.group, version: "v1", resource: "clusterrolebindings") else { return }
        for (objects, definition, field) in [(BootstrapPolicy.roleObjects(), clusterRoles, "rules"), (BootstrapPolicy.bindingObjects(), bindings, "subjects")] {
            for var wanted in objects {
                let name = wanted.name ?? ""
                guard let stored = try await handler.store.get(definition.key(namespace: nil, name: name), at: nil) else {
                    do {
                        _ = try await handler.create(object: &wanted, namespace: nil, definition: definition, dryRun: false)
                    } catch let status as Status where status.code == 409 {}
                    continue
                }
                let existing = try ObjectCodec.decodeStored(stored)
                guard existing.metadata?["annotations"]?[BootstrapPolicy.autoupdate]?.stringValue == "true" else { continue }
                let have = existing[field]?.arrayValue ?? []
                let missing = (wanted[field]?.arrayValue ?? []).filter { !have.contains($0) }
                if missing.isEmpty { continue }
                var updated = existing
                updated[field] = .array(have + missing)
                _ = try await handler.commitUpdate(updated, old: existing, stored: stored, definition: definition, statusOnly: false, dryRun: false)
            }
        }
    }
}
