/// The stored form of an object and the place its resourceVersion goes, so the answer to a write is the stored
/// bytes with the new revision spliced in instead of a second encoding of the whole object.
public struct EncodedObject: Sendable {
    /// The object without `metadata.resourceVersion`, as it is stored.
    public var bytes: [UInt8]
    private var slot: Int
    /// Whether the spliced pair needs a comma before it (a key precedes it) or after it (it comes first and a key follows).
    private var leadingComma: Bool
    private var trailingComma: Bool

    /// Encodes `object` (an object with a `metadata` object and no resourceVersion in it), remembering where
    /// `"resourceVersion"` sorts among the metadata keys. Nil for any other shape.
    public init?(_ object: JSONValue) {
        guard case .object(let members) = object, case .object(let metadata)? = members["metadata"],
            metadata["resourceVersion"] == nil
        else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(512)
        out.append(UInt8(ascii: "{"))
        var slot = -1
        var leadingComma = false
        var trailingComma = false
        var first = true
        for key in members.keys.sorted() {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            JSONValue.writeString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            guard key == "metadata" else {
                members[key]!.write(to: &out)
                continue
            }
            out.append(UInt8(ascii: "{"))
            var firstMeta = true
            for metaKey in metadata.keys.sorted() {
                if slot < 0 && metaKey > "resourceVersion" {
                    // Here the next bytes are `,"key"` (or `"key"` for the first key).
                    slot = out.count
                    leadingComma = !firstMeta
                    trailingComma = firstMeta
                }
                if !firstMeta { out.append(UInt8(ascii: ",")) }
                firstMeta = false
                JSONValue.writeString(metaKey, to: &out)
                out.append(UInt8(ascii: ":"))
                metadata[metaKey]!.write(to: &out)
            }
            if slot < 0 {
                slot = out.count
                leadingComma = !firstMeta
                trailingComma = false
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "}"))
        self.bytes = out
        self.slot = slot
        self.leadingComma = leadingComma
        self.trailingComma = trailingComma
    }

    /// The object's encoding with `metadata.resourceVersion` set to `resourceVersion`, byte for byte what
    /// encoding the object with that field would give.
    public func with(resourceVersion: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + resourceVersion.utf8.count + 24)
        out.append(contentsOf: bytes[..<slot])
        if leadingComma { out.append(UInt8(ascii: ",")) }
        JSONValue.writeString("resourceVersion", to: &out)
        out.append(UInt8(ascii: ":"))
        JSONValue.writeString(resourceVersion, to: &out)
        if trailingComma { out.append(UInt8(ascii: ",")) }
        out.append(contentsOf: bytes[slot...])
        return out
    }
}

extension EncodedObject {
    /// The slot found in bytes this encoder wrote (compact, keys sorted) without decoding them: a watch sends every
    /// stored object with its revision, and finding where it goes costs a scan of the keys before `metadata` and
    /// of the metadata keys, where decoding and encoding again cost the whole object. Nil when the bytes are not
    /// as the encoder writes them where the slot is sought (another shape, space between keys and values, unsorted
    /// or escaped metadata keys, a resourceVersion already there), so a caller falls back to decoding.
    public init?(encoded bytes: [UInt8]) {
        var scanner = JSONParser(bytes)
        guard let (slot, leadingComma, trailingComma) = scanner.resourceVersionSlot() else { return nil }
        self.bytes = bytes
        self.slot = slot
        self.leadingComma = leadingComma
        self.trailingComma = trailingComma
    }
}

/// Walking compact JSON as `JSONValue.encoded()` writes it, with the parser's checked skipping for the values passed.
extension JSONParser {
    private static let metadata = Array("metadata".utf8)
    private static let resourceVersion = Array("resourceVersion".utf8)

    fileprivate mutating func resourceVersionSlot() -> (Int, Bool, Bool)? {
        guard take(UInt8(ascii: "{")) else { return nil }
        var first = true
        while index < bytes.count, bytes[index] != UInt8(ascii: "}") {
            if !first { guard take(UInt8(ascii: ",")) else { return nil } }
            first = false
            guard let key = plainKey(), take(UInt8(ascii: ":")) else { return nil }
            if key.elementsEqual(Self.metadata) { return metadataSlot() }
            guard (try? skipValue(depth: 0)) != nil else { return nil }
        }
        return nil
    }

    private mutating func metadataSlot() -> (Int, Bool, Bool)? {
        guard take(UInt8(ascii: "{")) else { return nil }
        var first = true
        var previous: ArraySlice<UInt8>?
        var slot: (Int, Bool, Bool)?
        while index < bytes.count, bytes[index] != UInt8(ascii: "}") {
            let start = index
            if !first { guard take(UInt8(ascii: ",")) else { return nil } }
            guard let key = plainKey(), take(UInt8(ascii: ":")) else { return nil }
            if let previous, !previous.lexicographicallyPrecedes(key) { return nil }
            if key.elementsEqual(Self.resourceVersion) { return nil }
            if slot == nil && Self.resourceVersion.lexicographicallyPrecedes(key) { slot = (start, !first, first) }
            previous = key
            first = false
            guard (try? skipValue(depth: 0)) != nil else { return nil }
        }
        guard index < bytes.count else { return nil }
        return slot ?? (index, !first, false)
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// A key of plain ASCII without escapes (every field name of metadata), or nil.
    private mutating func plainKey() -> ArraySlice<UInt8>? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return bytes[start..<(index - 1)]
            }
            if byte == UInt8(ascii: "\\") || byte >= 0x80 || byte < 0x20 { return nil }
            index += 1
        }
        return nil
    }
}
