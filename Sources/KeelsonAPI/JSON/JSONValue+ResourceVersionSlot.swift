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
