/// Writes protobuf wire format: enough for the few messages the server answers in protobuf (the OpenAPI v2
/// document kubectl 1.27/1.28 fetch). Fields are written in the order given; zero values are the caller's to skip.
public struct ProtobufWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func tag(_ field: Int, wireType: UInt64) {
        varint(UInt64(field) << 3 | wireType)
    }

    public mutating func string(_ field: Int, _ value: String) {
        bytesField(field, Array(value.utf8))
    }

    public mutating func bool(_ field: Int, _ value: Bool) {
        tag(field, wireType: 0)
        varint(value ? 1 : 0)
    }

    public mutating func bytesField(_ field: Int, _ value: [UInt8]) {
        tag(field, wireType: 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// An embedded message, written by `body` into its own writer.
    public mutating func message(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        body(&inner)
        bytesField(field, inner.bytes)
    }
}
