/// A key's value as the store holds it at one revision.
public struct StoredValue: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]
    /// The revision that created this incarnation of the key.
    public var createRevision: Int64
    /// The revision of the last write to the key (for a delete event: the revision of the delete).
    public var modRevision: Int64

    public init(key: String, value: [UInt8], createRevision: Int64, modRevision: Int64) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
    }
}

/// One page of a range read, taken at one revision.
public struct StoredRange: Sendable {
    public var items: [StoredValue]
    /// The revision the read was served at; a watch from it continues the read with no gap.
    public var revision: Int64
    /// True when `limit` cut the result: more keys follow the last one returned.
    public var more: Bool

    public init(items: [StoredValue], revision: Int64, more: Bool) {
        self.items = items
        self.revision = revision
        self.more = more
    }
}

/// A change seen by a watch, in revision order.
public struct StoreEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case put
        case delete
    }

    public var kind: Kind
    /// For a put, the new value; for a delete, the last value the key had, with `modRevision` the delete's revision.
    public var value: StoredValue
    /// The value before a put, when the store still has it (live events always; replayed ones may not).
    public var previous: [UInt8]?

    public var revision: Int64 { value.modRevision }
    public var isCreate: Bool { kind == .put && value.createRevision == value.modRevision }

    public init(kind: Kind, value: StoredValue, previous: [UInt8]? = nil) {
        self.kind = kind
        self.value = value
        self.previous = previous
    }
}

/// The datastore under the API server, with etcd's semantics: one global revision that every write advances,
/// per-key create and modification revisions, compare-and-swap writes, reads at past revisions until compacted, and
/// watches that replay from a revision with no gaps.
///
/// Implementations: `SQLiteStore` (embedded, the default) and, for several API servers, etcd.
public protocol Store: Sendable {
    /// The newest committed revision.
    func currentRevision() async throws -> Int64

    /// The key's value at `revision` (nil: the newest), or nil if it did not exist then.
    func get(_ key: String, at revision: Int64?) async throws -> StoredValue?

    /// Keys starting with `prefix` in key order, strictly after `startAfter` when given, at most `limit`.
    func range(prefix: String, at revision: Int64?, startAfter: String?, limit: Int?) async throws -> StoredRange

    /// Creates the key; fails with `.keyExists` if it exists. Returns the new revision. With a `ttl` the key is
    /// deleted (a delete event at a revision of its own) once it has gone that long without a write that renews it.
    func create(_ key: String, value: [UInt8], ttl: Duration?) async throws -> Int64

    /// Replaces the key's value if its modification revision is still `ifModRevision`; `.conflict` otherwise,
    /// `.notFound` if it is gone. Returns the new revision. The `ttl` replaces the key's previous one; nil keeps
    /// the key for good, as an etcd put without a lease does.
    func update(_ key: String, value: [UInt8], ifModRevision: Int64, ttl: Duration?) async throws -> Int64

    /// Deletes the key (if `ifModRevision` is given, only at that revision). Returns the deleted value with
    /// `modRevision` set to the revision of the delete.
    func delete(_ key: String, ifModRevision: Int64?) async throws -> StoredValue

    /// Every change under `prefix` with a revision greater than `revision`, in order, then live changes.
    /// Fails with `.compacted` if `revision` is older than the last compaction, and with `.watcherTooSlow` when the
    /// consumer falls too far behind (the caller answers 410 so its client relists).
    func watch(prefix: String, after revision: Int64) -> AsyncThrowingStream<StoreEvent, any Error>

    /// Forgets history at and below `revision`: reads and watches from before it answer `.compacted`.
    func compact(through revision: Int64) async throws

    /// The revision of the last compaction (0 if none).
    func compactedRevision() async throws -> Int64

    /// Deletes the keys whose time to live has run out, returning how many. A store that expires keys by itself
    /// (etcd's leases) has nothing to do here.
    func removeExpired() async throws -> Int
}

extension Store {
    public func create(_ key: String, value: [UInt8]) async throws -> Int64 {
        try await create(key, value: value, ttl: nil)
    }

    public func update(_ key: String, value: [UInt8], ifModRevision: Int64) async throws -> Int64 {
        try await update(key, value: value, ifModRevision: ifModRevision, ttl: nil)
    }
}
