import KeelsonAPI
import Testing

@testable import KeelsonAPIServer

/// The streaming list client-go's informers use (`WatchList`): a watch that first sends the current objects, then a
/// bookmark annotated `k8s.io/initial-events-end`, then the changes; and the list-option rules around it.
@Suite("Streaming lists")
struct WatchListTests {
    static func events(_ reply: TestServer.Reply) throws -> [JSONValue] {
        try reply.bytes.split(separator: UInt8(ascii: "\n")).map { try JSONParser.parse(Array($0)) }
    }

    @Test("sendInitialEvents: the objects as ADDED, then the initial-events-end bookmark at the list's revision")
    func initialEvents() async throws {
        try await TestServer.run { client in
            for name in ["a", "b"] {
                _ = try await client.json(.post, "/api/v1/namespaces/default/configmaps", ["metadata": ["name": .string(name), "labels": ["set": "x"]]])
            }
            _ = try await client.json(.post, "/api/v1/namespaces/default/configmaps", ["metadata": ["name": "other"]])
            let reply = try await client.request(.get,
                "/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&labelSelector=set%3Dx&timeoutSeconds=1")
            #expect(reply.status == 200)
            let events = try Self.events(reply)
            #expect(events.map { $0["type"]?.stringValue ?? "" } == ["ADDED", "ADDED", "BOOKMARK"])
            #expect(Set(events.prefix(2).compactMap { $0["object"]?.name }) == ["a", "b"])
            let bookmark = events.last?["object"]
            #expect(bookmark?.metadata?["annotations"]?["k8s.io/initial-events-end"] == "true")
            let latest = try await client.request(.get, "/api/v1/namespaces/default/configmaps").body.metadata?["resourceVersion"]
            #expect(bookmark?.metadata?["resourceVersion"] == latest)
        }
    }

    @Test("sendInitialEvents=false from a resourceVersion sends only later changes; the forbidden combinations are 422s")
    func rules() async throws {
        try await TestServer.run { client in
            let base = "/api/v1/namespaces/default/configmaps"
            let missingMatch = try await client.request(.get, base + "?watch=1&sendInitialEvents=true&allowWatchBookmarks=true")
            #expect(missingMatch.status == 422)
            #expect(missingMatch.body["message"]?.stringValue?.contains("resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan") == true)
            let missingBookmarks = try await client.request(.get, base + "?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan")
            #expect(missingBookmarks.status == 422)
            #expect(missingBookmarks.body["message"]?.stringValue?.contains("allowWatchBookmarks: Forbidden") == true)
            let onList = try await client.request(.get, base + "?sendInitialEvents=true")
            #expect(onList.status == 422)
            #expect(onList.body["message"]?.stringValue?.contains("sendInitialEvents is forbidden for list") == true)
            let matchOnPlainWatch = try await client.request(.get, base + "?watch=1&resourceVersion=1&resourceVersionMatch=NotOlderThan")
            #expect(matchOnPlainWatch.status == 422)

            _ = try await client.json(.post, base, ["metadata": ["name": "before"]])
            let rv = try #require(try await client.request(.get, base).body.metadata?["resourceVersion"]?.stringValue)
            _ = try await client.json(.post, base, ["metadata": ["name": "after"]])
            let reply = try await client.request(.get,
                base + "?watch=1&sendInitialEvents=false&resourceVersion=\(rv)&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1")
            let events = try Self.events(reply)
            #expect(events.map { $0["type"]?.stringValue ?? "" } == ["ADDED"])
            #expect(events.first?["object"]?.name == "after")
        }
    }

    @Test("allowWatchBookmarks: a watch gets BOOKMARK events at the configured interval, carrying the revision of its last event; without it, none")
    func periodicBookmarks() async throws {
        try await TestServer.run(configure: { $0.watchBookmarkInterval = .milliseconds(100) }) { client, _ in
            let base = "/api/v1/namespaces/default/configmaps"
            _ = try await client.json(.post, base, ["metadata": ["name": "before"]])
            let start = try #require(try await client.request(.get, base).body.metadata?["resourceVersion"]?.stringValue)
            let after = try await client.json(.post, base, ["metadata": ["name": "after"]])
            let revision = try #require(after.body.metadata?["resourceVersion"])

            let events = try Self.events(try await client.request(.get, base + "?watch=1&resourceVersion=\(start)&allowWatchBookmarks=true&timeoutSeconds=2"))
            #expect(events.first?["type"] == "ADDED" && events.first?["object"]?.name == "after")
            let bookmarks = events.dropFirst()
            #expect(bookmarks.count >= 2, "two seconds hold many 100 ms intervals: \(events)")
            for bookmark in bookmarks {
                #expect(bookmark["type"] == "BOOKMARK")
                #expect(bookmark["object"]?["kind"] == "ConfigMap" && bookmark["object"]?.metadata?["resourceVersion"] == revision)
            }

            let plain = try Self.events(try await client.request(.get, base + "?watch=1&resourceVersion=\(start)&timeoutSeconds=1"))
            #expect(plain.map { $0["type"]?.stringValue ?? "" } == ["ADDED"])
        }
    }
}
