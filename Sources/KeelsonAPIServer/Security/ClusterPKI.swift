import Crypto
import Foundation
import X509

/// The cluster's certificates under `DATA_DIR/server/tls/`: made at first start, reused after, leaf certificates
/// reissued when they come within `renewWithin` of expiry, when the CA that signed them is gone, or when the
/// serving certificate lacks a name it must answer to. A CA is never replaced silently: an unreadable one stops
/// the server with the file's name.
public struct ClusterPKI: Sendable {
    public let directory: URL
    public let serverCA: CertificateAuthority
    public let clientCA: CertificateAuthority
    public let serving: IssuedCertificate
    public let admin: IssuedCertificate

    public struct Unreadable: Error, CustomStringConvertible {
        public var description: String
    }

    /// The names every API server certificate carries, as kube-apiserver's do, plus the node name, the first
    /// Service address and `--tls-san` values.
    public static func servingNames(nodeName: String?, serviceIP: String, extra: [String]) -> (dnsNames: [String], ipAddresses: [String]) {
        var dns = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
        var ips = ["127.0.0.1", "::1", serviceIP]
        for name in ([nodeName].compactMap { $0 } + extra) where !name.isEmpty {
            if CertificateAuthority.ipAddressBytes(name) != nil {
                if !ips.contains(name) { ips.append(name) }
            } else if !dns.contains(name) {
                dns.append(name)
            }
        }
        return (dns, ips)
    }

    public static func loadOrCreate(directory: URL, dnsNames: [String], ipAddresses: [String], now: Date = Date(),
        renewWithin: TimeInterval = 90 * 86400) throws -> ClusterPKI
    {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let serverCA = try loadOrCreateCA(directory, "server-ca", now: now)
        let clientCA = try loadOrCreateCA(directory, "client-ca", now: now)
        let wantedIPs = Set(ipAddresses.compactMap(CertificateAuthority.ipAddressBytes))
        let serving = try loadOrIssue(directory, "serving-kube-apiserver", ca: serverCA, now: now, renewWithin: renewWithin,
            covers: { certificate in
                let names = certificate.servingNames
                return Set(dnsNames).isSubset(of: names.dnsNames) && wantedIPs.isSubset(of: names.ipAddresses)
            },
            issue: { try serverCA.issueWithKey(commonName: "kube-apiserver", usage: .server(dnsNames: dnsNames, ipAddresses: ipAddresses), now: now) })
        let admin = try loadOrIssue(directory, "client-admin", ca: clientCA, now: now, renewWithin: renewWithin, covers: { _ in true },
            issue: { try clientCA.issueWithKey(commonName: "system:admin", organizations: ["system:masters"], usage: .client, now: now) })
        return ClusterPKI(directory: directory, serverCA: serverCA, clientCA: clientCA, serving: serving, admin: admin)
    }

    /// The API server's identity toward kubelets, signed by the server CA and issued at every start: kubelets take
    /// clients of that CA only, so a node's certificate (from the client CA) cannot call another node's kubelet.
    public func issueKubeletClient() throws -> IssuedCertificate {
        try serverCA.issueWithKey(commonName: "system:kube-apiserver", usage: .client)
    }

    /// A kubelet's serving certificate for its node name and address, from the server CA (which the API server
    /// checks kubelets against).
    public func issueKubeletServing(nodeName: String, ipAddresses: [String]) throws -> IssuedCertificate {
        try serverCA.issueWithKey(commonName: "system:node:\(nodeName)", organizations: ["system:nodes"],
            usage: .server(dnsNames: [nodeName], ipAddresses: ipAddresses))
    }

    public var clientCADER: [UInt8] { get throws { try clientCA.certificate.derBytes } }

    public var serverCAPEM: String { get throws { try serverCA.certificate.serializeAsPEM().pemString + "\n" } }

    private static func path(_ directory: URL, _ name: String) -> String { directory.appendingPathComponent(name).path }

    /// A CA from its PEM files (an ECDSA P-256 key, as Keelson makes them); an error names the files.
    public static func loadCA(certificateFile certificatePath: String, keyFile keyPath: String) throws -> CertificateAuthority {
        do {
            let certificate = try Certificate(pemEncoded: String(contentsOfFile: certificatePath, encoding: .utf8))
            let key = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: keyPath, encoding: .utf8))
            guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
                throw Unreadable(description: "\(keyPath) is not the key of \(certificatePath)")
            }
            return CertificateAuthority(certificate: certificate, key: key)
        } catch let error as Unreadable {
            throw error
        } catch {
            throw Unreadable(description: "cannot read the certificate authority \(certificatePath) / \(keyPath): \(error)")
        }
    }

    private static func loadOrCreateCA(_ directory: URL, _ name: String, now: Date) throws -> CertificateAuthority {
        let certificatePath = path(directory, "\(name).crt"), keyPath = path(directory, "\(name).key")
        if FileManager.default.fileExists(atPath: certificatePath) || FileManager.default.fileExists(atPath: keyPath) {
            return try loadCA(certificateFile: certificatePath, keyFile: keyPath)
        }
        let ca = try CertificateAuthority.create(commonName: "keelson-\(name)", now: now)
        try write(IssuedCertificate(certificate: ca.certificate, key: ca.key), directory, name)
        return ca
    }

    private static func loadOrIssue(_ directory: URL, _ name: String, ca: CertificateAuthority, now: Date, renewWithin: TimeInterval,
        covers: (Certificate) -> Bool, issue: () throws -> IssuedCertificate) throws -> IssuedCertificate
    {
        if let certificateText = try? String(contentsOfFile: path(directory, "\(name).crt"), encoding: .utf8),
            let keyText = try? String(contentsOfFile: path(directory, "\(name).key"), encoding: .utf8),
            let certificate = try? Certificate(pemEncoded: certificateText),
            let key = try? P256.Signing.PrivateKey(pemRepresentation: keyText),
            certificate.publicKey == Certificate.PublicKey(key.publicKey),
            ca.signed(certificate), certificate.notValidAfter.timeIntervalSince(now) > renewWithin, covers(certificate)
        {
            return IssuedCertificate(certificate: certificate, key: key)
        }
        let issued = try issue()
        try write(issued, directory, name)
        return issued
    }

    private static func write(_ issued: IssuedCertificate, _ directory: URL, _ name: String) throws {
        try writeAtomically(issued.keyPEM, to: path(directory, "\(name).key"), mode: 0o600)
        try writeAtomically(issued.certificatePEM, to: path(directory, "\(name).crt"), mode: 0o644)
    }

    static func writeAtomically(_ text: String, to path: String, mode: Int) throws {
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw Unreadable(description: "cannot write \(temporary)")
        }
        _ = rename(temporary, path)
    }
}
