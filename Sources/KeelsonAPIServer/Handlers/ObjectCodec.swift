import KeelsonAPI
import KeelsonStore
import Yams

/// Decoding of request bodies (JSON and YAML) and of stored objects, and their encoding in answers.
enum ObjectCodec {
    /// The largest request body accepted (kube-apiserver's limit is 3 MiB for objects).
    static let maxBodyBytes = 3 * 1024 * 1024

    /// Parses a request body as the content type says; a missing type is JSON (the Python client sends none).
    static func decodeBody(_ body: [UInt8], contentType: String?) throws(Status) -> JSONValue {
        try decodeBodyNotingDuplicates(body, contentType: contentType).0
    }

    /// As `decodeBody`, with the paths of keys a JSON body repeats in one object (`spec.replicas`), for
    /// `fieldValidation` to refuse or warn about.
    static func decodeBodyNotingDuplicates(_ body: [UInt8], contentType: String?) throws(Status) -> (JSONValue, [String]) {
        let mediaType = contentType?.split(separator: ";").first.map { $0.trimmingCharacters(in: " ").lowercased() } ?? "application/json"
        if body.isEmpty { throw Status.badRequest("the request body is empty") }
        switch mediaType {
        case "application/yaml", "application/apply-patch+yaml", "text/yaml":
            return try decodeYAML(body)
        case "application/vnd.kubernetes.protobuf":
            do {
                return (try ProtobufTranscoder.decode(body), [])
            } catch {
                throw Status(code: 415, reason: .unsupportedMediaType, message: "error decoding protobuf request body: \(error.message)")
            }
        case "application/json", "application/merge-patch+json", "application/strategic-merge-patch+json",
            "application/json-patch+json", "*/*", "":
            do {
                return try parseJSONNotingDuplicates(body)
            } catch {
                throw Status.badRequest("error decoding request body: \(error.message) (at byte \(error.offset))")
            }
        default:
            throw Status(code: 415, reason: .unsupportedMediaType,
                message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf")
        }
    }

    /// A JSON document and the paths (without the leading dot) of the keys it repeats within one object.
    private static func parseJSONNotingDuplicates(_ body: [UInt8]) throws(JSONParseError) -> (JSONValue, [String]) {
        var parser = JSONParser(body)
        let value = try parser.parseDocument()
        return (value, parser.duplicateKeys.map { String($0.dropFirst()) })
    }

    /// A YAML body; repeated keys are noted only when it is JSON (what kubectl and the client libraries send).
    static func decodeYAML(_ body: [UInt8]) throws(Status) -> (JSONValue, [String]) {
        // JSON is YAML; parse it as JSON when it looks like it, so numbers keep their exact types.
        if let first = body.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }), first == UInt8(ascii: "{") {
            if let parsed = try? parseJSONNotingDuplicates(body) { return parsed }
        }
        let text = String(decoding: body, as: UTF8.self)
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw Status.badRequest("error converting YAML to JSON: \(error)")
        }
        guard let node else { throw Status.badRequest("the request body is empty") }
        return (try jsonValue(from: node, depth: 0), [])
    }

    private static func jsonValue(from node: Node, depth: Int) throws(Status) -> JSONValue {
        if depth > JSONParser.defaultMaxDepth { throw Status.badRequest("error converting YAML to JSON: document nested too deeply") }
        switch node {
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (key, value) in mapping {
                guard let keyText = key.string else { throw Status.badRequest("error converting YAML to JSON: non-string key") }
                object[keyText] = try jsonValue(from: value, depth: depth + 1)
            }
            return .object(object)
        case .sequence(let sequence):
            var items: [JSONValue] = []
            for item in sequence { items.append(try jsonValue(from: item, depth: depth + 1)) }
            return .array(items)
        case .scalar(let scalar):
            if scalar.style != .plain { return .string(scalar.string) }
            switch scalar.string {
            case "null", "Null", "NULL", "~", "": return .null
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            default: break
            }
            if let i = Int64(scalar.string) { return .integer(i) }
            if scalar.string.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let d = Double(scalar.string),
                scalar.string.first.map({ $0.isNumber || $0 == "-" || $0 == "+" || $0 == "." }) ?? false
            {
                return .double(d)
            }
            return .string(scalar.string)
        case .alias:
            throw Status.badRequest("error converting YAML to JSON: aliases are not supported")
        }
    }

    /// A stored object as clients see it: its resourceVersion is the revision of its last write.
    static func decodeStored(_ stored: StoredValue) throws(Status) -> JSONValue {
        var object: JSONValue
        do {
            object = try JSONParser.parse(stored.value)
        } catch {
            throw Status.internalError("stored object \(stored.key) is not valid JSON: \(error)")
        }
        object.resourceVersion = String(stored.modRevision)
        return object
    }

    /// The bytes stored for an object: without a resourceVersion, which the store's revision supplies on read.
    static func encodeForStorage(_ object: JSONValue) -> [UInt8] {
        var copy = object
        copy.setMetadataField("resourceVersion", nil)
        return copy.encoded()
    }
}
