import Crypto
import Foundation
import KeelsonAPI

extension JoinToken {
    public static func hash(ofCA pem: String) -> String {
        SHA256.hash(data: Data(pem.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The token of the data dir: `--token` when given, else the secret kept from an earlier start, else a new
    /// random one; written back (mode 0600) with the hash of the current CA.
    public static func loadOrCreate(path: String, given: String?, caPEM: String) throws -> JoinToken {
        let secret: String
        if let given, let parsed = JoinToken(parsing: given) {
            secret = parsed.secret
        } else if let text = try? String(contentsOfFile: path, encoding: .utf8), let parsed = JoinToken(parsing: text) {
            secret = parsed.secret
        } else {
            secret = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        }
        let token = JoinToken(caHash: hash(ofCA: caPEM), secret: secret)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try ClusterPKI.writeAtomically(token.text + "\n", to: path, mode: 0o600)
        return token
    }
}

/// Authenticates the join token's secret (or the whole token) as the bootstrap user.
public struct JoinTokenAuthenticator: BearerTokenAuthenticator {
    let token: JoinToken

    public init(token: JoinToken) {
        self.token = token
    }

    public func authenticate(token presented: String) async -> TokenAuthentication? {
        guard Self.constantTimeEqual(presented, token.secret) || Self.constantTimeEqual(presented, token.text) else { return nil }
        return .user(UserInfo(name: JoinToken.bootstrapUser, groups: [JoinToken.bootstrapGroup]))
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<x.count { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
