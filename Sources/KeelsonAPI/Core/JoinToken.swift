import Foundation

/// The secret with which agents join, in k3s's form `K10<sha256 of the server CA PEM>::server:<secret>`: the hash
/// lets a new agent check the CA it downloads before trusting it; the secret authenticates it as a bootstrapper,
/// which may only ask for its node's client certificate. A bare secret is accepted too (the CA is then trusted
/// on first use).
public struct JoinToken: Sendable, Equatable {
    public var caHash: String?
    public var secret: String

    public static let bootstrapUser = "system:bootstrap:node-join"
    public static let bootstrapGroup = "system:bootstrappers"

    public init(caHash: String?, secret: String) {
        self.caHash = caHash
        self.secret = secret
    }

    /// Reads the full form or a bare secret; nil for an empty text or a malformed full form.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        guard trimmed.hasPrefix("K10"), let separator = trimmed.range(of: "::") else {
            self.init(caHash: nil, secret: trimmed)
            return
        }
        let hash = String(trimmed[trimmed.index(trimmed.startIndex, offsetBy: 3)..<separator.lowerBound])
        var rest = trimmed[separator.upperBound...]
        if let colon = rest.firstIndex(of: ":") { rest = rest[rest.index(after: colon)...] }
        guard !rest.isEmpty, hash.count == 64, hash.allSatisfy(\.isHexDigit) else { return nil }
        self.init(caHash: hash.lowercased(), secret: String(rest))
    }

    public var text: String { caHash.map { "K10\($0)::server:\(secret)" } ?? secret }
}
