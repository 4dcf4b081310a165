import Foundation
import Hummingbird
import KeelsonAPI
import KeelsonStore
import ServiceLifecycle

extension RESTHandler {
    private enum WatchItem: Sendable {
        case event(StoreEvent)
        case bookmark
        case failed(Status)
        case end
    }

    /// A watch: a chunked stream of `{"type": …, "object": …}` lines, one per event, in revision order.
    func watch(request: APIRequest, path: ResourcePath, definition: ResourceDefinition, options: ListOptions) async throws -> Response {
        let prefix = definition.prefix(namespace: path.namespace)
        var initial: [JSONValue] = []
        let startRevision: Int64
        let sendInitial = options.sendInitialEvents ?? (options.resourceVersion == nil || options.resourceVersion == "0")
        if let rv = options.resourceVersion, rv != "0", options.sendInitialEvents != true {
            startRevision = Int64(rv) ?? 0
        } else {
            let page = try await store.range(prefix: prefix, at: nil, startAfter: nil, limit: nil)
            startRevision = page.revision
            if sendInitial {
                for stored in page.items {
                    let object = try decode(stored, definition)
                    if matches(object, options, definition) { initial.append(object) }
                }
            }
        }
        let initialObjects = initial
        let markInitialEnd = options.sendInitialEvents == true && options.allowWatchBookmarks
        let compacted = try await store.compactedRevision()
        let tooOld = startRevision < compacted
        let events = store.watch(prefix: prefix, after: startRevision)
        let timeout = Duration.seconds(options.timeoutSeconds.map { max(1, $0) } ?? 1800)
        let bookmarks = options.allowWatchBookmarks
        let table = request.wantsTable
        let include = TablePrinter.IncludeObject(rawValue: request.query["includeObject"] ?? "") ?? .metadata
        // Without selectors or printing every watcher of a revision sends the same line.
        let plain = !table && options.labelSelector.isEverything && options.fieldSelector.isEverything
            && !definition.sharesStorageAcrossVersions
        let body = ResponseBody { writer in
            var lastRevision = startRevision
            func line(_ type: String, _ object: JSONValue) -> [UInt8] {
                var payload = object
                if table && type != "ERROR" && type != "BOOKMARK" {
                    payload = TablePrinter.table(for: definition, objects: [object],
                        listMetadata: ["resourceVersion": .string(object.resourceVersion ?? "")], include: include)
                }
                var bytes = JSONValue.object(["type": .string(type), "object": payload]).encoded()
                bytes.append(UInt8(ascii: "\n"))
                return bytes
            }
            func emit(_ type: String, _ object: JSONValue, _ writer: inout any ResponseBodyWriter) async throws {
                try await writer.write(ByteBuffer(bytes: line(type, object)))
            }
            if tooOld {
                let status = Status.gone("too old resource version: \(startRevision) (\(compacted))")
                try await emit("ERROR", status.jsonValue, &writer)
                try await writer.finish(nil)
                return
            }
            // The initial events go out in writes of a few hundred kilobytes, not one write each.
            var initialLines = ByteBuffer()
            for object in initialObjects {
                initialLines.writeBytes(line("ADDED", object))
                if initialLines.readableBytes >= 256 * 1024 {
                    try await writer.write(initialLines)
                    initialLines = ByteBuffer()
                }
            }
            if markInitialEnd {
                initialLines.writeBytes(line("BOOKMARK", self.bookmark(definition, revision: startRevision, initialEventsEnd: true)))
            }
            if initialLines.readableBytes > 0 { try await writer.write(initialLines) }
            let queue = WatchBatchQueue<WatchItem>()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        for try await event in events { queue.push(.event(event)) }
                        queue.push(.end)
                    } catch {
                        queue.push(.failed(Status(mapping: error, definition: definition, name: "")))
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    queue.push(.end)
                }
                // A watch would hold the server's graceful shutdown until its timeout; end it instead, and the
                // client resumes from its last resourceVersion against the next server.
                group.addTask {
                    try await gracefulShutdown()
                    queue.push(.end)
                }
                if bookmarks {
                    let interval = self.bookmarkInterval
                    group.addTask {
                        while true {
                            try await Task.sleep(for: interval)
                            queue.push(.bookmark)
                        }
                    }
                }
                var finished = false
                while !finished {
                    var pending = ByteBuffer()
                    batch: for item in await queue.next() {
                        switch item {
                        case .event(let event):
                            lastRevision = event.revision
                            if plain {
                                pending.writeBytes(try self.watchLines.line(for: event.revision) {
                                    let type = event.kind == .delete ? "DELETED" : (event.isCreate ? "ADDED" : "MODIFIED")
                                    return try Self.plainWatchLine(type: type, event.value)
                                })
                                continue
                            }
                            guard let (type, object) = try self.watchEvent(event, options: options, definition: definition) else { continue }
                            pending.writeBytes(line(type, object))
                        case .bookmark:
                            pending.writeBytes(line("BOOKMARK", self.bookmark(definition, revision: lastRevision, initialEventsEnd: false)))
                        case .failed(let status):
                            pending.writeBytes(line("ERROR", status.jsonValue))
                            finished = true
                            break batch
                        case .end:
                            finished = true
                            break batch
                        }
                    }
                    if pending.readableBytes > 0 { try await writer.write(pending) }
                }
                group.cancelAll()
            }
            try await writer.finish(nil)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-cache, private"
        return Response(status: .ok, headers: headers, body: body)
    }

    /// `{"object":…,"type":…}` and a newline, as encoding the decoded event would give; the stored bytes with their
    /// revision spliced in when they are as the encoder wrote them, which spares decoding and encoding the object
    /// once per event.
    static func plainWatchLine(type: String, _ stored: StoredValue) throws -> [UInt8] {
        guard let encoded = EncodedObject(encoded: stored.value) else {
            var bytes = JSONValue.object(["type": .string(type), "object": try ObjectCodec.decodeStored(stored)]).encoded()
            bytes.append(UInt8(ascii: "\n"))
            return bytes
        }
        var bytes = Array(#"{"object":"#.utf8)
        bytes.append(contentsOf: encoded.with(resourceVersion: String(stored.modRevision)))
        bytes.append(contentsOf: #","type":"\#(type)"}"#.utf8)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    private func bookmark(_ definition: ResourceDefinition, revision: Int64, initialEventsEnd: Bool) -> JSONValue {
        var metadata: [String: JSONValue] = ["resourceVersion": .string(String(revision))]
        if initialEventsEnd { metadata["annotations"] = ["k8s.io/initial-events-end": "true"] }
        return ["kind": .string(definition.kind), "apiVersion": .string(definition.apiVersion), "metadata": .object(metadata)]
    }

    /// Turns a store event into a watch event, applying the selectors as kube-apiserver's watch cache does: an
    /// object that starts matching is ADDED, one that stops matching is DELETED.
    private func watchEvent(_ event: StoreEvent, options: ListOptions, definition: ResourceDefinition) throws -> (String, JSONValue)? {
        var object = try decode(event.value, definition)
        let nowMatches = matches(object, options, definition)
        switch event.kind {
        case .delete:
            return nowMatches ? ("DELETED", object) : nil
        case .put:
            if event.isCreate { return nowMatches ? ("ADDED", object) : nil }
            let previousMatches: Bool
            if let previous = event.previous, var old = try? JSONParser.parse(previous) {
                old.resourceVersion = object.resourceVersion
                previousMatches = matches(old, options, definition)
            } else {
                previousMatches = nowMatches
            }
            switch (previousMatches, nowMatches) {
            case (true, true): return ("MODIFIED", object)
            case (false, true): return ("ADDED", object)
            case (true, false):
                object.resourceVersion = String(event.revision)
                return ("DELETED", object)
            case (false, false): return nil
            }
        }
    }
}
