import Foundation
import KeelsonAPI
import KeelsonStore
import Logging
import Testing

@testable import KeelsonAPIServer

@Suite("Watch cache")
struct WatchCacheTests {
    /// A cache following a fresh SQLite store, running for the length of `body`.
    static func withCache(catchUpTimeout: Duration = .seconds(3),
                          _ body: @Sendable (SQLiteStore, WatchCache) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-cache-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let store = try SQLiteStore(configuration: .init(path: dir.appendingPathComponent("state.db").path))
        defer { try? store.close() }
        let cache = WatchCache(store: store, logger: Logger(label: "test"), catchUpTimeout: catchUpTimeout)
        let running = Task { await cache.run() }
        defer { running.cancel() }
        try await body(store, cache)
    }

    @Test("a list not older than the store's current revision sees every write acknowledged before it, in key order")
    func readsItsWrites() async throws {
        try await Self.withCache { store, cache in
            let prefix = "/registry/configmaps/default/"
            var written: [String] = []
            for i in 0..<200 {
                let key = prefix + String(format: "cm-%03d", (i * 37) % 200)
                _ = try await store.create(key, value: Array("{\"n\":\(i)}".utf8))
                written.append(key)
                let listed = try #require(await cache.list(prefix: prefix, notOlderThan: try await store.currentRevision()))
                #expect(listed.items.map(\.key) == written.sorted(), "after write \(i)")
                #expect(listed.revision >= (listed.items.map(\.modRevision).max() ?? 0))
            }
            let stored = try await store.range(prefix: prefix, at: nil, startAfter: nil, limit: nil)
            let listed = try #require(await cache.list(prefix: prefix, notOlderThan: stored.revision))
            #expect(listed.items == stored.items, "the same keys, bytes and revisions as the store's own range")
        }
    }

    @Test("updates and deletions reach a prefix's index; other prefixes are not mixed in")
    func followsChanges() async throws {
        try await Self.withCache { store, cache in
            let pods = "/registry/pods/a/", others = "/registry/pods/b/"
            let first = try await store.create(pods + "x", value: Array("1".utf8))
            #expect(try #require(await cache.list(prefix: pods, notOlderThan: first)).items.map(\.key) == [pods + "x"])
            _ = try await store.create(others + "y", value: Array("2".utf8))
            let updated = try await store.update(pods + "x", value: Array("3".utf8), ifModRevision: first)
            let afterUpdate = try #require(await cache.list(prefix: pods, notOlderThan: updated))
            #expect(afterUpdate.items.map(\.value) == [Array("3".utf8)] && afterUpdate.items.first?.modRevision == updated)
            _ = try await store.create(pods + "w", value: Array("4".utf8))
            _ = try await store.delete(pods + "x", ifModRevision: nil)
            let end = try await store.currentRevision()
            #expect(try #require(await cache.list(prefix: pods, notOlderThan: end)).items.map(\.key) == [pods + "w"])
            #expect(try #require(await cache.list(prefix: "/registry/pods/", notOlderThan: end)).items.map(\.key) == [pods + "w", others + "y"])
        }
    }

    @Test("a revision the store has not reached is not waited for beyond the timeout: the caller reads the store")
    func futureRevisionTimesOut() async throws {
        try await Self.withCache(catchUpTimeout: .milliseconds(200)) { store, cache in
            let now = try await store.create("/registry/configmaps/default/a", value: Array("{}".utf8))
            #expect(await cache.list(prefix: "/registry/configmaps/", notOlderThan: now) != nil)
            #expect(await cache.list(prefix: "/registry/configmaps/", notOlderThan: now + 1_000) == nil)
        }
    }

    @Test("through the API: resourceVersion=0 is answered from the cache whole (limit ignored, as kube-apiserver does); a paged consistent list reads the store")
    func listsThroughTheAPI() async throws {
        try await TestServer.run { client in
            let base = "/api/v1/namespaces/default/configmaps"
            for name in ["a", "b", "c"] {
                #expect(try await client.json(.post, base, ["metadata": ["name": .string(name)]]).status == 201)
            }
            let fromCache = try await client.request(.get, base + "?resourceVersion=0&limit=1").body
            #expect(fromCache["items"]?.arrayValue?.compactMap(\.name) == ["a", "b", "c"])
            #expect(fromCache.metadata?["continue"] == nil)
            let paged = try await client.request(.get, base + "?limit=1").body
            #expect(paged["items"]?.arrayValue?.compactMap(\.name) == ["a"])
            #expect(paged.metadata?["continue"]?.stringValue?.isEmpty == false)
            let consistent = try await client.request(.get, base).body
            #expect(consistent["items"]?.arrayValue?.compactMap(\.name) == ["a", "b", "c"])
            let latest = try await client.json(.post, base, ["metadata": ["name": "d"]])
            let notOlder = try await client.request(.get, base + "?resourceVersion=\(latest.body.metadata?["resourceVersion"]?.stringValue ?? "")&resourceVersionMatch=NotOlderThan").body
            #expect(notOlder["items"]?.arrayValue?.compactMap(\.name) == ["a", "b", "c", "d"])
        }
    }
}
