import Crypto
import Foundation
import KeelsonAPI
import SwiftASN1
import X509

/// What an issued certificate is for: serving (with the names it answers to) or a client identity.
public enum CertificateUsage: Sendable, Equatable {
    case server(dnsNames: [String], ipAddresses: [String])
    case client
}

/// A signing certificate and its key (the cluster's server CA or client CA); issues ECDSA P-256 leaf certificates.
public struct CertificateAuthority: Sendable {
    public let certificate: Certificate
    let key: P256.Signing.PrivateKey

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public init(certificate: Certificate, key: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    /// A new self-signed CA, valid ten years as k3s's are; the timestamp in the name tells generations apart.
    public static func create(commonName: String, now: Date = Date()) throws -> CertificateAuthority {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("\(commonName)@\(Int(now.timeIntervalSince1970))") }
        let publicKey = Certificate.PublicKey(key.publicKey)
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: .init(key))
        return CertificateAuthority(certificate: certificate, key: key)
    }

    /// Signs `publicKey` for the subject; one hour of back-dating absorbs clocks a little behind ours.
    public func issue(commonName: String, organizations: [String] = [], usage: CertificateUsage, publicKey: Certificate.PublicKey,
        now: Date = Date(), validity: TimeInterval = 365 * 86400) throws -> Certificate
    {
        let subject = try DistinguishedName {
            for organization in organizations { OrganizationName(organization) }
            CommonName(commonName)
        }
        let issuerKeyIdentifier = try certificate.extensions.subjectKeyIdentifier?.keyIdentifier
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
            switch usage {
            case .client:
                try ExtendedKeyUsage([.clientAuth])
            case .server(let dnsNames, let ipAddresses):
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(dnsNames.map { .dnsName($0) } + ipAddresses.compactMap(Self.ipAddressBytes).map {
                    .ipAddress(ASN1OctetString(contentBytes: $0[...]))
                })
            }
            if let issuerKeyIdentifier { AuthorityKeyIdentifier(keyIdentifier: issuerKeyIdentifier) }
        }
        return try Certificate(
            version: .v3, serialNumber: .init(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: min(now.addingTimeInterval(validity), certificate.notValidAfter),
            issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: .init(key))
    }

    /// A fresh key and a certificate for it.
    public func issueWithKey(commonName: String, organizations: [String] = [], usage: CertificateUsage, now: Date = Date(),
        validity: TimeInterval = 365 * 86400) throws -> IssuedCertificate
    {
        let key = P256.Signing.PrivateKey()
        let certificate = try issue(commonName: commonName, organizations: organizations, usage: usage,
            publicKey: Certificate.PublicKey(key.publicKey), now: now, validity: validity)
        return IssuedCertificate(certificate: certificate, key: key)
    }

    /// Whether `candidate` carries this CA's signature (the one check a leaf needs: Keelson issues no intermediates).
    public func signed(_ candidate: Certificate) -> Bool {
        candidate.issuer == certificate.subject && certificate.publicKey.isValidSignature(candidate.signature, for: candidate)
    }

    static func ipAddressBytes(_ text: String) -> [UInt8]? { IPAddressBytes.parse(text) }
}

/// A leaf certificate with its private key.
public struct IssuedCertificate: Sendable {
    public let certificate: Certificate
    public let key: P256.Signing.PrivateKey

    public init(certificate: Certificate, key: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    public var certificatePEM: String { get throws { try certificate.serializeAsPEM().pemString + "\n" } }
    public var keyPEM: String { key.pemRepresentation + "\n" }
}

extension Certificate {
    public var derBytes: [UInt8] {
        get throws {
            var serializer = DER.Serializer()
            try serializer.serialize(self)
            return serializer.serializedBytes
        }
    }

    /// The subject's common name and organizations: the user and groups of a client certificate.
    public var subjectIdentity: (commonName: String?, organizations: [String]) {
        var commonName: String?
        var organizations: [String] = []
        for rdn in subject {
            for attribute in rdn {
                if attribute.type == .RDNAttributeType.commonName {
                    commonName = String(describing: attribute.value)
                } else if attribute.type == .RDNAttributeType.organizationName {
                    organizations.append(String(describing: attribute.value))
                }
            }
        }
        return (commonName, organizations)
    }

    /// The DNS names and IP addresses of the subject alternative names, IPs as text.
    var servingNames: (dnsNames: Set<String>, ipAddresses: Set<[UInt8]>) {
        var dns: Set<String> = []
        var ips: Set<[UInt8]> = []
        for name in (try? extensions.subjectAlternativeNames) ?? SubjectAlternativeNames([]) {
            switch name {
            case .dnsName(let value): dns.insert(value)
            case .ipAddress(let bytes): ips.insert(Array(bytes.bytes))
            default: break
            }
        }
        return (dns, ips)
    }
}
