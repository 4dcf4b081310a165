import KeelsonAPI
import KeelsonStore
import Testing

@testable import KeelsonAPIServer

/// The line a watcher without selectors receives for an event, made from the stored bytes.
@Suite("Watch lines")
struct WatchLineTests {
    static func decodedLine(_ type: String, _ stored: StoredValue) throws -> [UInt8] {
        var bytes = JSONValue.object(["type": .string(type), "object": try ObjectCodec.decodeStored(stored)]).encoded()
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    @Test("spliced from the stored bytes, a line is byte for byte the encoding of the decoded event", arguments: ["ADDED", "MODIFIED", "DELETED"])
    func spliced(type: String) throws {
        let pod: JSONValue = [
            "apiVersion": "v1", "kind": "Pod",
            "metadata": ["name": "p", "namespace": "default", "uid": "u-1", "labels": ["app": "web"], "creationTimestamp": "2026-01-01T00:00:00Z",
                         "managedFields": [["manager": "kubectl", "operation": "Update", "fieldsV1": ["f:spec": ["f:containers": [:]]]]]],
            "spec": ["containers": [["name": "c", "image": "busybox", "args": ["sh", "-c", "echo \"}\" \\"]]], "priority": 0],
            "status": ["phase": "Pending", "ratio": 0.5],
        ]
        let stored = StoredValue(key: "/registry/pods/default/p", value: ObjectCodec.encodeForStorage(pod), createRevision: 3, modRevision: 41)
        #expect(EncodedObject(encoded: stored.value) != nil, "the fast path is taken")
        let line = try RESTHandler.plainWatchLine(type: type, stored)
        #expect(line == (try Self.decodedLine(type, stored)))
        #expect(try JSONParser.parse(Array(line.dropLast()))["object"]?.resourceVersion == "41")
    }

    @Test("bytes not written by the encoder are decoded and encoded again, with the same result")
    func fallback() throws {
        let stored = StoredValue(key: "/registry/configmaps/default/c",
            value: Array(#"{"kind": "ConfigMap", "metadata": {"uid": "u", "name": "c"}, "data": {"a": "1"}}"#.utf8), createRevision: 5, modRevision: 5)
        #expect(EncodedObject(encoded: stored.value) == nil)
        #expect(try RESTHandler.plainWatchLine(type: "ADDED", stored) == (try Self.decodedLine("ADDED", stored)))
    }
}
