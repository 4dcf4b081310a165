/// A lossless JSON document: the server's representation of every object it stores.
///
/// Integral numbers stay `Int64` and all others `Double`, as Go's unstructured decoding does, so a value a client
/// sent comes back with the same JSON type. Objects keep every key (unknown fields included); encoding sorts keys,
/// which is also what kube-apiserver's unstructured encoder produces.
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

extension JSONValue {
    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// Integer value; a double with no fraction counts too (YAML and some clients write `3.0`).
    public var intValue: Int64? {
        switch self {
        case .integer(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e18: return Int64(d)
        default: return nil
        }
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Member lookup that answers `nil` for non-objects, so paths can be chained: `obj["metadata"]?["name"]`.
    public subscript(key: String) -> JSONValue? {
        get {
            if case .object(let o) = self { return o[key] }
            return nil
        }
        set {
            guard case .object(var o) = self else { return }
            // Drop this enum's reference first, so the dictionary is uniquely held and mutates in place.
            self = .null
            o[key] = newValue
            self = .object(o)
        }
    }

    /// The value at a path of object keys, or nil when any step is missing or not an object.
    public func value(at path: [String]) -> JSONValue? {
        var current = self
        for key in path {
            guard let next = current[key] else { return nil }
            current = next
        }
        return current
    }

    /// Sets the value at a path of object keys, creating intermediate objects as needed.
    public mutating func setValue(_ value: JSONValue?, at path: [String]) {
        setValue(value, at: path[...])
    }

    private mutating func setValue(_ value: JSONValue?, at path: ArraySlice<String>) {
        guard let first = path.first else {
            if let value { self = value }
            return
        }
        guard case .object(var o) = self else {
            if value == nil { return }
            self = .object([:])
            setValue(value, at: path)
            return
        }
        // Take the dictionary and the child out of their containers so both mutate in place (no copy-on-write).
        self = .null
        if path.count == 1 {
            o[first] = value
        } else {
            var child = o.removeValue(forKey: first) ?? .object([:])
            if case .object = child {} else { child = .object([:]) }
            child.setValue(value, at: path.dropFirst())
            o[first] = child
        }
        self = .object(o)
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
    public init(floatLiteral value: Double) { self = .double(value) }
}
