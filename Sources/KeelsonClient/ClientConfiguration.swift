import Foundation
import KeelsonAPI
import Yams

/// Where the API server is and who the client is: what a kubeconfig's current context says.
public struct ClientConfiguration: Sendable {
    public var server: String
    /// `Authorization: Bearer` token, when the context's user has one.
    public var bearerToken: String?
    /// Sent as the `User-Agent`, so the server's logs and audit name the component.
    public var userAgent: String

    public init(server: String, bearerToken: String? = nil, userAgent: String = "keelson") {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.bearerToken = bearerToken
        self.userAgent = userAgent
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads a kubeconfig file and takes its current context.
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
        let user = named("users", context?["user"] as? String)?["user"] as? [String: Any]
        return ClientConfiguration(server: server, bearerToken: user?["token"] as? String, userAgent: userAgent)
    }
}
