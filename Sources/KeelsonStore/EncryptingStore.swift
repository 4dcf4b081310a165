import Crypto
import Foundation
import Synchronization

/// A store that encrypts the values of some resources (Secrets) before they reach the store underneath and decrypts
/// them on the way back, so that neither the SQLite file, nor etcd's data, nor a snapshot of either holds them in
/// the clear. The layout of an encrypted value is kube-apiserver's for its `aesgcm` provider:
/// `k8s:enc:aesgcm:v1:KEYNAME:` then nonce, ciphertext and tag, with the store key as additional authenticated
/// data, so a value copied under another key does not decrypt.
public final class EncryptingStore: Store {
    public let base: any Store
    /// The keys whose values are encrypted: those of the configuration's resources.
    public let prefixes: [String]
    private let state: Mutex<Keys>

    private struct Keys: Sendable {
        var configuration: EncryptionConfiguration
        var symmetric: [String: SymmetricKey]

        init(_ configuration: EncryptionConfiguration) {
            self.configuration = configuration
            symmetric = Dictionary(configuration.keys.map { ($0.name, SymmetricKey(data: $0.secret)) }, uniquingKeysWith: { first, _ in first })
        }
    }

    static let prefix = Array("k8s:enc:aesgcm:v1:".utf8)

    /// `prefixes` overrides the configuration's key prefixes (tests encrypt every key with `[""]`).
    public init(base: any Store, configuration: EncryptionConfiguration, prefixes: [String]? = nil) {
        self.base = base
        self.prefixes = prefixes ?? configuration.keyPrefixes
        self.state = Mutex(Keys(configuration))
    }

    public var configuration: EncryptionConfiguration { state.withLock { $0.configuration } }

    /// Takes new keys: the first encrypts from now on, all of them decrypt. Values already stored keep their key
    /// until `reencrypt()` rewrites them.
    public func use(_ configuration: EncryptionConfiguration) {
        state.withLock { $0 = Keys(configuration) }
    }

    // MARK: Sealing

    func encrypts(_ key: String) -> Bool { prefixes.contains { key.hasPrefix($0) } }

    func seal(_ value: [UInt8], key: String) throws -> [UInt8] {
        guard encrypts(key) else { return value }
        let primary: (name: String, key: SymmetricKey)? = state.withLock { keys in
            keys.configuration.keys.first.flatMap { first in keys.symmetric[first.name].map { (first.name, $0) } }
        }
        guard let (name, symmetric) = primary else { throw StoreError(.internal, key: key, message: "no encryption key") }
        do {
            let box = try AES.GCM.seal(value, using: symmetric, authenticating: Array(key.utf8))
            guard let combined = box.combined else { throw StoreError(.internal, key: key, message: "AES-GCM gave no combined box") }
            return Self.prefix + Array(name.utf8) + [UInt8(ascii: ":")] + Array(combined)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.internal, key: key, message: "cannot encrypt", cause: error)
        }
    }

    /// The name of the key that sealed `value`, or nil when it is stored in the clear.
    static func keyName(of value: [UInt8]) -> Substring? {
        guard value.starts(with: prefix) else { return nil }
        let rest = value[prefix.count...]
        guard let colon = rest.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        return Substring(decoding: rest[..<colon], as: UTF8.self)
    }

    func open(_ value: [UInt8], key: String) throws -> [UInt8] {
        guard value.starts(with: Self.prefix) else {
            // Never read an unencrypted value where only encrypted ones may be, unless the configuration allows
            // the values that predate encryption.
            guard !encrypts(key) || state.withLock({ $0.configuration.readsPlaintext }) else { throw StoreError(.internal, key: key, message: "the value is not encrypted and the configuration reads no plaintext") }
            return value
        }
        let rest = value[Self.prefix.count...]
        guard let colon = rest.firstIndex(of: UInt8(ascii: ":")) else {
            throw StoreError(.internal, key: key, message: "an encrypted value without a key name")
        }
        let name = String(decoding: rest[..<colon], as: UTF8.self)
        guard let symmetric = state.withLock({ $0.symmetric[name] }) else {
            throw StoreError(.internal, key: key, message: "the value was encrypted with key \(name), which the encryption configuration no longer has")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: rest[(colon + 1)...])
            return Array(try AES.GCM.open(box, using: symmetric, authenticating: Array(key.utf8)))
        } catch {
            throw StoreError(.internal, key: key, message: "the value does not decrypt with key \(name) (damaged, or stored under another key)")
        }
    }

    func open(_ stored: StoredValue) throws -> StoredValue {
        var opened = stored
        opened.value = try open(stored.value, key: stored.key)
        return opened
    }

    // MARK: Store

    public func currentRevision() async throws -> Int64 { try await base.currentRevision() }

    public func get(_ key: String, at revision: Int64?) async throws -> StoredValue? {
        try await base.get(key, at: revision).map { try open($0) }
    }

    public func range(prefix: String, at revision: Int64?, startAfter: String?, limit: Int?) async throws -> StoredRange {
        var page = try await base.range(prefix: prefix, at: revision, startAfter: startAfter, limit: limit)
        page.items = try page.items.map { try open($0) }
        return page
    }

    public func create(_ key: String, value: [UInt8], ttl: Duration?) async throws -> Int64 {
        try await base.create(key, value: try seal(value, key: key), ttl: ttl)
    }

    public func update(_ key: String, value: [UInt8], ifModRevision: Int64, ttl: Duration?) async throws -> Int64 {
        try await base.update(key, value: try seal(value, key: key), ifModRevision: ifModRevision, ttl: ttl)
    }

    public func delete(_ key: String, ifModRevision: Int64?) async throws -> StoredValue {
        try open(try await base.delete(key, ifModRevision: ifModRevision))
    }

    public func watch(prefix: String, after revision: Int64) -> AsyncThrowingStream<StoreEvent, any Error> {
        let events = base.watch(prefix: prefix, after: revision)
        // A watch that cannot see an encrypted key (pods, nodes, …) is the store's own, with no hop in between.
        guard prefixes.contains(where: { $0.hasPrefix(prefix) || prefix.hasPrefix($0) }) else { return events }
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await event in events {
                        var opened = event
                        opened.value = try self.open(event.value)
                        opened.previous = try event.previous.map { try self.open($0, key: event.value.key) }
                        continuation.yield(opened)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    public func compact(through revision: Int64) async throws { try await base.compact(through: revision) }

    public func compactedRevision() async throws -> Int64 { try await base.compactedRevision() }

    public func removeExpired() async throws -> Int { try await base.removeExpired() }

    // MARK: Keys at rest

    /// How the stored values of the encrypted resources are held: how many under each key, how many in the clear.
    public struct Census: Sendable, Equatable {
        public var byKey: [String: Int] = [:]
        public var plaintext = 0

        public init(byKey: [String: Int] = [:], plaintext: Int = 0) {
            self.byKey = byKey
            self.plaintext = plaintext
        }

        public var total: Int { byKey.values.reduce(plaintext, +) }
    }

    public func census() async throws -> Census {
        var census = Census()
        try await forEachStored { stored in
            if let name = Self.keyName(of: stored.value) {
                census.byKey[String(name), default: 0] += 1
            } else {
                census.plaintext += 1
            }
        }
        return census
    }

    /// Rewrites every value of the encrypted resources that the first key did not seal, with that key; returns how
    /// many were rewritten. Each rewrite is a compare-and-swap: a value someone changed meanwhile was written with
    /// the first key already.
    @discardableResult
    public func reencrypt() async throws -> Int {
        guard let primary = configuration.keys.first?.name else { return 0 }
        var rewritten = 0
        try await forEachStored { stored in
            guard Self.keyName(of: stored.value).map(String.init) != primary else { return }
            let plain = try open(stored.value, key: stored.key)
            do {
                _ = try await update(stored.key, value: plain, ifModRevision: stored.modRevision, ttl: nil)
                rewritten += 1
            } catch let error as StoreError where error.code == .conflict || error.code == .notFound {
                // Written or deleted since the read: either way no longer sealed with an old key.
            }
        }
        return rewritten
    }

    private func forEachStored(_ body: (StoredValue) async throws -> Void) async throws {
        for prefix in prefixes {
            var after: String?
            while true {
                let page = try await base.range(prefix: prefix, at: nil, startAfter: after, limit: 500)
                for item in page.items { try await body(item) }
                guard page.more, let last = page.items.last else { break }
                after = last.key
            }
        }
    }
}
