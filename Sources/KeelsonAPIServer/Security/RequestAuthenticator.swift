import Crypto
import Foundation
import Synchronization
import X509

/// A source of bearer tokens (the token file, service account tokens, the node join token).
public protocol BearerTokenAuthenticator: Sendable {
    /// `nil` when the token is not one of this source's, so the next source is asked.
    func authenticate(token: String) async -> TokenAuthentication?
}

public enum TokenAuthentication: Sendable, Equatable {
    case user(UserInfo)
    case invalid(String)
}

/// kube-apiserver's authentication chain: a client certificate signed by the client CA, then bearer tokens; a
/// request with neither is anonymous (and `APIServer` refuses it outside the health and version endpoints). A
/// credential that is present but wrong makes the request unauthenticated, never anonymous.
public final class RequestAuthenticator: Sendable {
    public enum Outcome: Sendable, Equatable {
        case authenticated(UserInfo)
        case anonymous
        case rejected(String)
    }

    private let clientCA: Certificate?
    private let tokenAuthenticators: [any BearerTokenAuthenticator]
    /// Verified certificates by their DER bytes: an ECDSA verification per request would cost more than the rest
    /// of a cached GET. Expiry is checked on every hit.
    private let verified = Mutex<[Data: (user: UserInfo, notValidAfter: Date)]>([:])
    private static let cacheLimit = 4096

    public init(clientCA: Certificate?, tokenAuthenticators: [any BearerTokenAuthenticator] = []) {
        self.clientCA = clientCA
        self.tokenAuthenticators = tokenAuthenticators
    }

    /// The same chain with more token sources after the configured ones.
    func adding(_ more: [any BearerTokenAuthenticator]) -> RequestAuthenticator {
        RequestAuthenticator(clientCA: clientCA, tokenAuthenticators: tokenAuthenticators + more)
    }

    public func authenticate(clientCertificate der: [UInt8]?, authorization: String?, now: Date = Date()) async -> Outcome {
        var failure: String?
        if let der {
            switch certificateUser(der, now: now) {
            case .success(let user): return .authenticated(user.addingAuthenticatedGroup())
            case .failure(let reason): failure = reason
            }
        }
        if let token = Self.bearerToken(authorization) {
            for authenticator in tokenAuthenticators {
                switch await authenticator.authenticate(token: token) {
                case .user(let user)?: return .authenticated(user.addingAuthenticatedGroup())
                case .invalid(let reason)?: return .rejected(reason)
                case nil: continue
                }
            }
            return .rejected("invalid bearer token")
        }
        if let failure { return .rejected(failure) }
        return .anonymous
    }

    /// `Bearer TOKEN`, the scheme case-insensitive as in kube-apiserver; anything else is not a bearer token.
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    private enum CertificateCheck {
        case success(UserInfo)
        case failure(String)
    }

    private func certificateUser(_ der: [UInt8], now: Date) -> CertificateCheck {
        let key = Data(der)
        if let hit = verified.withLock({ $0[key] }) {
            return now < hit.notValidAfter ? .success(hit.user) : .failure("x509: certificate has expired")
        }
        guard let clientCA else { return .failure("x509: client certificates are not accepted") }
        guard let certificate = try? Certificate(derEncoded: der) else { return .failure("x509: malformed certificate") }
        guard certificate.issuer == clientCA.subject, clientCA.publicKey.isValidSignature(certificate.signature, for: certificate) else {
            return .failure("x509: certificate signed by unknown authority")
        }
        guard now >= certificate.notValidBefore, now < certificate.notValidAfter else {
            return .failure("x509: certificate has expired or is not yet valid")
        }
        if let usage = try? certificate.extensions.extendedKeyUsage, !usage.contains(.clientAuth), !usage.contains(.any) {
            return .failure("x509: certificate specifies an incompatible key usage")
        }
        let identity = certificate.subjectIdentity
        guard let name = identity.commonName, !name.isEmpty else { return .failure("x509: certificate has no common name") }
        let user = UserInfo(name: name, groups: identity.organizations)
        verified.withLock { cache in
            if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[key] = (user, certificate.notValidAfter)
        }
        return .success(user)
    }
}

/// `--token-auth-file`: a CSV of `token,user,uid,"group1,group2"` as kube-apiserver reads it.
public struct StaticTokenAuthenticator: BearerTokenAuthenticator {
    let users: [String: UserInfo]

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public init(users: [String: UserInfo]) {
        self.users = users
    }

    public init(csv: String, source: String = "token file") throws {
        var users: [String: UserInfo] = [:]
        for (index, line) in csv.split(whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = Self.fields(of: trimmed)
            guard fields.count >= 3, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw Invalid(description: "\(source) line \(index + 1): want token,user,uid[,\"groups\"]")
            }
            let groups = fields.count > 3 ? fields[3].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } : []
            if users[fields[0]] != nil { throw Invalid(description: "\(source) line \(index + 1): duplicate token") }
            users[fields[0]] = UserInfo(name: fields[1], uid: fields[2], groups: groups)
        }
        self.users = users
    }

    /// One CSV record: commas split fields except inside double quotes, and `""` is a quote.
    static func fields(of line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var characters = line.makeIterator()
        var pending: Character? = characters.next()
        while let character = pending {
            pending = characters.next()
            switch character {
            case "\"" where quoted && pending == "\"":
                current.append("\"")
                pending = characters.next()
            case "\"":
                quoted.toggle()
            case "," where !quoted:
                fields.append(current)
                current = ""
            default:
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }

    public func authenticate(token: String) async -> TokenAuthentication? {
        users[token].map { .user($0) }
    }
}
