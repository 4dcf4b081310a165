import AsyncHTTPClient
import Crypto
import Foundation
import KeelsonAPI
import Logging
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// How an agent joins a cluster with its join token (`K10<CA hash>::server:<secret>` or the bare secret), as a
/// kubelet's TLS bootstrap does: download the server CA from `/cacerts` and check it against the token's hash,
/// make a key, ask for `CN=system:node:NAME, O=system:nodes` with a CertificateSigningRequest authenticated by the
/// token, and wait for the server to approve and sign it. The key and certificate are kept in the agent's
/// directory and used again at the next start while they have more than `renewWithin` to live.
public struct NodeJoin: Sendable {
    public var server: String
    public var token: String
    public var nodeName: String
    public var directory: String
    public var renewWithin: TimeInterval = 90 * 86400
    public var timeout: Duration = .seconds(120)

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(server: String, token: String, nodeName: String, directory: String) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.token = token
        self.nodeName = nodeName
        self.directory = directory
    }

    public struct Credentials: Sendable {
        public var serverCAPEM: String
        public var certificatePEM: String
        public var keyPEM: String
    }

    var caPath: String { (directory as NSString).appendingPathComponent("server-ca.crt") }
    var certificatePath: String { (directory as NSString).appendingPathComponent("client-kubelet.crt") }
    var keyPath: String { (directory as NSString).appendingPathComponent("client-kubelet.key") }
    var commonName: String { "system:node:\(nodeName)" }

    public func credentials(logger: Logger) async throws -> Credentials {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard let parsed = JoinToken(parsing: token) else { throw Failure(description: "the join token is malformed") }
        let (caHash, secret) = (parsed.caHash, parsed.secret)
        if let kept = kept(caHash: caHash) { return kept }
        let caPEM = try await fetchCA(expectedHash: caHash)
        let key = P256.Signing.PrivateKey()
        let request = try CertificateSigningRequest(version: .v1,
            subject: try DistinguishedName { OrganizationName("system:nodes"); CommonName(commonName) },
            privateKey: .init(key), attributes: .init(), signatureAlgorithm: .ecdsaWithSHA256)
        let requestPEM = try request.serializeAsPEM().pemString + "\n"
        let client = APIClient(configuration: ClientConfiguration(server: server, bearerToken: secret, userAgent: "keelson-agent-join",
            tls: try ClientConfiguration.tls(certificateAuthorityPEM: caPEM)))
        do {
            let certificatePEM = try await requestCertificate(client, requestPEM: requestPEM, logger: logger)
            try await client.shutdown()
            try Self.write(caPEM, to: caPath, mode: 0o644)
            try Self.write(key.pemRepresentation + "\n", to: keyPath, mode: 0o600)
            try Self.write(certificatePEM, to: certificatePath, mode: 0o644)
            return Credentials(serverCAPEM: caPEM, certificatePEM: certificatePEM, keyPEM: key.pemRepresentation + "\n")
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// The credentials of an earlier join, if they are for this node and CA and have long enough to live.
    private func kept(caHash: String?) -> Credentials? {
        guard let caPEM = try? String(contentsOfFile: caPath, encoding: .utf8),
              let certificatePEM = try? String(contentsOfFile: certificatePath, encoding: .utf8),
              let keyPEM = try? String(contentsOfFile: keyPath, encoding: .utf8),
              let certificate = try? Certificate(pemEncoded: certificatePEM),
              let key = try? P256.Signing.PrivateKey(pemRepresentation: keyPEM),
              certificate.publicKey == Certificate.PublicKey(key.publicKey),
              certificate.notValidAfter.timeIntervalSinceNow > renewWithin,
              caHash == nil || Self.hash(caPEM) == caHash
        else { return nil }
        let names = certificate.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }.map { String(describing: $0.value) }
        guard names == [commonName] else { return nil }
        return Credentials(serverCAPEM: caPEM, certificatePEM: certificatePEM, keyPEM: keyPEM)
    }

    static func hash(_ pem: String) -> String {
        SHA256.hash(data: Data(pem.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The server's CA, read without verification (there is nothing to verify it with yet) and accepted only if
    /// it hashes to the token's value; a bare secret trusts it on first use, as k3s does.
    private func fetchCA(expectedHash: String?) async throws -> String {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let response = try await http.execute(HTTPClientRequest(url: server + "/cacerts"), timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1 << 20)
            try await http.shutdown()
            guard response.status == .ok else { throw Failure(description: "\(server)/cacerts answered \(response.status.code)") }
            let pem = String(buffer: body)
            if let expectedHash, Self.hash(pem) != expectedHash {
                throw Failure(description: "the CA served by \(server) does not match the hash in the join token")
            }
            return pem
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    /// The kubelet's serving certificate for `nodeIP` and the node's name, from the one kept in the directory while
    /// it covers them and has long enough to live, else through a `kubernetes.io/kubelet-serving` request that the
    /// node itself makes (with `client`, its own identity) and the server approves once its Node reports that
    /// address. Returns the certificate and key, PEM.
    public func servingCertificate(client: APIClient, nodeIP: String, logger: Logger) async throws -> (certificatePEM: String, keyPEM: String) {
        let certificatePath = (directory as NSString).appendingPathComponent("serving-kubelet.crt")
        let keyPath = (directory as NSString).appendingPathComponent("serving-kubelet.key")
        let wantedAddress = ipAddressName(nodeIP)
        if let certificatePEM = try? String(contentsOfFile: certificatePath, encoding: .utf8),
            let keyPEM = try? String(contentsOfFile: keyPath, encoding: .utf8),
            let certificate = try? Certificate(pemEncoded: certificatePEM),
            let key = try? P256.Signing.PrivateKey(pemRepresentation: keyPEM),
            certificate.publicKey == Certificate.PublicKey(key.publicKey),
            certificate.notValidAfter.timeIntervalSinceNow > renewWithin,
            let names = try? certificate.extensions.subjectAlternativeNames,
            names.contains(.dnsName(nodeName)), let wantedAddress, names.contains(wantedAddress)
        {
            return (certificatePEM, keyPEM)
        }
        guard let wantedAddress else { throw Failure(description: "\(nodeIP) is not an IP address") }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let key = P256.Signing.PrivateKey()
        let extensions = try Certificate.Extensions { SubjectAlternativeNames([.dnsName(nodeName), wantedAddress]) }
        let request = try CertificateSigningRequest(version: .v1,
            subject: try DistinguishedName { OrganizationName("system:nodes"); CommonName(commonName) },
            privateKey: .init(key), attributes: CertificateSigningRequest.Attributes([try .init(ExtensionRequest(extensions: extensions))]),
            signatureAlgorithm: .ecdsaWithSHA256)
        let certificatePEM = try await requestCertificate(client, requestPEM: try request.serializeAsPEM().pemString + "\n",
            signerName: "kubernetes.io/kubelet-serving", usages: ["digital signature", "key encipherment", "server auth"], logger: logger)
        try Self.write(key.pemRepresentation + "\n", to: keyPath, mode: 0o600)
        try Self.write(certificatePEM, to: certificatePath, mode: 0o644)
        return (certificatePEM, key.pemRepresentation + "\n")
    }

    private func requestCertificate(_ client: APIClient, requestPEM: String, signerName: String = "kubernetes.io/kube-apiserver-client-kubelet",
        usages: [JSONValue] = ["digital signature", "key encipherment", "client auth"], logger: Logger) async throws -> String
    {
        let created = try await client.create(.certificateSigningRequests, namespace: nil, [
            "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": ["generateName": "node-csr-"],
            "spec": [
                "request": .string(Data(requestPEM.utf8).base64EncodedString()),
                "signerName": .string(signerName),
                "usages": .array(usages),
            ],
        ])
        let name = created.name ?? ""
        logger.info("asked for a node certificate", metadata: ["request": "\(name)", "signer": "\(signerName)"])
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let current = try await client.get(.certificateSigningRequests, namespace: nil, name: name)
            let conditions = current.value(at: ["status", "conditions"])?.arrayValue ?? []
            if let refusal = conditions.first(where: { $0["type"] == "Denied" || $0["type"] == "Failed" }) {
                throw Failure(description: "certificate request \(name) \(refusal["type"]?.stringValue?.lowercased() ?? "refused"): "
                    + (refusal["message"]?.stringValue ?? ""))
            }
            if let encoded = current.value(at: ["status", "certificate"])?.stringValue, let data = Data(base64Encoded: encoded), !data.isEmpty {
                return String(decoding: data, as: UTF8.self)
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw Failure(description: "certificate request \(name) was not signed within \(timeout)")
    }

    static func write(_ text: String, to path: String, mode: Int) throws {
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw Failure(description: "cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else { throw Failure(description: "cannot write \(path)") }
    }
}

/// The `iPAddress` general name of an IPv4 or IPv6 address in text form; nil for anything else.
func ipAddressName(_ text: String) -> GeneralName? {
    IPAddressBytes.parse(text).map { .ipAddress(ASN1OctetString(contentBytes: $0[...])) }
}
