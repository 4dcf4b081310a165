import Foundation
import KeelsonAPI
import NIOSSL
import Yams

/// Where the API server is and who the client is: what a kubeconfig's current context says.
public struct ClientConfiguration: Sendable {
    public var server: String
    /// `Authorization: Bearer` token, when the context's user has one.
    public var bearerToken: String?
    /// Sent as the `User-Agent`, so the server's logs and audit name the component.
    public var userAgent: String
    /// How to reach an `https://` server: the CA to trust, the client certificate to present.
    public var tls: TLSConfiguration?
    /// The CA the kubeconfig trusts the server with (PEM), when it names one.
    public var certificateAuthorityPEM: String?

    public init(server: String, bearerToken: String? = nil, userAgent: String = "keelson", tls: TLSConfiguration? = nil) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.bearerToken = bearerToken
        self.userAgent = userAgent
        self.tls = tls
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// TLS that trusts `certificateAuthorityPEM` (or the system's roots when nil) and presents the client
    /// certificate when one is given.
    public static func tls(certificateAuthorityPEM: String?, clientCertificatePEM: String? = nil, clientKeyPEM: String? = nil,
        insecureSkipVerify: Bool = false) throws -> TLSConfiguration
    {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        // A closing connection waits this long for the server's close_notify, not NIO's default five seconds.
        tls.shutdownTimeout = .seconds(1)
        if let certificateAuthorityPEM {
            let roots = try NIOSSLCertificate.fromPEMBytes(Array(certificateAuthorityPEM.utf8))
            guard !roots.isEmpty else { throw Invalid(description: "the certificate authority data holds no certificate") }
            tls.trustRoots = .certificates(roots)
        }
        if insecureSkipVerify { tls.certificateVerification = .none }
        if let clientCertificatePEM, let clientKeyPEM {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(clientCertificatePEM.utf8)).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(clientKeyPEM.utf8), format: .pem))
        }
        return tls
    }

    /// Reads a kubeconfig file and takes its current context: the server, its CA (inline or a file), and the
    /// user's client certificate and key or token.
    public static func kubeconfig(at path: String, userAgent: String = "keelson") throws -> ClientConfiguration {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let root = try Yams.load(yaml: text) as? [String: Any] else {
            throw Invalid(description: "\(path) is not a kubeconfig")
        }
        func named(_ key: String, _ name: String?) -> [String: Any]? {
            let entries = root[key] as? [[String: Any]] ?? []
            let entry = name.flatMap { n in entries.first { $0["name"] as? String == n } } ?? entries.first
            return entry
        }
        let contextName = root["current-context"] as? String
        let context = named("contexts", contextName)?["context"] as? [String: Any]
        guard let cluster = named("clusters", context?["cluster"] as? String)?["cluster"] as? [String: Any],
            let server = cluster["server"] as? String
        else {
            throw Invalid(description: "\(path) names no cluster server")
        }
        let user = named("users", context?["user"] as? String)?["user"] as? [String: Any] ?? [:]
        let directory = (path as NSString).deletingLastPathComponent
        /// `KEY-data` (base64) or `KEY` (a file, relative to the kubeconfig's folder).
        func pem(_ entry: [String: Any], _ key: String) throws -> String? {
            if let data = entry["\(key)-data"] as? String {
                guard let decoded = Data(base64Encoded: data.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                    throw Invalid(description: "\(path): \(key)-data is not base64")
                }
                return String(decoding: decoded, as: UTF8.self)
            }
            if let file = entry[key] as? String {
                let resolved = file.hasPrefix("/") ? file : (directory as NSString).appendingPathComponent(file)
                return try String(contentsOfFile: resolved, encoding: .utf8)
            }
            return nil
        }
        var token = user["token"] as? String
        if token == nil, let tokenFile = user["tokenFile"] as? String {
            token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var tls: TLSConfiguration?
        let certificateAuthority = try pem(cluster, "certificate-authority")
        if server.hasPrefix("https://") {
            tls = try Self.tls(certificateAuthorityPEM: certificateAuthority,
                clientCertificatePEM: try pem(user, "client-certificate"), clientKeyPEM: try pem(user, "client-key"),
                insecureSkipVerify: cluster["insecure-skip-tls-verify"] as? Bool ?? false)
        }
        var configuration = ClientConfiguration(server: server, bearerToken: token, userAgent: userAgent, tls: tls)
        configuration.certificateAuthorityPEM = certificateAuthority
        return configuration
    }
}
