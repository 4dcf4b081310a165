import Foundation
import KeelsonStore
import Testing

@Suite("Encryption of Secrets at rest")
struct EncryptingStoreTests {
    private static func withStores(_ configuration: EncryptionConfiguration,
        _ body: (EncryptingStore, any Store) async throws -> Void) async throws
    {
        let (base, cleanUp) = try await StoreFixture.sqlite.make()
        defer { cleanUp() }
        try await body(EncryptingStore(base: base, configuration: configuration), base)
    }

    private static let secretKey = "/registry/secrets/default/db"

    @Test("a Secret is stored sealed under kube-apiserver's aesgcm prefix and read back in the clear; other kinds are not touched")
    func sealsSecretsOnly() async throws {
        try await Self.withStores(EncryptionConfiguration(keys: [.generate(name: "k1")])) { store, base in
            let value = Array(#"{"data":{"password":"aHVudGVyMg=="}}"#.utf8)
            _ = try await store.create(Self.secretKey, value: value)
            _ = try await store.create("/registry/configmaps/default/c", value: value)

            let raw = try #require(try await base.get(Self.secretKey, at: nil)).value
            #expect(raw.starts(with: Array("k8s:enc:aesgcm:v1:k1:".utf8)))
            #expect(!String(decoding: raw, as: UTF8.self).contains("aHVudGVyMg"))
            #expect(try await base.get("/registry/configmaps/default/c", at: nil)?.value == value)

            #expect(try await store.get(Self.secretKey, at: nil)?.value == value)
            #expect(try await store.range(prefix: "/registry/secrets/", at: nil, startAfter: nil, limit: nil).items.map(\.value) == [value])
            // Two writes of the same value never give the same bytes: each has its own nonce.
            let revision = try #require(try await base.get(Self.secretKey, at: nil)).modRevision
            _ = try await store.update(Self.secretKey, value: value, ifModRevision: revision)
            #expect(try await base.get(Self.secretKey, at: nil)?.value != raw)
        }
    }

    @Test("a sealed value moved under another key does not decrypt, nor does a damaged one: a 500-class error, no garbage")
    func tamperingIsRefused() async throws {
        try await Self.withStores(EncryptionConfiguration(keys: [.generate(name: "k1")])) { store, base in
            _ = try await store.create(Self.secretKey, value: Array("secret".utf8))
            var raw = try #require(try await base.get(Self.secretKey, at: nil)).value
            _ = try await base.create("/registry/secrets/default/copy", value: raw)
            await #expect(throws: StoreError.self) { _ = try await store.get("/registry/secrets/default/copy", at: nil) }

            raw[raw.count - 1] ^= 0x01
            _ = try await base.create("/registry/secrets/default/damaged", value: raw)
            do {
                _ = try await store.get("/registry/secrets/default/damaged", at: nil)
                Issue.record("a damaged value decrypted")
            } catch let error as StoreError {
                #expect(error.code == .internal)
                #expect(error.key == "/registry/secrets/default/damaged")
            }
        }
    }

    @Test("values stored before encryption are read while identity is listed, and refused when it is not")
    func plaintextFromBefore() async throws {
        try await Self.withStores(EncryptionConfiguration(keys: [.generate(name: "k1")], readsPlaintext: true)) { store, base in
            _ = try await base.create(Self.secretKey, value: Array("old".utf8))
            #expect(try await store.get(Self.secretKey, at: nil)?.value == Array("old".utf8))
            #expect(try await store.census() == EncryptingStore.Census(plaintext: 1))

            let strict = EncryptingStore(base: base, configuration: EncryptionConfiguration(keys: [.generate(name: "k1")], readsPlaintext: false))
            await #expect(throws: StoreError.self) { _ = try await strict.get(Self.secretKey, at: nil) }
        }
    }

    @Test("rotation: a new first key encrypts, old keys still decrypt, re-encryption moves everything to the new key")
    func rotation() async throws {
        let k1 = EncryptionConfiguration.Key.generate(name: "k1")
        let k2 = EncryptionConfiguration.Key.generate(name: "k2")
        try await Self.withStores(EncryptionConfiguration(keys: [k1])) { store, base in
            for index in 0..<3 { _ = try await store.create("/registry/secrets/default/s\(index)", value: Array("v\(index)".utf8)) }
            _ = try await base.create("/registry/secrets/default/plain", value: Array("p".utf8))
            #expect(try await store.census() == EncryptingStore.Census(byKey: ["k1": 3], plaintext: 1))

            store.use(EncryptionConfiguration(keys: [k2, k1]))
            _ = try await store.create("/registry/secrets/default/new", value: Array("n".utf8))
            #expect(try await store.get("/registry/secrets/default/s0", at: nil)?.value == Array("v0".utf8))
            #expect(try await store.census() == EncryptingStore.Census(byKey: ["k1": 3, "k2": 1], plaintext: 1))

            #expect(try await store.reencrypt() == 4)
            #expect(try await store.census() == EncryptingStore.Census(byKey: ["k2": 5]))
            #expect(try await store.reencrypt() == 0)

            store.use(EncryptionConfiguration(keys: [k2]))
            for index in 0..<3 {
                #expect(try await store.get("/registry/secrets/default/s\(index)", at: nil)?.value == Array("v\(index)".utf8))
            }
            // Without the key that sealed them, values are an error that names the key, never garbage.
            let stale = EncryptingStore(base: base, configuration: EncryptionConfiguration(keys: [k1]))
            do {
                _ = try await stale.get("/registry/secrets/default/s0", at: nil)
                Issue.record("read with a dropped key")
            } catch let error as StoreError {
                #expect(error.message.contains("k2"))
            }
        }
    }

    @Test("watch events arrive decrypted, with the previous value too")
    func watchDecrypts() async throws {
        try await Self.withStores(EncryptionConfiguration(keys: [.generate(name: "k1")])) { store, _ in
            let start = try await store.currentRevision()
            let events = store.watch(prefix: "/registry/secrets/", after: start)
            let created = try await store.create(Self.secretKey, value: Array("one".utf8))
            _ = try await store.update(Self.secretKey, value: Array("two".utf8), ifModRevision: created)
            _ = try await store.delete(Self.secretKey, ifModRevision: nil)
            var seen: [StoreEvent] = []
            for try await event in events {
                seen.append(event)
                if seen.count == 3 { break }
            }
            #expect(seen.map(\.value.value) == [Array("one".utf8), Array("two".utf8), Array("two".utf8)])
            #expect(seen[1].previous == Array("one".utf8))
            #expect(seen.map(\.kind) == [.put, .put, .delete])
        }
    }

    @Test("the keys' file: created once with mode 0600, read back as written, and refused when it cannot be honoured")
    func configurationFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-enc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("cred/encryption-config.json").path
        let created = try EncryptionConfiguration.loadOrCreate(path: path)
        #expect(created.keys.count == 1 && created.keys[0].secret.count == 32)
        #expect(created.readsPlaintext)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try EncryptionConfiguration.loadOrCreate(path: path) == created)
        #expect(created.keyPrefixes == ["/registry/secrets/"])
        #expect(EncryptionConfiguration(resources: ["secrets", "widgets.example.com"], keys: created.keys).keyPrefixes
            == ["/registry/secrets/", "/registry/example.com/widgets/"])

        func refused(_ json: String, _ fragment: String) {
            do {
                _ = try EncryptionConfiguration(json: Array(json.utf8), source: "f.json")
                Issue.record("accepted: \(json)")
            } catch {
                #expect("\(error)".contains(fragment), "\(error)")
            }
        }
        let key = Data(repeating: 7, count: 32).base64EncodedString()
        refused(#"{"kind":"EncryptionConfiguration","resources":[{"resources":["secrets"],"providers":[{"identity":{}},{"aesgcm":{"keys":[{"name":"a","secret":"\#(key)"}]}}]}]}"#,
            "identity must come after")
        refused(#"{"kind":"EncryptionConfiguration","resources":[{"resources":["secrets"],"providers":[{"aesgcm":{"keys":[{"name":"a","secret":"c2hvcnQ="}]}}]}]}"#,
            "32 bytes")
        refused(#"{"kind":"EncryptionConfiguration","resources":[{"resources":["secrets"],"providers":[{"aescbc":{"keys":[]}}]}]}"#,
            "unsupported provider aescbc")
        refused(#"{"kind":"Other"}"#, "kind must be EncryptionConfiguration")
        refused("not json", "not a JSON")
    }
}
