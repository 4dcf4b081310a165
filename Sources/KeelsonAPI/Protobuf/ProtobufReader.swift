/// A failure to read protobuf bytes.
public struct ProtobufError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Reads the protobuf wire format: tagged fields of four wire types.
struct ProtobufReader {
    enum WireValue {
        case varint(UInt64)
        case fixed64(UInt64)
        case bytes(ArraySlice<UInt8>)
        case fixed32(UInt32)

        var isZero: Bool {
            switch self {
            case .varint(let v), .fixed64(let v): return v == 0
            case .fixed32(let v): return v == 0
            case .bytes(let b): return b.isEmpty
            }
        }
    }

    private let bytes: ArraySlice<UInt8>
    private var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    var atEnd: Bool { index >= bytes.endIndex }

    mutating func readVarint() throws(ProtobufError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.endIndex {
            let byte = bytes[index]
            index += 1
            if shift == 63 && byte > 1 { throw ProtobufError("varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw ProtobufError("varint is too long") }
        }
        throw ProtobufError("truncated varint")
    }

    /// The next field: its number and value.
    mutating func next() throws(ProtobufError) -> (number: Int, value: WireValue) {
        let key = try readVarint()
        let number = Int(key >> 3)
        guard number > 0 else { throw ProtobufError("field number 0 is invalid") }
        switch key & 7 {
        case 0:
            return (number, .varint(try readVarint()))
        case 1:
            guard index + 8 <= bytes.endIndex else { throw ProtobufError("truncated fixed64") }
            var value: UInt64 = 0
            for i in 0..<8 { value |= UInt64(bytes[index + i]) << (8 * UInt64(i)) }
            index += 8
            return (number, .fixed64(value))
        case 2:
            let length = try readVarint()
            guard length <= UInt64(bytes.endIndex - index) else { throw ProtobufError("length-delimited field runs past the end") }
            let start = index
            index += Int(length)
            return (number, .bytes(bytes[start..<index]))
        case 5:
            guard index + 4 <= bytes.endIndex else { throw ProtobufError("truncated fixed32") }
            var value: UInt32 = 0
            for i in 0..<4 { value |= UInt32(bytes[index + i]) << (8 * UInt32(i)) }
            index += 4
            return (number, .fixed32(value))
        default:
            throw ProtobufError("unsupported wire type \(key & 7)")
        }
    }
}
