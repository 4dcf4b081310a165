import Foundation
import KeelsonStore
import KeelsonTestKit
import Testing

/// How to make a fresh, empty store for one test. The same suite runs against every `Store` implementation.
struct StoreFixture: CustomStringConvertible, Sendable {
    var description: String
    var make: @Sendable () async throws -> (any Store, @Sendable () -> Void)

    static let sqlite = StoreFixture(description: "sqlite") {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-store-\(UUID().uuidString)")
        let store = try SQLiteStore(configuration: SQLiteStore.Configuration(path: dir.appendingPathComponent("state.db").path))
        return (store, { try? FileManager.default.removeItem(at: dir) })
    }

    /// A fresh etcd (Debian's etcd-server) on loopback ports of its own, removed afterwards.
    static let etcd = StoreFixture(description: "etcd") {
        let server = try await EtcdServer.start()
        // The watchdog's 10 s would take a test process whose threads other tests keep busy for an unresponsive
        // etcd; these tests are about semantics (the watchdog has tests of its own).
        let store = try EtcdStore(configuration: .init(endpoints: [("127.0.0.1", server.clientPort)], requestTimeout: .seconds(60)))
        return (store, { server.stop() })
    }

    /// SQLite under the encryption of Secrets at rest, applied to every key: the layer must keep every promise
    /// of the store it wraps.
    static let encrypted = StoreFixture(description: "encrypted sqlite") {
        let (base, cleanUp) = try await sqlite.make()
        let configuration = EncryptionConfiguration(keys: [.generate(name: "k1")])
        return (EncryptingStore(base: base, configuration: configuration, prefixes: [""]), cleanUp)
    }

    static let all: [StoreFixture] = [.sqlite, .etcd, .encrypted]
}

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

private func expectStoreError(_ code: StoreError.Code, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(code), got success")
    } catch let error as StoreError {
        #expect(error.code == code)
    } catch {
        Issue.record("expected StoreError \(code), got \(error)")
    }
}

/// Collects the next `count` events of a watch, failing the test if they do not arrive within `seconds`.
private func collect(_ stream: AsyncThrowingStream<StoreEvent, any Error>, count: Int, seconds: Double = 10) async throws -> [StoreEvent] {
    try await withThrowingTaskGroup(of: [StoreEvent].self) { group in
        group.addTask {
            var events: [StoreEvent] = []
            for try await event in stream {
                events.append(event)
                if events.count == count { break }
            }
            return events
        }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return []
        }
        let first = try await group.next()!
        group.cancelAll()
        return first
    }
}

@Suite("Store conformance")
struct StoreConformanceTests {
    @Test("create assigns increasing revisions and refuses an existing key", arguments: StoreFixture.all)
    func createAndRevisions(fixture: StoreFixture) async throws {
        let (store, cleanup) = try await fixture.make()
        defer { cleanup() }
        let base = try await store.currentRevision()
        let r1 = try await store.create("/a/1", value: bytes("one"))
        let r2 = try await store.create("/a/2", value: bytes("two"))
        #expect(r1 == base + 1)
        #expect(r2 == base + 2)
        #expect(try await store.currentRevision() == base + 2)
        await expectStoreError(.keyExists) { _ = try await store.create("/a/1", value: bytes("again")) }
        let got = try #require(try await store.get("/a/1", at: nil))
        #expect(got.value == bytes("one"))
        #expect(got.createRevision == base + 1)
        #expect(got.modRevision == base + 1)
    }

    @Test("update succeeds only at the expected mod revision", arguments: StoreFixture.all)
    func compareAndSwap(fixture: StoreFixture) async throws {
        let (store, cleanup) = try await fixture.make()
        defer { cleanup() }
        let created = try await store.create("/k", value: bytes("v1"))
        let updated = try await store.update("/k", value: bytes("v2"), ifModRevision: created)
        #expect(updated == created + 1)
        await expectStoreError(.conflict) { _ = try await store.update("/k", value: bytes("v3"), ifModRevision: created) }
        await expectStoreError(.notFound) { _ = try await store.update("/missing", value: bytes("x"), ifModRevision: 1) }
        let got = try #require(try await store.get("/k", at: nil))
        #expect(got.value == bytes("v2"))
        #expect(got.createRevision == created)
        #expect(got.modRevision == updated)
    }

    @Test("delete returns the last value and honours its precondition", arguments: StoreFixture.all)
    func deleteSemantics(fixture: StoreFixture) async throws {
        let (store, cleanup) = try await fixture.make()
        defer { cleanup() }
        let created = try await store.create("/k", value: bytes("v1"))
        await expectStoreError(.conflict) { _ = try await store.delete("/k", ifModRevision: created + 5) }
        let deleted = try await store.delete("/k", ifModRevision: created)
        #expect(deleted.value == bytes("v1"))
        #expect(deleted.modRevision == created + 1)
        #expect(try await store.get("/k", at: nil) == nil)
        await expectStoreError(.notFound) { _ = try await store.delete("/k", ifModRevision: nil) }
        // A recreated key starts a new incarnation.
        let again = try await store.create("/k", value: bytes("v2"))
        #expect(try await store.get("/k", at: nil)?.createRevision == again)
    }

    @Test("range lists a prefix in key order, with limit and continuation", arguments: StoreFixture.all)
    func rangeWithLimit(fixture: StoreFixture) async throws {
        let (store, cleanup) = try await fixture.make()
        defer { cleanup() }
        let base = try await store.currentRevision()
        for name in ["c", "a", "b", "d"] { _ = try await store.create("/p/\(name)", value: bytes(name)) }
        _ = try await store.create("/q/x", value: bytes("x"))
        _ = try await store.create("/p0", value: bytes("not in prefix"))
        let all = try await store.range(prefix: "/p/", at: nil, startAfter: nil, limit: nil)
        #expect(all.items.map(\.key) == ["/p/a", "/p/b", "/p/c", "/p/d"])
        #expect(!all.more)
        #expect(all.revision == base + 6)
        let first = try await store.range(prefix: "/p/", at: nil, startAfter: nil, limit: 3)
        #expect(first.items.map(\.key) == ["/p/a", "/p/b", "/p/c"])
        #expect(first.more)
        let second = try await store.range(prefix: "/p/", at: first.revision, startAfter: "/p/c", limit: 3)
        #expect(second.items.map(\.key) == ["/p/d"])
        #expect(!second.more)
    }

    @Test("a range larger than 4 MiB is read whole (gRPC's default cap on an answer)", arguments: StoreFixture.all)
    func largeRange(fixture: StoreFixture) async throws {
        let (store, cleanup) = try await fixture.make()
        defer { cleanup() }
        let value = [UInt8](repeating: 0x62, count: 10_000)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<600 { group.addTask { _ = try await store.create("/big/\(1000 + i)", value: value) } }
            try await group.waitForAll()
        }
        let all = try await store.range(prefix: "/big/", at: nil, startAfter: nil, limit: nil)
        #expect(all.items.count == 600)
        #expect(all.items.allSatisfy { $0.value.count == 10_000 })
    }

    @Test("reads at a past revision see the state of that revision", arguments: StoreFixture.all)
    func pastRevisions(fixture: StoreFixture) async throws {
        let (store, cleanup) = try await fixture.make()
        defer { cleanup() }
        let r1 = try await store.create("/p/a", value: bytes("a1"))
        let r2 = try await store.create("/p/b", value: bytes("b1"))
        let r3 = try await store.update("/p/a", value: bytes("a2"), ifModRevision: r1)
        _ = try await store.delete("/p/b", ifModRevision: r2)
        let atR2 = try await store.range(prefix: "/p/", at: r2, startAfter: nil, limit: nil)
        #expect(atR2.items.map { String(decoding: $0.value, as: UTF8.self) } == ["a1", "b1"])
        let atR3 = try await store.range(prefix: "/p/", at: r3, startAfter: nil, limit: nil)
        #expect(atR3.items.map { String(decoding: $0.value, as: UTF8.self) } == ["a2", "b1"])
        let now = try await store.range(prefix: "/p/", at: nil, startAfter: nil, limit: nil)
        #expect(now.items.map { String(decoding: $0.value, as: UTF8.self) } == ["a2"])
        #expect(try await store.get("/p/a", at: r1)?.value == bytes("a1"))
        #expect(try await store.get("/p/b", at: r3 + 1) == nil)
        await expectStoreError(.futureRevision(currentRevision: r3 + 1)) { _ = try await store.get("/p/a", at: r3 + 10) }
    }

    @Test("watch replays history after a revision, then delivers live changes in order", arguments: StoreFixture.all)
    func watchReplayThenLive(fixture: StoreFixture) async throws {
        let (store, cleanup) = try await fixture.make()
        defer { cleanup() }
        let base = try await store.currentRevision()
        let r1 = try await store.create("/w/a", value: bytes("1"))
        _ = try await store.create("/other/x", value: bytes("x"))
        let r3 = try await store.update("/w/a", value: bytes("2"), ifModRevision: r1)
        let stream = store.watch(prefix: "/w/", after: base)
        let replayed = try await collect(stream, count: 2)
        #expect(replayed.map(\.revision) == [r1, r3])
        #expect(replayed[0].isCreate)
        #expect(!replayed[1].isCreate)

        let live = store.watch(prefix: "/w/", after: r3)
        async let next = collect(live, count: 3)
        try await Task.sleep(for: .milliseconds(50))
        _ = try await store.create("/w/b", value: bytes("b"))
        _ = try await store.create("/other/y", value: bytes("y"))
        let deleted = try await store.delete("/w/a", ifModRevision: nil)
        let r7 = try await store.create("/w/c", value: bytes("c"))
        let events = try await next
        #expect(events.map(\.value.key) == ["/w/b", "/w/a", "/w/c"])
        #expect(events.map(\.kind) == [.put, .delete, .put])
        #expect(events[1].value.value == bytes("2"))
        #expect(events[1].revision == deleted.modRevision)
        #expect(events[2].revision == r7)
        #expect(events[1].previous == bytes("2"))
    }

    @Test("concurrent writers all commit, each with a unique revision and no watch gap", arguments: StoreFixture.all)
    func concurrentWritesAreBatchedWithoutGaps(fixture: StoreFixture) async throws {
        let (store, cleanup) = try await fixture.make()
        defer { cleanup() }
        let base = try await store.currentRevision()
        let stream = store.watch(prefix: "/c/", after: base)
        async let watched = collect(stream, count: 200, seconds: 30)
        let revisions = try await withThrowingTaskGroup(of: Int64.self) { group in
            for i in 0..<200 { group.addTask { try await store.create("/c/\(i)", value: bytes("\(i)")) } }
            var all: [Int64] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(Set(revisions).count == 200)
        #expect(revisions.min() == base + 1 && revisions.max() == base + 200)
        let events = try await watched
        #expect(events.map(\.revision) == Array(base + 1...base + 200))
    }

    @Test("compaction forgets old revisions but keeps current values", arguments: StoreFixture.all)
    func compaction(fixture: StoreFixture) async throws {
        let (store, cleanup) = try await fixture.make()
        defer { cleanup() }
        let r1 = try await store.create("/k/a", value: bytes("a1"))
        let r2 = try await store.update("/k/a", value: bytes("a2"), ifModRevision: r1)
        let r3 = try await store.create("/k/b", value: bytes("b"))
        _ = try await store.delete("/k/b", ifModRevision: r3)
        let r5 = try await store.create("/k/c", value: bytes("c"))
        try await store.compact(through: r3)
        #expect(try await store.compactedRevision() == r3)
        await expectStoreError(.compacted(compactedRevision: r3)) { _ = try await store.range(prefix: "/k/", at: r1, startAfter: nil, limit: nil) }
        let atR3 = try await store.range(prefix: "/k/", at: r3, startAfter: nil, limit: nil)
        #expect(atR3.items.map(\.key) == ["/k/a", "/k/b"])
        #expect(atR3.items.first?.modRevision == r2)
        let now = try await store.range(prefix: "/k/", at: nil, startAfter: nil, limit: nil)
        #expect(now.items.map(\.key) == ["/k/a", "/k/c"])
        var failure: (any Error)?
        do {
            for try await _ in store.watch(prefix: "/k/", after: r1) {}
        } catch {
            failure = error
        }
        #expect((failure as? StoreError)?.code == .compacted(compactedRevision: r3))
        let fromCompacted = try await collect(store.watch(prefix: "/k/", after: r3), count: 2)
        #expect(fromCompacted.map(\.revision) == [r3 + 1, r5])
    }

    @Test("a key with a time to live is deleted when it runs out; a write without one keeps its key", arguments: StoreFixture.all)
    func timeToLive(fixture: StoreFixture) async throws {
        let (store, cleanup) = try await fixture.make()
        defer { cleanup() }
        let base = try await store.currentRevision()
        let watch = store.watch(prefix: "/ttl/", after: base)
        // From before the first write: a busy machine may take a while over the writes.
        let start = ContinuousClock.now
        _ = try await store.create("/ttl/forever", value: bytes("stays"))
        // Updated without a time to live, "kept" must lose its lease; if it kept it, it would be gone
        // by the time checked below. Its time to live is long enough that a loaded machine (etcd's fsyncs
        // queue behind every other test's) cannot let it run out between this create and the update.
        let kept = try await store.create("/ttl/kept", value: bytes("v1"), ttl: .seconds(6))
        _ = try await store.update("/ttl/kept", value: bytes("v2"), ifModRevision: kept)
        // The short-lived key is written last, so its deletion is the last event whatever the machine's speed.
        let shortCreated = ContinuousClock.now
        _ = try await store.create("/ttl/short", value: bytes("goes"), ttl: .seconds(2))
        // etcd rounds leases up to whole seconds (and to its minimum), so "runs out" is "within a few seconds".
        while try await store.get("/ttl/short", at: nil) != nil {
            #expect(ContinuousClock.now - shortCreated < .seconds(15), "the key outlived its time to live")
            if ContinuousClock.now - shortCreated > .seconds(15) { return }
            _ = try await store.removeExpired()
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(ContinuousClock.now - shortCreated >= .seconds(1), "the key went before its time to live")
        // Past the time "kept" would have run out with its first lease (etcd rounding included).
        let keptWouldExpire = start + .seconds(8)
        if ContinuousClock.now < keptWouldExpire { try await Task.sleep(until: keptWouldExpire) }
        _ = try await store.removeExpired()
        #expect(try await store.get("/ttl/kept", at: nil)?.value == bytes("v2"))
        #expect(try await store.get("/ttl/forever", at: nil) != nil)
        let events = try await collect(watch, count: 5)
        #expect(events.map(\.kind) == [.put, .put, .put, .put, .delete])
        #expect(events.map(\.value.key) == ["/ttl/forever", "/ttl/kept", "/ttl/kept", "/ttl/short", "/ttl/short"])
        #expect(events.last?.value.value == bytes("goes"))
    }

    @Test("a snapshot holds every key at one revision and restores into an empty store; not into a full one", arguments: StoreFixture.all)
    func snapshotRoundTrip(fixture: StoreFixture) async throws {
        let (store, cleanup) = try await fixture.make()
        defer { cleanup() }
        for i in 0..<2_500 { _ = try await store.create("/registry/things/\(i)", value: bytes("value \(i)")) }
        let updated = try #require(try await store.get("/registry/things/7", at: nil))
        _ = try await store.update("/registry/things/7", value: bytes("changed"), ifModRevision: updated.modRevision)
        _ = try await store.delete("/registry/things/8", ifModRevision: nil)
        _ = try await store.create("/registry/events/default/e1", value: bytes("event"), ttl: .seconds(3600))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-snap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("snap").path
        let summary = try await StoreSnapshot.save(store, source: fixture.description, to: path, pageSize: 1000)
        #expect(summary.keys == 2_500)
        #expect(summary.revision == (try await store.currentRevision()))
        #expect(!FileManager.default.fileExists(atPath: path + ".part"))
        #expect(try StoreSnapshot.header(of: path).revision == summary.revision)

        let contents = try StoreSnapshot.read(path)
        let (fresh, cleanupFresh) = try await fixture.make()
        defer { cleanupFresh() }
        let restored = try await StoreSnapshot.restore(contents, into: fresh, ttl: { $0.hasPrefix("/registry/events/") ? .seconds(3600) : nil })
        #expect(restored == 2_500)
        let original = try await store.range(prefix: "/", at: nil, startAfter: nil, limit: nil).items
        let copy = try await fresh.range(prefix: "/", at: nil, startAfter: nil, limit: nil).items
        #expect(copy.map(\.key) == original.map(\.key))
        #expect(copy.map(\.value) == original.map(\.value))
        #expect(try await fresh.get("/registry/things/7", at: nil)?.value == bytes("changed"))
        #expect(try await fresh.get("/registry/things/8", at: nil) == nil)

        // Restoring over existing keys is refused, and the keys are untouched.
        await #expect(throws: StoreSnapshot.Invalid.self) {
            _ = try await StoreSnapshot.restore(contents, into: fresh, ttl: { _ in nil })
        }
        #expect(try await fresh.range(prefix: "/", at: nil, startAfter: nil, limit: nil).items.count == 2_500)
    }
}

@Suite("Store snapshots")
struct StoreSnapshotTests {
    @Test("restored into SQLite, keys keep their revisions; older revisions answer compacted")
    func sqliteKeepsRevisions() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-snap-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(configuration: .init(path: directory.appendingPathComponent("a/state.db").path))
        var revisions: [String: Int64] = [:]
        for i in 0..<50 { revisions["/registry/x/\(i)"] = try await store.create("/registry/x/\(i)", value: bytes("\(i)")) }
        revisions["/registry/x/3"] = try await store.update("/registry/x/3", value: bytes("three"), ifModRevision: revisions["/registry/x/3"]!)
        let path = directory.appendingPathComponent("snap").path
        let summary = try await StoreSnapshot.save(store, source: "sqlite", to: path)
        try store.close()

        let target = directory.appendingPathComponent("b/state.db").path
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        #expect(try SQLiteStore.restore(StoreSnapshot.read(path), at: target, ttl: { _ in nil }) == 50)
        #expect(throws: StoreSnapshot.Invalid.self) { _ = try SQLiteStore.restore(StoreSnapshot.read(path), at: target, ttl: { _ in nil }) }
        let restored = try SQLiteStore(configuration: .init(path: target))
        defer { try? restored.close() }
        #expect(try await restored.currentRevision() == summary.revision)
        for (key, revision) in revisions {
            #expect(try await restored.get(key, at: nil)?.modRevision == revision)
        }
        #expect(try await restored.get("/registry/x/3", at: nil)?.value == bytes("three"))
        await expectStoreError(.compacted(compactedRevision: summary.revision)) {
            _ = try await restored.range(prefix: "/registry/", at: summary.revision - 1, startAfter: nil, limit: nil)
        }
        // Writes continue the revision sequence.
        #expect(try await restored.create("/registry/x/new", value: bytes("n")) == summary.revision + 1)
    }

    @Test("a damaged or truncated snapshot is refused before anything is restored")
    func damagedSnapshot() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-snap-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(configuration: .init(path: directory.appendingPathComponent("a/state.db").path))
        for i in 0..<10 { _ = try await store.create("/registry/x/\(i)", value: bytes("value \(i)")) }
        let path = directory.appendingPathComponent("snap").path
        _ = try await StoreSnapshot.save(store, source: "sqlite", to: path)
        try store.close()
        var data = try #require(FileManager.default.contents(atPath: path))
        var flipped = data
        flipped[data.count / 2] ^= 0x01
        try flipped.write(to: URL(fileURLWithPath: path + ".flipped"))
        data.removeLast(20)
        try data.write(to: URL(fileURLWithPath: path + ".short"))
        for damaged in [path + ".flipped", path + ".short"] {
            #expect(throws: StoreSnapshot.Invalid.self) { _ = try StoreSnapshot.read(damaged) }
        }
        #expect(throws: StoreSnapshot.Invalid.self) { _ = try StoreSnapshot.read(directory.appendingPathComponent("a/state.db").path) }
    }
}

@Suite("SQLite store durability")
struct SQLiteDurabilityTests {
    @Test("a reopened store has every acknowledged write and its revision")
    func reopen() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-reopen-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("state.db").path
        do {
            let store = try SQLiteStore(configuration: SQLiteStore.Configuration(path: path))
            for i in 0..<20 { _ = try await store.create("/r/\(i)", value: bytes("\(i)")) }
            _ = try await store.delete("/r/0", ifModRevision: nil)
            try store.close()
        }
        let reopened = try SQLiteStore(configuration: SQLiteStore.Configuration(path: path))
        #expect(try await reopened.currentRevision() == 21)
        let items = try await reopened.range(prefix: "/r/", at: nil, startAfter: nil, limit: nil).items
        #expect(items.count == 19)
        // A watch from before the restart replays from disk.
        let replay = try await collect(reopened.watch(prefix: "/r/", after: 19), count: 2)
        #expect(replay.map(\.revision) == [20, 21])
        #expect(replay.last?.kind == .delete)
        try reopened.close()
    }
}
