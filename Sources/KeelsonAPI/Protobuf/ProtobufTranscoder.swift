import Foundation

/// Turns a Kubernetes protobuf body (`application/vnd.kubernetes.protobuf`) into the JSON object the API server
/// works on, so protobuf clients need no separate path through the server.
///
/// The envelope is the four bytes `k8s\0` and a `runtime.Unknown` (typeMeta = 1, raw = 2, contentEncoding = 3,
/// contentType = 4); `raw` is the object's own message. Go's encoder writes non-pointer fields even when they hold
/// their zero value; JSON omits those, so zero scalars of non-pointer fields are dropped here as well.
public enum ProtobufTranscoder {
    static let magic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]
    /// Go's zero `time.Time` as Unix seconds, what an unset non-pointer `metav1.Time` encodes to.
    static let zeroTimeSeconds: Int64 = -62_135_596_800

    public static func decode(_ body: [UInt8]) throws(ProtobufError) -> JSONValue {
        guard body.count >= 4, Array(body.prefix(4)) == magic else {
            throw ProtobufError("the body does not start with the Kubernetes protobuf magic number")
        }
        var reader = ProtobufReader(body[4...])
        var apiVersion = ""
        var kind = ""
        var raw: ArraySlice<UInt8> = []
        var contentEncoding = ""
        while !reader.atEnd {
            let (number, value) = try reader.next()
            switch (number, value) {
            case (1, .bytes(let typeMeta)):
                var meta = ProtobufReader(typeMeta)
                while !meta.atEnd {
                    let (n, v) = try meta.next()
                    if case .bytes(let b) = v {
                        if n == 1 { apiVersion = String(decoding: b, as: UTF8.self) }
                        if n == 2 { kind = String(decoding: b, as: UTF8.self) }
                    }
                }
            case (2, .bytes(let bytes)): raw = bytes
            case (3, .bytes(let bytes)): contentEncoding = String(decoding: bytes, as: UTF8.self)
            default: continue
            }
        }
        guard contentEncoding.isEmpty else { throw ProtobufError("content encoding \(contentEncoding) is not supported") }
        guard let root = KubernetesProtobufSchema.roots["\(apiVersion)/\(kind)"] else {
            throw ProtobufError("protobuf bodies of \(apiVersion.isEmpty ? "" : apiVersion + ", ")kind \(kind) are not supported; send application/json")
        }
        var object = try decodeMessage(raw, type: root, path: kind)
        if case .object(var members) = object {
            if !apiVersion.isEmpty && kind != "DeleteOptions" { members["apiVersion"] = .string(apiVersion) }
            if !kind.isEmpty && kind != "DeleteOptions" { members["kind"] = .string(kind) }
            object = .object(members)
        }
        return object
    }

    static func decodeMessage(_ bytes: ArraySlice<UInt8>, type: String, path: String) throws(ProtobufError) -> JSONValue {
        guard let schema = KubernetesProtobufSchema.messages[type] else {
            throw ProtobufError("protobuf message \(type) at \(path) is not supported; send application/json")
        }
        var members: [String: JSONValue] = [:]
        var reader = ProtobufReader(bytes)
        while !reader.atEnd {
            let (number, value) = try reader.next()
            guard let field = schema.fields[number] else {
                // A zero value of a field we do not know is Go writing its default: nothing was set.
                if value.isZero { continue }
                throw ProtobufError("field \(number) of protobuf message \(type) at \(path) is not supported; send application/json")
            }
            let fieldPath = field.inline ? path : "\(path).\(field.name)"
            if field.inline {
                guard case .message(let inner) = field.type, case .bytes(let b) = value else {
                    throw ProtobufError("malformed embedded message at \(path)")
                }
                if case .object(let embedded) = try decodeMessage(b, type: inner, path: path) {
                    members.merge(embedded) { _, new in new }
                }
                continue
            }
            if field.map {
                guard case .bytes(let entry) = value else { throw ProtobufError("malformed map entry at \(fieldPath)") }
                let (key, mapValue) = try decodeMapEntry(entry, valueType: field.type, path: fieldPath)
                var map = members[field.name]?.objectValue ?? [:]
                map[key] = mapValue
                members[field.name] = .object(map)
                continue
            }
            guard let decoded = try decodeValue(value, field: field, path: fieldPath) else { continue }
            if field.repeated {
                var items = members[field.name]?.arrayValue ?? []
                items.append(decoded)
                members[field.name] = .array(items)
            } else {
                members[field.name] = decoded
            }
        }
        return .object(members)
    }

    private static func decodeMapEntry(_ bytes: ArraySlice<UInt8>, valueType: ProtobufMessage.FieldType, path: String)
        throws(ProtobufError) -> (String, JSONValue)
    {
        var reader = ProtobufReader(bytes)
        var key = ""
        var value: JSONValue?
        while !reader.atEnd {
            let (number, wire) = try reader.next()
            if number == 1, case .bytes(let b) = wire {
                key = String(decoding: b, as: UTF8.self)
            } else if number == 2 {
                let field = ProtobufMessage.Field(number: 2, name: key, type: valueType, pointer: true)
                value = try decodeValue(wire, field: field, path: "\(path)[\(key)]")
            }
        }
        // An absent value is the type's zero value.
        switch valueType {
        case .string, .bytes, .quantity: return (key, value ?? .string(""))
        default: return (key, value ?? .object([:]))
        }
    }

    /// The JSON value of one field, or nil when Go's encoder wrote a default that JSON omits.
    private static func decodeValue(_ value: ProtobufReader.WireValue, field: ProtobufMessage.Field, path: String)
        throws(ProtobufError) -> JSONValue?
    {
        switch (field.type, value) {
        case (.string, .bytes(let b)):
            if b.isEmpty && !field.pointer && !field.repeated { return nil }
            return .string(String(decoding: b, as: UTF8.self))
        case (.bytes, .bytes(let b)):
            return .string(Data(b).base64EncodedString())
        case (.bool, .varint(let v)):
            if v == 0 && !field.pointer { return nil }
            return .bool(v != 0)
        case (.int32, .varint(let v)):
            let n = Int64(Int32(truncatingIfNeeded: v))
            if n == 0 && !field.pointer { return nil }
            return .integer(n)
        case (.int64, .varint(let v)):
            let n = Int64(bitPattern: v)
            if n == 0 && !field.pointer { return nil }
            return .integer(n)
        case (.message(let type), .bytes(let b)):
            return try decodeMessage(b, type: type, path: path)
        case (.quantity, .bytes(let b)):
            var reader = ProtobufReader(b)
            var text = ""
            while !reader.atEnd {
                let (n, v) = try reader.next()
                if n == 1, case .bytes(let s) = v { text = String(decoding: s, as: UTF8.self) }
            }
            return .string(text)
        case (.time, .bytes(let b)), (.microTime, .bytes(let b)):
            var reader = ProtobufReader(b)
            var seconds: Int64 = 0
            var nanos: Int64 = 0
            while !reader.atEnd {
                let (n, v) = try reader.next()
                if case .varint(let x) = v {
                    if n == 1 { seconds = Int64(bitPattern: x) }
                    if n == 2 { nanos = Int64(Int32(truncatingIfNeeded: x)) }
                }
            }
            if seconds <= zeroTimeSeconds || (seconds == 0 && nanos == 0) { return nil }
            let date = Date(timeIntervalSince1970: Double(seconds) + Double(nanos) / 1e9)
            if case .microTime = field.type { return .string(Timestamp.formatMicro(date)) }
            return .string(Timestamp.format(date))
        case (.intOrString, .bytes(let b)):
            var reader = ProtobufReader(b)
            var type: UInt64 = 0
            var intValue: Int64 = 0
            var stringValue = ""
            while !reader.atEnd {
                let (n, v) = try reader.next()
                switch (n, v) {
                case (1, .varint(let x)): type = x
                case (2, .varint(let x)): intValue = Int64(Int32(truncatingIfNeeded: x))
                case (3, .bytes(let s)): stringValue = String(decoding: s, as: UTF8.self)
                default: continue
                }
            }
            return type == 1 ? .string(stringValue) : .integer(intValue)
        case (.rawJSON, .bytes(let b)):
            var reader = ProtobufReader(b)
            while !reader.atEnd {
                let (n, v) = try reader.next()
                if n == 1, case .bytes(let raw) = v, !raw.isEmpty {
                    do {
                        return try JSONParser.parse(Array(raw))
                    } catch {
                        throw ProtobufError("\(path) does not hold JSON: \(error)")
                    }
                }
            }
            return nil
        default:
            throw ProtobufError("field \(path) has the wrong protobuf wire type")
        }
    }
}
