import Crypto
import Foundation
import KeelsonAPI

/// Service account tokens as Kubernetes issues them: JWTs (ES256 here) with `iss`, `aud`, `exp`, `iat`, `nbf`,
/// `sub` = `system:serviceaccount:NS:NAME` and the `kubernetes.io` claim naming the service account (and the pod a
/// token is bound to), signed by a key the server keeps in `DATA_DIR/server/tls/service.key`.
public struct ServiceAccountTokenIssuer: Sendable {
    let key: P256.Signing.PrivateKey
    public let issuer: String
    /// What the API server accepts as an audience, and what a request without audiences gets.
    public let audiences: [String]
    let keyID: String

    public static let defaultIssuer = "https://kubernetes.default.svc.cluster.local"

    public init(key: P256.Signing.PrivateKey, issuer: String = Self.defaultIssuer, audiences: [String] = [Self.defaultIssuer]) {
        self.key = key
        self.issuer = issuer
        self.audiences = audiences
        self.keyID = Self.base64URL(Array(SHA256.hash(data: key.publicKey.derRepresentation)))
    }

    /// What a token says, once its signature and times are checked.
    public struct Claims: Sendable, Equatable {
        public var namespace: String
        public var name: String
        public var uid: String
        public var audiences: [String]
        public var expires: Date
        public var pod: (name: String, uid: String)?

        public static func == (a: Claims, b: Claims) -> Bool {
            a.namespace == b.namespace && a.name == b.name && a.uid == b.uid && a.audiences == b.audiences && a.expires == b.expires
                && a.pod?.name == b.pod?.name && a.pod?.uid == b.pod?.uid
        }
    }

    public func issue(namespace: String, name: String, uid: String, audiences: [String]? = nil, lifetime: TimeInterval,
        pod: (name: String, uid: String)? = nil, now: Date = Date()) throws -> (token: String, expires: Date)
    {
        let issued = Int64(now.timeIntervalSince1970)
        let expires = issued + Int64(lifetime)
        var kubernetes: JSONValue = ["namespace": .string(namespace), "serviceaccount": ["name": .string(name), "uid": .string(uid)]]
        if let pod { kubernetes["pod"] = ["name": .string(pod.name), "uid": .string(pod.uid)] }
        let payload: JSONValue = [
            "aud": .array((audiences ?? self.audiences).map(JSONValue.string)), "exp": .integer(expires), "iat": .integer(issued),
            "nbf": .integer(issued), "iss": .string(issuer), "jti": .string(UUID().uuidString.lowercased()),
            "sub": .string("\(UserInfo.serviceAccountPrefix)\(namespace):\(name)"), "kubernetes.io": kubernetes,
        ]
        let header: JSONValue = ["alg": "ES256", "kid": .string(keyID), "typ": "JWT"]
        let signingInput = Self.base64URL(header.encoded()) + "." + Self.base64URL(payload.encoded())
        let signature = try key.signature(for: Data(signingInput.utf8))
        return (signingInput + "." + Self.base64URL(Array(signature.rawRepresentation)), Date(timeIntervalSince1970: TimeInterval(expires)))
    }

    public enum Verification: Sendable, Equatable {
        /// Not a token of this issuer (another kind of bearer token): the next authenticator may know it.
        case notMine
        case invalid(String)
        case valid(Claims)
    }

    /// Checks form, signature, issuer, audience and times, in that order; never throws on any input.
    public func verify(_ token: String, now: Date = Date()) -> Verification {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }), token.utf8.count < 16 * 1024,
              let headerBytes = Self.decodeBase64URL(parts[0]), let header = try? JSONParser.parse(headerBytes),
              header["kid"]?.stringValue == keyID
        else { return .notMine }
        guard header["alg"]?.stringValue == "ES256" else { return .invalid("unexpected signing algorithm") }
        guard let signatureBytes = Self.decodeBase64URL(parts[2]), let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signatureBytes),
              key.publicKey.isValidSignature(signature, for: Data("\(parts[0]).\(parts[1])".utf8))
        else { return .invalid("invalid signature") }
        guard let payloadBytes = Self.decodeBase64URL(parts[1]), let payload = try? JSONParser.parse(payloadBytes) else {
            return .invalid("malformed claims")
        }
        guard payload["iss"]?.stringValue == issuer else { return .invalid("invalid issuer") }
        let audiences = payload["aud"]?.arrayValue?.compactMap(\.stringValue) ?? payload["aud"]?.stringValue.map { [$0] } ?? []
        guard audiences.contains(where: self.audiences.contains) else { return .invalid("token audiences \(audiences) are not accepted") }
        guard let exp = payload["exp"]?.intValue, let nbf = payload["nbf"]?.intValue else { return .invalid("missing times") }
        let seconds = Int64(now.timeIntervalSince1970)
        // A minute of leeway for clocks, as Kubernetes allows.
        guard seconds < exp + 60 else { return .invalid("token has expired") }
        guard seconds + 60 >= nbf else { return .invalid("token is not valid yet") }
        let kubernetes = payload["kubernetes.io"]
        guard let namespace = kubernetes?["namespace"]?.stringValue, let name = kubernetes?["serviceaccount"]?["name"]?.stringValue,
              let uid = kubernetes?["serviceaccount"]?["uid"]?.stringValue,
              payload["sub"]?.stringValue == "\(UserInfo.serviceAccountPrefix)\(namespace):\(name)"
        else { return .invalid("malformed service account claims") }
        var claims = Claims(namespace: namespace, name: name, uid: uid, audiences: audiences, expires: Date(timeIntervalSince1970: TimeInterval(exp)))
        if let podName = kubernetes?["pod"]?["name"]?.stringValue, let podUID = kubernetes?["pod"]?["uid"]?.stringValue {
            claims.pod = (podName, podUID)
        }
        return .valid(claims)
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64URL(_ text: Substring) -> [UInt8]? {
        guard text.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else { return nil }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard).map(Array.init)
    }

    /// The key in the data dir, made at first start.
    public static func loadOrCreateKey(path: String) throws -> P256.Signing.PrivateKey {
        if FileManager.default.fileExists(atPath: path) {
            do {
                return try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: path, encoding: .utf8))
            } catch {
                throw ClusterPKI.Unreadable(description: "cannot read the service account signing key \(path): \(error)")
            }
        }
        let key = P256.Signing.PrivateKey()
        try ClusterPKI.writeAtomically(key.pemRepresentation + "\n", to: path, mode: 0o600)
        return key
    }
}

/// Authenticates service account tokens: valid, for an accepted audience, and naming a service account (and pod,
/// for a bound token) that still exists with the same uid — a deleted account's tokens stop working at once.
struct ServiceAccountTokenAuthenticator: BearerTokenAuthenticator {
    let issuer: ServiceAccountTokenIssuer
    /// The uid of a live object (`serviceaccounts` or `pods`), nil when it is gone.
    let uidOf: @Sendable (_ resource: String, _ namespace: String, _ name: String) async -> String?

    func authenticate(token: String) async -> TokenAuthentication? {
        switch issuer.verify(token) {
        case .notMine:
            return nil
        case .invalid(let reason):
            return .invalid(reason)
        case .valid(let claims):
            guard await uidOf("serviceaccounts", claims.namespace, claims.name) == claims.uid else {
                return .invalid("service account \(claims.namespace)/\(claims.name) has been deleted")
            }
            var extra: [String: [String]] = [:]
            if let pod = claims.pod {
                guard await uidOf("pods", claims.namespace, pod.name) == pod.uid else {
                    return .invalid("pod \(claims.namespace)/\(pod.name) the token is bound to has been deleted")
                }
                extra["authentication.kubernetes.io/pod-name"] = [pod.name]
                extra["authentication.kubernetes.io/pod-uid"] = [pod.uid]
            }
            return .user(UserInfo(name: "\(UserInfo.serviceAccountPrefix)\(claims.namespace):\(claims.name)", uid: claims.uid,
                groups: UserInfo.serviceAccountGroups(namespace: claims.namespace), extra: extra))
        }
    }
}
