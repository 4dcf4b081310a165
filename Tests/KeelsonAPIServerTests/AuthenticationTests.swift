import Crypto
import Foundation
import KeelsonAPI
import Testing
import X509

@testable import KeelsonAPIServer

@Suite("Certificates and credentials")
struct AuthenticationTests {
    static func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("keelson-pki-\(UUID().uuidString)")
    }

    @Test("client certificates: the CA's give CN and O as user and groups; another CA's, an expired one and garbage are refused")
    func clientCertificates() async throws {
        let ca = try CertificateAuthority.create(commonName: "client-ca")
        let other = try CertificateAuthority.create(commonName: "client-ca")
        let authenticator = RequestAuthenticator(clientCA: ca.certificate)
        let good = try ca.issueWithKey(commonName: "jane", organizations: ["devs", "ops"], usage: .client)
        let outcome = await authenticator.authenticate(clientCertificate: try good.certificate.derBytes, authorization: nil)
        #expect(outcome == .authenticated(UserInfo(name: "jane", groups: ["devs", "ops", UserInfo.authenticated])))
        // Same name, different key: a look-alike CA does not pass.
        let forged = try other.issueWithKey(commonName: "jane", organizations: ["system:masters"], usage: .client)
        #expect(await authenticator.authenticate(clientCertificate: try forged.certificate.derBytes, authorization: nil)
            == .rejected("x509: certificate signed by unknown authority"))
        let expired = try ca.issueWithKey(commonName: "old", usage: .client, now: Date().addingTimeInterval(-400 * 86400))
        #expect(await authenticator.authenticate(clientCertificate: try expired.certificate.derBytes, authorization: nil)
            == .rejected("x509: certificate has expired or is not yet valid"))
        let serving = try ca.issueWithKey(commonName: "server", usage: .server(dnsNames: ["x"], ipAddresses: []))
        #expect(await authenticator.authenticate(clientCertificate: try serving.certificate.derBytes, authorization: nil)
            == .rejected("x509: certificate specifies an incompatible key usage"))
        let selfSigned = try CertificateAuthority.create(commonName: "jane")
        #expect(await authenticator.authenticate(clientCertificate: try selfSigned.certificate.derBytes, authorization: nil)
            == .rejected("x509: certificate signed by unknown authority"))
        #expect(await authenticator.authenticate(clientCertificate: [0x30, 0x03, 0x02, 0x01], authorization: nil)
            == .rejected("x509: malformed certificate"))
        // A bad certificate is not excused by the absence of a token, but a good token still authenticates.
        let withToken = RequestAuthenticator(clientCA: ca.certificate, tokenAuthenticators: [StaticTokenAuthenticator(users: ["t": UserInfo(name: "tok")])])
        #expect(await withToken.authenticate(clientCertificate: try forged.certificate.derBytes, authorization: "Bearer t")
            == .authenticated(UserInfo(name: "tok", groups: [UserInfo.authenticated])))
        #expect(await withToken.authenticate(clientCertificate: nil, authorization: nil) == .anonymous)
        #expect(await withToken.authenticate(clientCertificate: nil, authorization: "Bearer nope") == .rejected("invalid bearer token"))
        #expect(await withToken.authenticate(clientCertificate: nil, authorization: "bearer t") != .anonymous, "the scheme is case-insensitive")
    }

    @Test("random and truncated certificate bytes and header values are refused, never a crash")
    func fuzzedCredentials() async throws {
        let ca = try CertificateAuthority.create(commonName: "client-ca")
        let authenticator = RequestAuthenticator(clientCA: ca.certificate, tokenAuthenticators: [StaticTokenAuthenticator(users: ["t": UserInfo(name: "u")])])
        let real = try ca.issueWithKey(commonName: "jane", usage: .client).certificate.derBytes
        var generator = SystemRandomNumberGenerator()
        for round in 0..<500 {
            var bytes = real
            switch round % 3 {
            case 0: bytes = Array(real.prefix(Int.random(in: 0..<real.count, using: &generator)))
            case 1: for _ in 0..<4 { bytes[Int.random(in: 0..<bytes.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator) }
            default: bytes = (0..<Int.random(in: 0..<600, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            }
            // Whatever survives the damage can only be the real certificate's identity: the signature covers it.
            if case .authenticated(let user) = await authenticator.authenticate(clientCertificate: bytes, authorization: nil) {
                #expect(user.name == "jane")
            }
            let header = String((0..<Int.random(in: 0..<40, using: &generator)).map { _ in Character(UnicodeScalar(UInt8.random(in: 32...126, using: &generator))) })
            let outcome = await authenticator.authenticate(clientCertificate: nil, authorization: header)
            #expect(outcome == .anonymous || outcome == .rejected("invalid bearer token"), "\(header)")
        }
    }

    @Test("--token-auth-file reads kube-apiserver's CSV: quoted groups, comments; short lines and duplicates are errors")
    func tokenFile() async throws {
        let file = try StaticTokenAuthenticator(csv: """
            # token,user,uid,groups
            abc,alice,u-1,"devs,ops"
            def,bob,u-2
            "g,h",carol,u-3,"a ""quoted"" group"
            """)
        #expect(await file.authenticate(token: "abc") == .user(UserInfo(name: "alice", uid: "u-1", groups: ["devs", "ops"])))
        if case .user(let carol)? = await file.authenticate(token: "g,h") {
            #expect(carol.name == "carol" && carol.groups == ["a \"quoted\" group"])
        } else {
            Issue.record("a quoted token with a comma authenticates")
        }
        #expect(await file.authenticate(token: "zzz") == nil)
        #expect(throws: StaticTokenAuthenticator.Invalid.self) { try StaticTokenAuthenticator(csv: "abc,alice\n") }
        #expect(throws: StaticTokenAuthenticator.Invalid.self) { try StaticTokenAuthenticator(csv: "abc,alice,1\nabc,bob,2\n") }
    }

    @Test("join tokens: the full form carries the CA hash, a bare secret has none, a malformed full form is refused")
    func joinTokens() async throws {
        let hash = String(repeating: "ab", count: 32)
        #expect(JoinToken(parsing: "K10\(hash)::server:s3cret\n") == JoinToken(caHash: hash, secret: "s3cret"))
        #expect(JoinToken(parsing: "s3cret") == JoinToken(caHash: nil, secret: "s3cret"))
        #expect(JoinToken(parsing: "K10abc::server:x") == nil)
        #expect(JoinToken(parsing: "  ") == nil)
        let authenticator = JoinTokenAuthenticator(token: JoinToken(caHash: hash, secret: "s3cret"))
        for presented in ["s3cret", "K10\(hash)::server:s3cret"] {
            guard case .user(let user)? = await authenticator.authenticate(token: presented) else {
                Issue.record("\(presented) authenticates")
                continue
            }
            #expect(user.name == JoinToken.bootstrapUser && user.groups == [JoinToken.bootstrapGroup])
        }
        #expect(await authenticator.authenticate(token: "s3crex") == nil)
    }

    @Test("the cluster PKI is made once and reused; leaves are reissued near expiry or for a new name; a damaged CA stops the start")
    func clusterPKI() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let names = ClusterPKI.servingNames(nodeName: "node-a", serviceIP: "10.43.0.1", extra: ["api.example", "192.0.2.7"])
        #expect(names.dnsNames.contains("kubernetes.default.svc.cluster.local") && names.dnsNames.contains("node-a") && names.dnsNames.contains("api.example"))
        #expect(names.ipAddresses == ["127.0.0.1", "::1", "10.43.0.1", "192.0.2.7"])
        let first = try ClusterPKI.loadOrCreate(directory: directory, dnsNames: names.dnsNames, ipAddresses: names.ipAddresses)
        let keyMode = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("server-ca.key").path)[.posixPermissions] as? Int
        #expect(keyMode == 0o600)
        #expect(first.admin.certificate.subjectIdentity.commonName == "system:admin" && first.admin.certificate.subjectIdentity.organizations == ["system:masters"])
        #expect(first.serverCA.signed(first.serving.certificate) && first.clientCA.signed(first.admin.certificate))
        let again = try ClusterPKI.loadOrCreate(directory: directory, dnsNames: names.dnsNames, ipAddresses: names.ipAddresses)
        #expect(again.serverCA.certificate == first.serverCA.certificate && again.serving.certificate == first.serving.certificate
            && again.admin.certificate == first.admin.certificate)
        let renamed = try ClusterPKI.loadOrCreate(directory: directory, dnsNames: names.dnsNames + ["new.example"], ipAddresses: names.ipAddresses)
        #expect(renamed.serverCA.certificate == first.serverCA.certificate && renamed.serving.certificate != first.serving.certificate)
        #expect(renamed.serving.certificate.servingNames.dnsNames.contains("new.example"))
        // 300 days on, the one-year leaves are within 90 days of expiry: reissued by the same CAs.
        let later = try ClusterPKI.loadOrCreate(directory: directory, dnsNames: names.dnsNames, ipAddresses: names.ipAddresses,
            now: Date().addingTimeInterval(300 * 86400))
        #expect(later.clientCA.certificate == first.clientCA.certificate && later.admin.certificate != first.admin.certificate)
        #expect(later.admin.certificate.notValidAfter > first.admin.certificate.notValidAfter)
        try "garbage".write(to: directory.appendingPathComponent("client-ca.crt"), atomically: true, encoding: .utf8)
        #expect(throws: ClusterPKI.Unreadable.self) {
            try ClusterPKI.loadOrCreate(directory: directory, dnsNames: names.dnsNames, ipAddresses: names.ipAddresses)
        }
    }

    @Test("policy rules match verbs, groups, resources, subresources, names and paths as RBAC does; coverage finds what is missing")
    func policyRules() {
        let user = UserInfo(name: "u")
        func request(_ verb: String, _ resource: String, sub: String = "", group: String = "", name: String = "") -> AuthorizationAttributes {
            AuthorizationAttributes(user: user, verb: verb, isResourceRequest: true, namespace: "ns", apiGroup: group, resource: resource,
                subresource: sub, name: name)
        }
        let scale = PolicyRule(verbs: ["get", "update"], apiGroups: ["apps"], resources: ["*/scale"])
        #expect(scale.allows(request("update", "deployments", sub: "scale", group: "apps")))
        #expect(!scale.allows(request("update", "deployments", group: "apps")) && !scale.allows(request("update", "deployments", sub: "scale")))
        let named = PolicyRule(verbs: ["*"], apiGroups: [""], resources: ["configmaps"], resourceNames: ["a"])
        #expect(named.allows(request("delete", "configmaps", name: "a")) && !named.allows(request("delete", "configmaps", name: "b"))
            && !named.allows(request("list", "configmaps")))
        let paths = PolicyRule(verbs: ["get"], nonResourceURLs: ["/healthz", "/apis/*"])
        let get = { (path: String) in AuthorizationAttributes(user: user, verb: "get", isResourceRequest: false, path: path) }
        #expect(paths.allows(get("/healthz")) && paths.allows(get("/apis/apps/v1")) && !paths.allows(get("/healthz/etcd")) && !paths.allows(get("/api")))
        let owner = [PolicyRule(verbs: ["get", "list"], apiGroups: [""], resources: ["pods", "*/status"])]
        #expect(owner.cover([PolicyRule(verbs: ["get"], apiGroups: [""], resources: ["pods", "services/status"])]).isEmpty)
        #expect(owner.cover([PolicyRule(verbs: ["get", "delete"], apiGroups: [""], resources: ["pods"])])
            == [PolicyRule(verbs: ["delete"], apiGroups: [""], resources: ["pods"])])
        #expect(owner.cover([PolicyRule(verbs: ["get"], nonResourceURLs: ["/metrics"])]).count == 1)
    }
}

@Suite("Service account tokens")
struct ServiceAccountTokenTests {
    let issuer = ServiceAccountTokenIssuer(key: .init())

    @Test("an issued token verifies with its claims; tampered, re-signed, expired, early, foreign-audience and foreign-issuer ones do not")
    func verify() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let (token, expires) = try issuer.issue(namespace: "ns", name: "sa", uid: "u-1", lifetime: 3600, pod: (name: "p", uid: "p-1"), now: now)
        #expect(expires == now.addingTimeInterval(3600))
        guard case .valid(let claims) = issuer.verify(token, now: now.addingTimeInterval(10)) else {
            Issue.record("a fresh token verifies")
            return
        }
        #expect(claims.namespace == "ns" && claims.name == "sa" && claims.uid == "u-1" && claims.pod?.name == "p" && claims.pod?.uid == "p-1")
        #expect(issuer.verify(token, now: now.addingTimeInterval(3600 + 61)) == .invalid("token has expired"))
        #expect(issuer.verify(token, now: now.addingTimeInterval(-120)) == .invalid("token is not valid yet"))
        let parts = token.split(separator: ".").map(String.init)
        // The same claims for another account, with the original signature.
        let forgedPayload = ServiceAccountTokenIssuer.base64URL(Array(String(decoding: ServiceAccountTokenIssuer.decodeBase64URL(Substring(parts[1]))!,
            as: UTF8.self).replacingOccurrences(of: "\"sa\"", with: "\"admin\"").utf8))
        #expect(issuer.verify([parts[0], forgedPayload, parts[2]].joined(separator: "."), now: now) == .invalid("invalid signature"))
        let foreign = ServiceAccountTokenIssuer(key: .init())
        let (other, _) = try foreign.issue(namespace: "ns", name: "sa", uid: "u-1", lifetime: 3600, now: now)
        #expect(issuer.verify(other, now: now) == .notMine, "another key's token is left to other authenticators")
        let (elsewhere, _) = try issuer.issue(namespace: "ns", name: "sa", uid: "u-1", audiences: ["vault"], lifetime: 3600, now: now)
        if case .invalid(let reason) = issuer.verify(elsewhere, now: now) {
            #expect(reason.contains("not accepted"))
        } else {
            Issue.record("a token for another audience is refused")
        }
        let otherIssuer = ServiceAccountTokenIssuer(key: issuer.key, issuer: "https://elsewhere")
        let (misissued, _) = try otherIssuer.issue(namespace: "ns", name: "sa", uid: "u-1", lifetime: 3600, now: now)
        #expect(issuer.verify(misissued, now: now) == .invalid("invalid issuer"))
        #expect(issuer.verify("not-a-jwt") == .notMine && issuer.verify("a.b.c") == .notMine && issuer.verify("..") == .notMine)
    }

    @Test("random, truncated and bit-flipped tokens are refused without a crash")
    func fuzz() throws {
        let (token, _) = try issuer.issue(namespace: "ns", name: "sa", uid: "u", lifetime: 3600)
        let bytes = Array(token.utf8)
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ {}\"".utf8)
        for round in 0..<2000 {
            var mutated = bytes
            switch round % 4 {
            case 0: mutated = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &generator)))
            case 1: mutated[Int.random(in: 0..<mutated.count, using: &generator)] = alphabet.randomElement(using: &generator)!
            case 2: mutated = (0..<Int.random(in: 0..<400, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            default: mutated.insert(UInt8(ascii: "."), at: Int.random(in: 0..<mutated.count, using: &generator))
            }
            let text = String(decoding: mutated, as: UTF8.self)
            if case .valid = issuer.verify(text) {
                // Only the untouched token can verify (a change in an unused bit of the last base64 character aside).
                #expect(text.dropLast() == token.dropLast(), "\(text)")
            }
        }
    }
}
