import Crypto
import Foundation

/// The keys that encrypt values at rest, read from and written to a file in kube-apiserver's
/// `EncryptionConfiguration` format (apiserver.config.k8s.io/v1) with the `aesgcm` and `identity` providers, as k3s
/// keeps its `encryption-config.json`. The first key encrypts; every key listed decrypts; with `identity` listed,
/// values written before encryption was turned on are still read as they are.
public struct EncryptionConfiguration: Sendable, Equatable {
    public struct Key: Sendable, Equatable {
        public var name: String
        /// 32 bytes (AES-256).
        public var secret: [UInt8]

        public init(name: String, secret: [UInt8]) {
            self.name = name
            self.secret = secret
        }

        /// A fresh random key.
        public static func generate(name: String) -> Key {
            Key(name: name, secret: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
        }
    }

    /// The resources whose values are encrypted, as kube-apiserver names them (`secrets`).
    public var resources: [String]
    /// The first encrypts; all decrypt.
    public var keys: [Key]
    /// Plaintext values are read as stored (they predate encryption or were written with it off).
    public var readsPlaintext: Bool

    public init(resources: [String] = ["secrets"], keys: [Key], readsPlaintext: Bool = true) {
        self.resources = resources
        self.keys = keys
        self.readsPlaintext = readsPlaintext
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses the JSON (or YAML-as-JSON) file; anything this server cannot honour is refused, never ignored: a
    /// provider left out would mean values written in the clear that the operator believes encrypted.
    public init(json: [UInt8], source: String) throws {
        func invalid(_ message: String) -> Invalid { Invalid(description: "\(source): \(message)") }
        guard let document = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else {
            throw invalid("not a JSON EncryptionConfiguration")
        }
        guard document["kind"] as? String == "EncryptionConfiguration" else { throw invalid("kind must be EncryptionConfiguration") }
        guard let entries = document["resources"] as? [[String: Any]], entries.count == 1, let entry = entries.first else {
            throw invalid("exactly one resources entry is supported")
        }
        let resources = entry["resources"] as? [String] ?? []
        guard !resources.isEmpty else { throw invalid("resources[0].resources is empty") }
        var keys: [Key] = []
        var readsPlaintext = false
        for provider in entry["providers"] as? [[String: Any]] ?? [] {
            if let aesgcm = provider["aesgcm"] as? [String: Any] {
                for key in aesgcm["keys"] as? [[String: Any]] ?? [] {
                    guard let name = key["name"] as? String, !name.isEmpty, !name.contains(":") else {
                        throw invalid("an aesgcm key needs a name without ':'")
                    }
                    guard let encoded = key["secret"] as? String, let secret = Data(base64Encoded: encoded), secret.count == 32 else {
                        throw invalid("aesgcm key \(name): the secret must be 32 bytes, base64-encoded")
                    }
                    guard !keys.contains(where: { $0.name == name }) else { throw invalid("aesgcm key \(name) is listed twice") }
                    keys.append(Key(name: name, secret: Array(secret)))
                }
            } else if provider["identity"] != nil {
                // Only last: identity first would mean writing in the clear.
                guard !keys.isEmpty else { throw invalid("identity must come after the aesgcm provider") }
                readsPlaintext = true
            } else {
                throw invalid("unsupported provider \(provider.keys.sorted().joined(separator: ",")); use aesgcm and identity")
            }
        }
        guard !keys.isEmpty else { throw invalid("no aesgcm key") }
        self.init(resources: resources, keys: keys, readsPlaintext: readsPlaintext)
    }

    public var json: [UInt8] {
        var providers: [[String: Any]] = [[
            "aesgcm": ["keys": keys.map { ["name": $0.name, "secret": Data($0.secret).base64EncodedString()] }],
        ]]
        if readsPlaintext { providers.append(["identity": [String: Any]()]) }
        let document: [String: Any] = [
            "kind": "EncryptionConfiguration", "apiVersion": "apiserver.config.k8s.io/v1",
            "resources": [["resources": resources, "providers": providers]],
        ]
        // Fixed key order keeps the file stable between writes of the same keys.
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return Array(data) + [0x0A]
    }

    /// Reads the file, or creates it with one new key when it does not exist.
    public static func loadOrCreate(path: String) throws -> EncryptionConfiguration {
        if let data = FileManager.default.contents(atPath: path) {
            return try EncryptionConfiguration(json: Array(data), source: path)
        }
        let created = EncryptionConfiguration(keys: [.generate(name: "aesgcmkey")])
        try created.write(to: path)
        return created
    }

    /// Writes the file atomically with mode 0600: a crash leaves the old keys or the new ones, never half a file.
    public func write(to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(json), attributes: [.posixPermissions: 0o600]) else {
            throw Invalid(description: "cannot write \(temporary)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        try handle.synchronize()
        try handle.close()
        if rename(temporary, path) != 0 {
            throw Invalid(description: "cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// The store key prefixes of the encrypted resources: `secrets` (core) under `/registry/secrets/`,
    /// `RESOURCE.GROUP` under `/registry/GROUP/RESOURCE/`.
    public var keyPrefixes: [String] {
        resources.map { resource in
            guard let dot = resource.firstIndex(of: ".") else { return "/registry/\(resource)/" }
            return "/registry/\(resource[resource.index(after: dot)...])/\(resource[..<dot])/"
        }
    }
}
