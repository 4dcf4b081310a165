import Foundation
import GRDB
import Logging
import Synchronization

/// The embedded store: etcd semantics on one SQLite file in WAL mode.
///
/// Layout: `log` is the append-only history, one row per revision (the revision is its primary key), holding the
/// value written (for a delete, the last value); `kv` maps each live key to its create and latest revision, so
/// current reads never scan history. Compaction removes history rows no read can need any more.
///
/// Writes are durable before they are acknowledged (`synchronous=FULL`), and concurrent writers share a commit:
/// every write joins a queue that one writer task drains into a single transaction, so N clients cost one fsync
/// per batch rather than N.
public final class SQLiteStore: Store {
    public struct Configuration: Sendable {
        public var path: String
        /// The most writes one transaction carries.
        public var maxBatch: Int = 512
        /// Events kept in memory for watchers that start from a recent revision.
        public var recentEvents: Int = 10_000
        /// Events a watcher may have unread before it is dropped (and its client told to relist).
        public var watchBuffer: Int = 10_000

        public init(path: String) { self.path = path }
    }

    /// A write; `expiresAt` (milliseconds since 1970) is when a key written with a time to live is deleted.
    enum WriteOp: Sendable {
        case create(key: String, value: [UInt8], expiresAt: Int64?)
        case update(key: String, value: [UInt8], ifModRevision: Int64, expiresAt: Int64?)
        case delete(key: String, ifModRevision: Int64?)

        var key: String {
            switch self {
            case .create(let key, _, _), .update(let key, _, _, _), .delete(let key, _): return key
            }
        }
    }

    enum WriteOutcome: Sendable {
        case written(StoreEvent)
        case failed(StoreError)
    }

    private struct PendingWrite: Sendable {
        var op: WriteOp
        var continuation: CheckedContinuation<WriteOutcome, Never>
    }

    private struct WriterState {
        var pending: [PendingWrite] = []
        var draining = false
    }

    private let pool: DatabasePool
    private let configuration: Configuration
    private let hub: WatchHub
    private let writer = Mutex(WriterState())
    private let logger: Logger

    public init(configuration: Configuration, logger: Logger = Logger(label: "keelson.store")) throws {
        self.configuration = configuration
        self.logger = logger
        var config = GRDB.Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        config.busyMode = .timeout(10)
        let directory = (configuration.path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        do {
            if FileManager.default.fileExists(atPath: configuration.path) { try Self.check(configuration.path) }
            pool = try DatabasePool(path: configuration.path, configuration: config)
            try pool.write { db in try Self.createSchema(db) }
            let (revision, compacted) = try pool.read { db in
                (try Self.meta(db, "revision"), try Self.meta(db, "compacted"))
            }
            hub = WatchHub(currentRevision: revision, compactedRevision: compacted,
                recentCapacity: configuration.recentEvents, bufferSize: configuration.watchBuffer)
        } catch let error as StoreError {
            throw error
        } catch let error as DatabaseError where [.SQLITE_CORRUPT, .SQLITE_NOTADB].contains(error.resultCode) {
            throw StoreError(.internal, message: Self.corruptionMessage(configuration.path, "\(error)"), cause: error)
        } catch {
            throw StoreError(.internal, message: "cannot open the datastore at \(configuration.path): \(error)", cause: error)
        }
    }

    /// Damage inside a file whose header is intact shows only when the damaged page is read; checking the pages'
    /// structure at start turns it into a refusal to start instead of failures later, mid-request. The check reads
    /// through a read-only connection: closing a writable one would checkpoint the write-ahead log into the damaged
    /// file, changing what the operator has to recover from.
    private static func check(_ path: String) throws {
        var config = GRDB.Configuration()
        config.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: config)
        defer { try? queue.close() }
        let problems = try queue.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check(5)") }
        guard problems == ["ok"] else {
            throw StoreError(.internal, message: corruptionMessage(path, problems.joined(separator: "; ")))
        }
    }

    static func corruptionMessage(_ path: String, _ detail: String) -> String {
        "the datastore at \(path) is damaged (\(detail)); it has been left untouched. Restore a snapshot into an "
            + "empty data directory (keelson etcd-snapshot restore), or move the file away to start an empty cluster"
    }

    deinit {
        hub.finishAll()
    }

    private static func createSchema(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE IF NOT EXISTS log (
                rev INTEGER PRIMARY KEY,
                key TEXT NOT NULL,
                deleted INTEGER NOT NULL,
                create_rev INTEGER NOT NULL,
                prev_rev INTEGER NOT NULL,
                value BLOB NOT NULL
            );
            CREATE INDEX IF NOT EXISTS log_key_rev ON log(key, rev);
            CREATE TABLE IF NOT EXISTS kv (
                key TEXT PRIMARY KEY,
                create_rev INTEGER NOT NULL,
                mod_rev INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS expiry (key TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS expiry_at ON expiry(at);
            INSERT OR IGNORE INTO meta(name, value) VALUES ('revision', 0), ('compacted', 0);
            """)
    }

    private static func meta(_ db: Database, _ name: String) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE name = ?"), arguments: [name]) ?? 0
    }

    // MARK: Reads

    public func currentRevision() async throws -> Int64 { hub.currentRevision }

    public func compactedRevision() async throws -> Int64 { hub.compactedRevision }

    private func checkReadable(_ revision: Int64, current: Int64) throws {
        let compacted = hub.compactedRevision
        if revision < compacted {
            throw StoreError(.compacted(compactedRevision: compacted), message: "required revision has been compacted")
        }
        if revision > current {
            throw StoreError(.futureRevision(currentRevision: current), message: "required revision is a future revision")
        }
    }

    public func get(_ key: String, at revision: Int64?) async throws -> StoredValue? {
        try await readTransaction { db in
            let current = try Self.meta(db, "revision")
            if let revision, revision < current {
                try self.checkReadable(revision, current: current)
                let statement = try db.cachedStatement(sql: """
                    SELECT create_rev, rev, value, deleted FROM log WHERE key = ? AND rev <= ? ORDER BY rev DESC LIMIT 1
                    """)
                guard let row = try Row.fetchOne(statement, arguments: [key, revision]), (row[3] as Int64) == 0
                else { return nil }
                return StoredValue(key: key, value: Self.bytes(row[2]), createRevision: row[0], modRevision: row[1])
            }
            if let revision, revision > current { try self.checkReadable(revision, current: current) }
            let statement = try db.cachedStatement(sql: """
                SELECT kv.create_rev, kv.mod_rev, log.value FROM kv JOIN log ON log.rev = kv.mod_rev WHERE kv.key = ?
                """)
            guard let row = try Row.fetchOne(statement, arguments: [key])
            else { return nil }
            return StoredValue(key: key, value: Self.bytes(row[2]), createRevision: row[0], modRevision: row[1])
        }
    }

    public func range(prefix: String, at revision: Int64?, startAfter: String?, limit: Int?) async throws -> StoredRange {
        try await readTransaction { db in
            let current = try Self.meta(db, "revision")
            let readRevision = revision ?? current
            try self.checkReadable(readRevision, current: current)
            var arguments: StatementArguments = [prefix]
            var conditions = ["key >= ?"]
            if let end = Self.prefixEnd(prefix) {
                conditions.append("key < ?")
                arguments += [end]
            }
            if let startAfter {
                conditions.append("key > ?")
                arguments += [startAfter]
            }
            // Bound as a parameter (-1 is "no limit" to SQLite) so one cached statement serves every page size.
            let limitClause = " LIMIT ?"
            let limitValue = limit.map { $0 + 1 } ?? -1
            let sql: String
            if readRevision == current {
                sql = """
                    SELECT k.key, k.create_rev, k.mod_rev, l.value FROM (SELECT key, create_rev, mod_rev FROM kv
                    WHERE \(conditions.joined(separator: " AND ")) ORDER BY key\(limitClause)) AS k
                    JOIN log l ON l.rev = k.mod_rev ORDER BY k.key
                    """
                arguments += [limitValue]
            } else {
                arguments += [readRevision]
                sql = """
                    SELECT key, create_rev, rev, value FROM (
                        SELECT key, create_rev, rev, value, deleted,
                            ROW_NUMBER() OVER (PARTITION BY key ORDER BY rev DESC) AS newest
                        FROM log WHERE \(conditions.joined(separator: " AND ")) AND rev <= ?
                    ) WHERE newest = 1 AND deleted = 0 ORDER BY key\(limitClause)
                    """
                arguments += [limitValue]
            }
            var items: [StoredValue] = []
            let rows = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments)
            while let row = try rows.next() {
                items.append(StoredValue(key: row[0], value: Self.bytes(row[3]), createRevision: row[1], modRevision: row[2]))
            }
            var more = false
            if let limit, items.count > limit {
                items.removeLast(items.count - limit)
                more = true
            }
            return StoredRange(items: items, revision: readRevision, more: more)
        }
    }

    private func readTransaction<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.internal, message: "read failed", cause: error)
        }
    }

    private static func bytes(_ value: DatabaseValue) -> [UInt8] {
        if let data = Data.fromDatabaseValue(value) { return [UInt8](data) }
        return []
    }

    /// The smallest string greater than every string starting with `prefix` (nil when there is none).
    static func prefixEnd(_ prefix: String) -> String? {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0x7F {
                bytes[bytes.count - 1] = last + 1
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes.removeLast()
        }
        return nil
    }

    // MARK: Writes

    public func create(_ key: String, value: [UInt8], ttl: Duration?) async throws -> Int64 {
        try await submit(.create(key: key, value: value, expiresAt: Self.expiry(ttl))).revision
    }

    public func update(_ key: String, value: [UInt8], ifModRevision: Int64, ttl: Duration?) async throws -> Int64 {
        try await submit(.update(key: key, value: value, ifModRevision: ifModRevision, expiresAt: Self.expiry(ttl))).revision
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    private static func expiry(_ ttl: Duration?) -> Int64? {
        guard let ttl else { return nil }
        let (seconds, attoseconds) = ttl.components
        return now() + seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    public func removeExpired() async throws -> Int {
        let now = Self.now()
        let expired = try await readTransaction { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT expiry.key, kv.mod_rev FROM expiry JOIN kv ON kv.key = expiry.key WHERE expiry.at <= ? LIMIT 1000
                """), arguments: [now]).map { (key: $0[0] as String, revision: $0[1] as Int64) }
        }
        // Conditional on the revision read: a key renewed meanwhile stays. The deletes share commits.
        return await withTaskGroup(of: Bool.self) { group in
            for (key, revision) in expired {
                group.addTask { (try? await self.delete(key, ifModRevision: revision)) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
    }

    public func delete(_ key: String, ifModRevision: Int64?) async throws -> StoredValue {
        try await submit(.delete(key: key, ifModRevision: ifModRevision)).value
    }

    private func submit(_ op: WriteOp) async throws -> StoreEvent {
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<WriteOutcome, Never>) in
            let startDrain = writer.withLock { state -> Bool in
                state.pending.append(PendingWrite(op: op, continuation: continuation))
                if state.draining { return false }
                state.draining = true
                return true
            }
            if startDrain {
                Task { await self.drain() }
            }
        }
        switch outcome {
        case .written(let event): return event
        case .failed(let error): throw error
        }
    }

    /// Commits queued writes, a batch per transaction, until the queue is empty.
    private func drain() async {
        while true {
            let batch = writer.withLock { state -> [PendingWrite] in
                if state.pending.isEmpty {
                    state.draining = false
                    return []
                }
                let count = min(state.pending.count, configuration.maxBatch)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                return batch
            }
            if batch.isEmpty { return }
            let ops = batch.map(\.op)
            let base = hub.currentRevision
            do {
                let (outcomes, revision) = try await pool.write { db in try Self.apply(ops, base: base, db) }
                let events = outcomes.compactMap { outcome -> StoreEvent? in
                    if case .written(let event) = outcome { return event }
                    return nil
                }
                hub.publish(events, currentRevision: revision)
                for (pending, outcome) in zip(batch, outcomes) { pending.continuation.resume(returning: outcome) }
            } catch {
                logger.error("datastore write failed", metadata: ["error": "\(error)", "writes": "\(ops.count)"])
                let failure = Self.isFull(error)
                    ? StoreError(.internal, message: "the disk holding the datastore is full: writes are refused until "
                        + "space is freed; reads go on", cause: error)
                    : StoreError(Self.isTransient(error) ? .unavailable : .internal,
                        message: "the datastore could not commit the write", cause: error)
                for pending in batch { pending.continuation.resume(returning: .failed(failure)) }
            }
        }
    }

    private static func isTransient(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return [.SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_IOERR].contains(error.resultCode)
    }

    private static func isFull(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return error.resultCode == .SQLITE_FULL
    }

    /// Applies one batch in one transaction. Each write checks its own precondition; a failed one does not abort
    /// the others. Returns each outcome and the revision after the batch.
    private static func apply(_ ops: [WriteOp], base: Int64, _ db: Database) throws -> ([WriteOutcome], Int64) {
        var revision = base
        var outcomes: [WriteOutcome] = []
        outcomes.reserveCapacity(ops.count)
        let lookup = try db.cachedStatement(sql: """
            SELECT kv.create_rev, kv.mod_rev, log.value FROM kv JOIN log ON log.rev = kv.mod_rev WHERE kv.key = ?
            """)
        let insertLog = try db.cachedStatement(sql: """
            INSERT INTO log(rev, key, deleted, create_rev, prev_rev, value) VALUES (?, ?, ?, ?, ?, ?)
            """)
        let upsertKV = try db.cachedStatement(sql: "INSERT OR REPLACE INTO kv(key, create_rev, mod_rev) VALUES (?, ?, ?)")
        let deleteKV = try db.cachedStatement(sql: "DELETE FROM kv WHERE key = ?")
        let setExpiry = try db.cachedStatement(sql: "INSERT OR REPLACE INTO expiry(key, at) VALUES (?, ?)")
        let clearExpiry = try db.cachedStatement(sql: "DELETE FROM expiry WHERE key = ?")
        func expire(_ key: String, at: Int64?) throws {
            if let at { try setExpiry.execute(arguments: [key, at]) } else { try clearExpiry.execute(arguments: [key]) }
        }
        for op in ops {
            let key = op.key
            let existing = try Row.fetchOne(lookup, arguments: [key])
            switch op {
            case .create(_, let value, let expiresAt):
                if existing != nil {
                    outcomes.append(.failed(StoreError(.keyExists, key: key)))
                    continue
                }
                revision += 1
                try insertLog.execute(arguments: [revision, key, 0, revision, 0, Data(value)])
                try upsertKV.execute(arguments: [key, revision, revision])
                // A key deleted with an expiry left nothing behind, so only a create with a time to live writes.
                if let expiresAt { try expire(key, at: expiresAt) }
                let stored = StoredValue(key: key, value: value, createRevision: revision, modRevision: revision)
                outcomes.append(.written(StoreEvent(kind: .put, value: stored)))
            case .update(_, let value, let ifModRevision, let expiresAt):
                guard let existing else {
                    outcomes.append(.failed(StoreError(.notFound, key: key)))
                    continue
                }
                let createRevision: Int64 = existing[0]
                let modRevision: Int64 = existing[1]
                guard modRevision == ifModRevision else {
                    outcomes.append(.failed(StoreError(.conflict, key: key, message: "modified at revision \(modRevision)")))
                    continue
                }
                revision += 1
                try insertLog.execute(arguments: [revision, key, 0, createRevision, modRevision, Data(value)])
                try upsertKV.execute(arguments: [key, createRevision, revision])
                try expire(key, at: expiresAt)
                let stored = StoredValue(key: key, value: value, createRevision: createRevision, modRevision: revision)
                outcomes.append(.written(StoreEvent(kind: .put, value: stored, previous: bytes(existing[2]))))
            case .delete(_, let ifModRevision):
                guard let existing else {
                    outcomes.append(.failed(StoreError(.notFound, key: key)))
                    continue
                }
                let createRevision: Int64 = existing[0]
                let modRevision: Int64 = existing[1]
                if let ifModRevision, ifModRevision != modRevision {
                    outcomes.append(.failed(StoreError(.conflict, key: key, message: "modified at revision \(modRevision)")))
                    continue
                }
                let last = bytes(existing[2])
                revision += 1
                try insertLog.execute(arguments: [revision, key, 1, createRevision, modRevision, Data(last)])
                try deleteKV.execute(arguments: [key])
                try expire(key, at: nil)
                let stored = StoredValue(key: key, value: last, createRevision: createRevision, modRevision: revision)
                outcomes.append(.written(StoreEvent(kind: .delete, value: stored, previous: last)))
            }
        }
        if revision != base {
            try db.execute(sql: "UPDATE meta SET value = ? WHERE name = 'revision'", arguments: [revision])
        }
        return (outcomes, revision)
    }

    // MARK: Watch

    public func watch(prefix: String, after revision: Int64) -> AsyncThrowingStream<StoreEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: StoreEvent.self, bufferingPolicy: .bufferingOldest(hub.bufferSize))
        let (id, start) = hub.register(prefix: prefix, after: revision, continuation: continuation)
        continuation.onTermination = { [hub] _ in hub.remove(id) }
        switch start {
        case .live:
            break
        case .compacted(let compacted):
            continuation.finish(throwing: StoreError(.compacted(compactedRevision: compacted),
                message: "required revision has been compacted"))
        case .replay(let through):
            Task {
                do {
                    try await self.replay(prefix: prefix, after: revision, through: through, into: continuation)
                    self.hub.finishReplay(id)
                } catch {
                    self.hub.remove(id)
                    continuation.finish(throwing: error)
                }
            }
        }
        return stream
    }

    private func replay(prefix: String, after: Int64, through: Int64,
        into continuation: AsyncThrowingStream<StoreEvent, any Error>.Continuation) async throws
    {
        var cursor = after
        let end = Self.prefixEnd(prefix)
        while cursor < through {
            let from = cursor
            let events = try await readTransaction { db -> [StoreEvent] in
                var arguments: StatementArguments = [from, through, prefix]
                var sql = """
                    SELECT rev, key, deleted, create_rev, value FROM log WHERE rev > ? AND rev <= ? AND key >= ?
                    """
                if let end {
                    sql += " AND key < ?"
                    arguments += [end]
                }
                sql += " ORDER BY rev LIMIT 1000"
                return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                    let stored = StoredValue(key: row[1], value: Self.bytes(row[4]), createRevision: row[3], modRevision: row[0])
                    return StoreEvent(kind: (row[2] as Int64) == 0 ? .put : .delete, value: stored)
                }
            }
            if events.isEmpty { return }
            for event in events {
                if case .dropped = continuation.yield(event) {
                    throw StoreError(.watcherTooSlow, message: "watcher fell behind during replay")
                }
            }
            cursor = events.last!.revision
        }
    }

    // MARK: Compaction

    public func compact(through revision: Int64) async throws {
        let current = hub.currentRevision
        guard revision <= current else {
            throw StoreError(.futureRevision(currentRevision: current), message: "cannot compact a future revision")
        }
        guard revision > hub.compactedRevision else { return }
        do {
            try await pool.write { db in
                try db.execute(sql: """
                    DELETE FROM log WHERE rev <= :r AND (deleted = 1 OR EXISTS (
                        SELECT 1 FROM log AS newer WHERE newer.key = log.key AND newer.rev > log.rev AND newer.rev <= :r))
                    """, arguments: ["r": revision])
                try db.execute(sql: "UPDATE meta SET value = ? WHERE name = 'compacted'", arguments: [revision])
            }
        } catch {
            throw StoreError(.internal, message: "compaction failed", cause: error)
        }
        hub.setCompacted(revision)
    }

    // MARK: Restore

    /// Creates the store at `path` (which must not exist) holding a snapshot's keys at their own revisions, so
    /// that resource versions read before the snapshot still name the same object states. History before the
    /// snapshot is gone: the snapshot's revision becomes the compacted one, and clients resuming a watch from an
    /// older revision are told to relist. When two keys share a revision (an etcd transaction wrote both) the keys
    /// are numbered afresh, in revision order.
    public static func restore(_ contents: StoreSnapshot.Contents, at path: String, ttl: (String) -> Duration?) throws -> Int {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw StoreSnapshot.Invalid(description: "\(path) exists; restore into a data directory without a datastore")
        }
        var records = contents.records.sorted { $0.modRevision < $1.modRevision }
        var revision = contents.header.revision
        if Set(records.map(\.modRevision)).count != records.count || records.contains(where: { $0.modRevision <= 0 }) {
            for index in records.indices {
                records[index].modRevision = Int64(index + 1)
                records[index].createRevision = min(records[index].createRevision, Int64(index + 1))
            }
            revision = Int64(records.count)
        }
        revision = max(revision, records.last?.modRevision ?? 0)
        let store = try SQLiteStore(configuration: Configuration(path: path))
        defer { try? store.close() }
        let now = now()
        try store.pool.write { db in
            let insertLog = try db.cachedStatement(sql: """
                INSERT INTO log(rev, key, deleted, create_rev, prev_rev, value) VALUES (?, ?, 0, ?, 0, ?)
                """)
            let insertKV = try db.cachedStatement(sql: "INSERT INTO kv(key, create_rev, mod_rev) VALUES (?, ?, ?)")
            let insertExpiry = try db.cachedStatement(sql: "INSERT INTO expiry(key, at) VALUES (?, ?)")
            for record in records {
                try insertLog.execute(arguments: [record.modRevision, record.key, record.createRevision, Data(record.value)])
                try insertKV.execute(arguments: [record.key, record.createRevision, record.modRevision])
                if let ttl = ttl(record.key) {
                    try insertExpiry.execute(arguments: [record.key, now + Int64(ttl.components.seconds) * 1000])
                }
            }
            try db.execute(sql: "UPDATE meta SET value = ? WHERE name IN ('revision', 'compacted')", arguments: [revision])
        }
        return records.count
    }

    /// Closes the database; pending watches end.
    public func close() throws {
        hub.finishAll()
        try pool.close()
    }
}
