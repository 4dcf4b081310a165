import Foundation
import KeelsonAPI
import KeelsonStore

/// Secrets encryption at rest as an operator drives it (`keelson secrets-encrypt status|rotate-keys`, after k3s's
/// command of that name): the keys' file in the data dir and the encrypting store that uses them. Rotations run one
/// at a time.
public actor SecretsEncryption {
    public nonisolated let store: EncryptingStore
    public nonisolated let configurationPath: String

    public init(store: EncryptingStore, configurationPath: String) {
        self.store = store
        self.configurationPath = configurationPath
    }

    /// The current keys and how the stored values are held, as JSON for the command to print.
    public func status() async throws -> JSONValue {
        let configuration = store.configuration
        let census = try await store.census()
        let primary = configuration.keys.first?.name ?? ""
        return [
            "encryption": "enabled",
            "provider": "aesgcm",
            "resources": .array(configuration.resources.map { .string($0) }),
            "keys": .array(configuration.keys.map { .string($0.name) }),
            "currentKey": .string(primary),
            "stored": .object(census.byKey.mapValues { .integer(Int64($0)) }),
            "plaintext": .integer(Int64(census.plaintext)),
            "allOnCurrentKey": .bool(census.plaintext == 0 && census.byKey.keys.allSatisfy { $0 == primary }),
        ]
    }

    /// A new key takes over: written to the file first (beside the old keys, which still decrypt), then every
    /// stored value is rewritten with it, then the old keys are dropped. A crash at any step leaves a file whose
    /// keys decrypt everything stored; running the rotation again finishes it.
    public func rotateKeys() async throws -> JSONValue {
        let old = store.configuration
        var name = "aesgcmkey-\(Int(Date().timeIntervalSince1970))"
        while old.keys.contains(where: { $0.name == name }) { name += "x" }
        var adding = old
        adding.keys.insert(.generate(name: name), at: 0)
        try adding.write(to: configurationPath)
        store.use(adding)
        let rewritten = try await store.reencrypt()
        var final = adding
        final.keys = [adding.keys[0]]
        try final.write(to: configurationPath)
        store.use(final)
        return ["currentKey": .string(name), "reencrypted": .integer(Int64(rewritten)),
                "removedKeys": .array(old.keys.map { .string($0.name) })]
    }
}
