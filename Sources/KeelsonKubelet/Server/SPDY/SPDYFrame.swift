/// The SPDY/3.1 frames Kubernetes' streaming protocols use (kubectl's port-forward, and exec for older clients):
/// streams opened by SYN_STREAM with headers, answered by SYN_REPLY, carrying DATA until each side sends FIN.
enum SPDYFrame: Equatable, Sendable {
    case synStream(streamID: UInt32, headers: [String: String], fin: Bool)
    case synReply(streamID: UInt32, headers: [String: String], fin: Bool)
    case rstStream(streamID: UInt32, status: UInt32)
    case settings
    case ping(id: UInt32)
    case goAway(lastGoodStreamID: UInt32, status: UInt32)
    case headers(streamID: UInt32, headers: [String: String], fin: Bool)
    case windowUpdate(streamID: UInt32, delta: UInt32)
    case data(streamID: UInt32, bytes: [UInt8], fin: Bool)

    static let version: UInt16 = 3
    static let flagFin: UInt8 = 0x01
    /// The largest payload a frame's 24-bit length can say.
    static let maximumLength = (1 << 24) - 1

    /// RST_STREAM status codes used here.
    static let protocolError: UInt32 = 1
    static let cancel: UInt32 = 5
}

/// Turns a connection's bytes into frames and frames into bytes, holding the two header compression streams.
/// One framer belongs to one connection; the bytes may arrive in any split (a WebSocket tunnel carries each of the
/// peer's writes as one message, and Go's framer writes a frame's fields one by one).
final class SPDYFramer {
    struct ProtocolError: Error, CustomStringConvertible {
        var description: String
    }

    private var buffer: [UInt8] = []
    private var start = 0
    private let deflater: SPDYHeaderCompression.Deflater
    private let inflater: SPDYHeaderCompression.Inflater

    init() throws {
        deflater = try SPDYHeaderCompression.Deflater()
        inflater = try SPDYHeaderCompression.Inflater()
    }

    func append<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole frame, nil until its last byte has arrived. Unknown control frame types are skipped, as the
    /// protocol asks.
    func next() throws -> SPDYFrame? {
        // Consumed bytes are dropped only between frames, never under a frame being read.
        if start > 1 << 16 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        while buffer.count - start >= 8 {
            let length = Int(buffer[start + 5]) << 16 | Int(buffer[start + 6]) << 8 | Int(buffer[start + 7])
            guard buffer.count - start >= 8 + length else { return nil }
            let header = start
            let payload = buffer[(start + 8)..<(start + 8 + length)]
            start += 8 + length
            let flags = buffer[header + 4]
            let fin = flags & SPDYFrame.flagFin != 0
            let first = UInt32(buffer[header]) << 24 | UInt32(buffer[header + 1]) << 16 | UInt32(buffer[header + 2]) << 8 | UInt32(buffer[header + 3])
            if first & 0x8000_0000 == 0 {
                return .data(streamID: first, bytes: Array(payload), fin: fin)
            }
            let version = UInt16((first >> 16) & 0x7FFF)
            guard version == SPDYFrame.version else { throw ProtocolError(description: "SPDY version \(version) is not spoken here") }
            if let frame = try control(type: UInt16(first & 0xFFFF), fin: fin, payload: payload) { return frame }
        }
        return nil
    }

    private func control(type: UInt16, fin: Bool, payload: ArraySlice<UInt8>) throws -> SPDYFrame? {
        func word(_ offset: Int) throws -> UInt32 {
            guard payload.count >= offset + 4 else { throw ProtocolError(description: "a control frame of type \(type) is too short") }
            let i = payload.startIndex + offset
            return UInt32(payload[i]) << 24 | UInt32(payload[i + 1]) << 16 | UInt32(payload[i + 2]) << 8 | UInt32(payload[i + 3])
        }
        switch type {
        case 1:
            let id = try word(0) & 0x7FFF_FFFF
            guard payload.count >= 10 else { throw ProtocolError(description: "SYN_STREAM is too short") }
            return .synStream(streamID: id, headers: try headerBlock(payload.dropFirst(10)), fin: fin)
        case 2:
            return .synReply(streamID: try word(0) & 0x7FFF_FFFF, headers: try headerBlock(payload.dropFirst(4)), fin: fin)
        case 3:
            return .rstStream(streamID: try word(0) & 0x7FFF_FFFF, status: try word(4))
        case 4:
            return .settings
        case 6:
            return .ping(id: try word(0))
        case 7:
            return .goAway(lastGoodStreamID: try word(0) & 0x7FFF_FFFF, status: payload.count >= 8 ? try word(4) : 0)
        case 8:
            return .headers(streamID: try word(0) & 0x7FFF_FFFF, headers: try headerBlock(payload.dropFirst(4)), fin: fin)
        case 9:
            return .windowUpdate(streamID: try word(0) & 0x7FFF_FFFF, delta: try word(4) & 0x7FFF_FFFF)
        default:
            return nil
        }
    }

    /// A name/value block: a count, then each name and value with a 32-bit length. Names arrive lowercased;
    /// several values of one name are joined by NUL bytes.
    private func headerBlock(_ compressed: ArraySlice<UInt8>) throws -> [String: String] {
        let block = try inflater.decompress(compressed)
        var offset = 0
        func length() throws -> Int {
            guard block.count >= offset + 4 else { throw ProtocolError(description: "a header block ends early") }
            defer { offset += 4 }
            return Int(block[offset]) << 24 | Int(block[offset + 1]) << 16 | Int(block[offset + 2]) << 8 | Int(block[offset + 3])
        }
        func string() throws -> String {
            let count = try length()
            guard block.count >= offset + count else { throw ProtocolError(description: "a header block ends early") }
            defer { offset += count }
            return String(decoding: block[offset..<(offset + count)], as: UTF8.self)
        }
        var headers: [String: String] = [:]
        for _ in 0..<(try length()) {
            let name = try string()
            headers[name.lowercased()] = try string()
        }
        return headers
    }

    func encode(_ frame: SPDYFrame) throws -> [UInt8] {
        var out: [UInt8] = []
        func put(_ value: UInt32) {
            out += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }
        func control(_ type: UInt16, flags: UInt8, _ payload: [UInt8]) throws {
            guard payload.count <= SPDYFrame.maximumLength else { throw ProtocolError(description: "a frame over 16 MiB") }
            put(0x8000_0000 | UInt32(SPDYFrame.version) << 16 | UInt32(type))
            put(UInt32(flags) << 24 | UInt32(payload.count))
            out += payload
        }
        func words(_ values: UInt32...) -> [UInt8] {
            values.flatMap { [UInt8($0 >> 24), UInt8($0 >> 16 & 0xFF), UInt8($0 >> 8 & 0xFF), UInt8($0 & 0xFF)] }
        }
        func finFlag(_ fin: Bool) -> UInt8 { fin ? SPDYFrame.flagFin : 0 }
        switch frame {
        case .synStream(let id, let headers, let fin):
            // Associated-to stream 0, priority 0, slot 0.
            try control(1, flags: finFlag(fin), words(id, 0) + [0, 0] + (try headerBlock(headers)))
        case .synReply(let id, let headers, let fin):
            try control(2, flags: finFlag(fin), words(id) + (try headerBlock(headers)))
        case .rstStream(let id, let status):
            try control(3, flags: 0, words(id, status))
        case .settings:
            try control(4, flags: 0, words(0))
        case .ping(let id):
            try control(6, flags: 0, words(id))
        case .goAway(let last, let status):
            try control(7, flags: 0, words(last, status))
        case .headers(let id, let headers, let fin):
            try control(8, flags: finFlag(fin), words(id) + (try headerBlock(headers)))
        case .windowUpdate(let id, let delta):
            try control(9, flags: 0, words(id, delta))
        case .data(let id, let bytes, let fin):
            guard bytes.count <= SPDYFrame.maximumLength else { throw ProtocolError(description: "a frame over 16 MiB") }
            put(id & 0x7FFF_FFFF)
            put(UInt32(finFlag(fin)) << 24 | UInt32(bytes.count))
            out += bytes
        }
        return out
    }

    private func headerBlock(_ headers: [String: String]) throws -> [UInt8] {
        var block: [UInt8] = []
        func put(_ count: Int) {
            block += [UInt8(count >> 24 & 0xFF), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
        }
        put(headers.count)
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            put(name.utf8.count)
            block += name.lowercased().utf8
            put(value.utf8.count)
            block += value.utf8
        }
        return try deflater.compress(block)
    }
}
