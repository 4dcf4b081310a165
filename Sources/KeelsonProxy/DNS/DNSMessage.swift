import NIOCore

/// A DNS message in the wire format of RFC 1035 (with EDNS0's OPT record of RFC 6891): enough of it to answer
/// queries for the cluster's names, to read the answers in tests, and to pass other queries on.
public struct DNSMessage: Sendable, Equatable {
    public var id: UInt16
    public var isResponse = false
    public var opcode: UInt8 = 0
    public var authoritative = false
    public var truncated = false
    public var recursionDesired = false
    public var recursionAvailable = false
    public var responseCode: DNSResponseCode = .noError
    public var questions: [DNSQuestion] = []
    public var answers: [DNSRecord] = []
    public var authority: [DNSRecord] = []
    public var additional: [DNSRecord] = []
    /// The UDP payload size the sender's EDNS0 OPT record advertises; nil without one.
    public var ednsPayloadSize: UInt16?

    public init(id: UInt16) { self.id = id }
}

public struct DNSResponseCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let noError = Self(rawValue: 0)
    public static let formatError = Self(rawValue: 1)
    public static let serverFailure = Self(rawValue: 2)
    public static let nameError = Self(rawValue: 3)
    public static let notImplemented = Self(rawValue: 4)
    public static let refused = Self(rawValue: 5)

    public var description: String {
        switch rawValue {
        case 0: "NOERROR"
        case 1: "FORMERR"
        case 2: "SERVFAIL"
        case 3: "NXDOMAIN"
        case 4: "NOTIMP"
        case 5: "REFUSED"
        default: "RCODE\(rawValue)"
        }
    }
}

public struct DNSRecordType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let a = Self(rawValue: 1)
    public static let ns = Self(rawValue: 2)
    public static let cname = Self(rawValue: 5)
    public static let soa = Self(rawValue: 6)
    public static let ptr = Self(rawValue: 12)
    public static let txt = Self(rawValue: 16)
    public static let aaaa = Self(rawValue: 28)
    public static let srv = Self(rawValue: 33)
    public static let opt = Self(rawValue: 41)
    public static let any = Self(rawValue: 255)

    public var description: String {
        switch self {
        case .a: "A"
        case .ns: "NS"
        case .cname: "CNAME"
        case .soa: "SOA"
        case .ptr: "PTR"
        case .txt: "TXT"
        case .aaaa: "AAAA"
        case .srv: "SRV"
        case .opt: "OPT"
        case .any: "ANY"
        default: "TYPE\(rawValue)"
        }
    }
}

public struct DNSQuestion: Sendable, Equatable {
    /// Dotted, without the root's trailing dot, in the case the asker wrote it.
    public var name: String
    public var type: DNSRecordType
    public var recordClass: UInt16 = 1

    public init(name: String, type: DNSRecordType, recordClass: UInt16 = 1) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
    }
}

public struct DNSRecord: Sendable, Equatable {
    public enum Data: Sendable, Equatable {
        case a(IPv4Address)
        case aaaa([UInt8])
        case cname(String)
        case ptr(String)
        case srv(priority: UInt16, weight: UInt16, port: UInt16, target: String)
        case soa(primary: String, mailbox: String, serial: UInt32, refresh: UInt32, retry: UInt32, expire: UInt32, minimum: UInt32)
        /// Any other type, kept as its bytes (names inside it are not decompressed).
        case other(DNSRecordType, [UInt8])
    }

    public var name: String
    public var ttl: UInt32
    public var data: Data

    public init(name: String, ttl: UInt32, data: Data) {
        self.name = name
        self.ttl = ttl
        self.data = data
    }

    public var type: DNSRecordType {
        switch data {
        case .a: .a
        case .aaaa: .aaaa
        case .cname: .cname
        case .ptr: .ptr
        case .srv: .srv
        case .soa: .soa
        case .other(let type, _): type
        }
    }
}

/// An IPv4 address as the four bytes of the wire, kept in one integer.
public struct IPv4Address: Sendable, Hashable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init?(_ text: some StringProtocol) {
        var value: UInt32 = 0
        var parts = 0
        for part in text.split(separator: ".", omittingEmptySubsequences: false) {
            guard let byte = UInt8(part), part.count <= 3 else { return nil }
            value = value << 8 | UInt32(byte)
            parts += 1
        }
        guard parts == 4 else { return nil }
        self.value = value
    }

    public var bytes: [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
    public var description: String { bytes.map(String.init).joined(separator: ".") }
}

public struct DNSFormatError: Error, CustomStringConvertible {
    public var description: String
}

extension DNSMessage {
    /// Reads a message; a malformed one (truncated, a compression loop, a label too long) is a `DNSFormatError`.
    public init(parsing buffer: ByteBuffer) throws {
        var reader = DNSReader(buffer: buffer)
        guard let id = reader.u16(), let flags = reader.u16(), let questionCount = reader.u16(), let answerCount = reader.u16(),
              let authorityCount = reader.u16(), let additionalCount = reader.u16() else {
            throw DNSFormatError(description: "shorter than a DNS header")
        }
        self.init(id: id)
        isResponse = flags & 0x8000 != 0
        opcode = UInt8(flags >> 11 & 0xf)
        authoritative = flags & 0x0400 != 0
        truncated = flags & 0x0200 != 0
        recursionDesired = flags & 0x0100 != 0
        recursionAvailable = flags & 0x0080 != 0
        responseCode = DNSResponseCode(rawValue: UInt8(flags & 0xf))
        for _ in 0..<questionCount {
            let name = try reader.name()
            guard let type = reader.u16(), let recordClass = reader.u16() else { throw DNSFormatError(description: "question cut short") }
            questions.append(DNSQuestion(name: name, type: DNSRecordType(rawValue: type), recordClass: recordClass))
        }
        answers = try reader.records(Int(answerCount), edns: &ednsPayloadSize)
        authority = try reader.records(Int(authorityCount), edns: &ednsPayloadSize)
        additional = try reader.records(Int(additionalCount), edns: &ednsPayloadSize)
    }

    /// The message's bytes, names compressed. With `limit`, a message that would not fit is sent as its header
    /// and question with the truncation bit set, which tells the asker to ask again over TCP.
    public func encoded(limit: Int? = nil, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var writer = DNSWriter(buffer: allocator.buffer(capacity: 512))
        write(to: &writer, truncated: truncated, sections: true)
        if let limit, writer.buffer.readableBytes > limit {
            writer = DNSWriter(buffer: allocator.buffer(capacity: 512))
            write(to: &writer, truncated: true, sections: false)
        }
        return writer.buffer
    }

    private func write(to writer: inout DNSWriter, truncated: Bool, sections: Bool) {
        var flags: UInt16 = UInt16(opcode & 0xf) << 11 | UInt16(responseCode.rawValue & 0xf)
        if isResponse { flags |= 0x8000 }
        if authoritative { flags |= 0x0400 }
        if truncated { flags |= 0x0200 }
        if recursionDesired { flags |= 0x0100 }
        if recursionAvailable { flags |= 0x0080 }
        let opt = ednsPayloadSize.map { _ in 1 } ?? 0
        writer.u16(id)
        writer.u16(flags)
        writer.u16(UInt16(questions.count))
        writer.u16(sections ? UInt16(answers.count) : 0)
        writer.u16(sections ? UInt16(authority.count) : 0)
        writer.u16(UInt16((sections ? additional.count : 0) + opt))
        for question in questions {
            writer.name(question.name)
            writer.u16(question.type.rawValue)
            writer.u16(question.recordClass)
        }
        if sections {
            for record in answers { writer.record(record) }
            for record in authority { writer.record(record) }
            for record in additional { writer.record(record) }
        }
        if let size = ednsPayloadSize {
            // OPT: the root name, its type, the payload size in the class field, no extended flags, no options.
            writer.buffer.writeInteger(UInt8(0))
            writer.u16(DNSRecordType.opt.rawValue)
            writer.u16(size)
            writer.buffer.writeInteger(UInt32(0))
            writer.u16(0)
        }
    }
}

/// Reads the wire format, following compression pointers (backwards only, so a loop cannot form).
struct DNSReader {
    var buffer: ByteBuffer
    /// The whole message: ByteBuffer's `get` methods see only what is still unread, and pointers lead back.
    let message: ByteBuffer
    let start: Int

    init(buffer: ByteBuffer) {
        self.buffer = buffer
        self.message = buffer
        self.start = buffer.readerIndex
    }

    mutating func u16() -> UInt16? { buffer.readInteger(as: UInt16.self) }
    mutating func u32() -> UInt32? { buffer.readInteger(as: UInt32.self) }

    mutating func name() throws -> String {
        var labels: [String] = []
        var position = buffer.readerIndex
        var resumeAt: Int?
        var length = 0
        while true {
            guard let size = message.getInteger(at: position, as: UInt8.self) else { throw DNSFormatError(description: "name cut short") }
            if size & 0xc0 == 0xc0 {
                guard let pointer = message.getInteger(at: position, as: UInt16.self) else { throw DNSFormatError(description: "name cut short") }
                let target = start + Int(pointer & 0x3fff)
                guard target < position else { throw DNSFormatError(description: "a name's compression pointer points forward") }
                if resumeAt == nil { resumeAt = position + 2 }
                position = target
                continue
            }
            guard size & 0xc0 == 0 else { throw DNSFormatError(description: "unknown label type") }
            if size == 0 {
                position += 1
                break
            }
            guard let bytes = message.getBytes(at: position + 1, length: Int(size)) else { throw DNSFormatError(description: "label cut short") }
            length += Int(size) + 1
            guard length <= 255 else { throw DNSFormatError(description: "name longer than 255 bytes") }
            labels.append(String(decoding: bytes, as: UTF8.self))
            position += 1 + Int(size)
        }
        buffer.moveReaderIndex(to: resumeAt ?? position)
        return labels.joined(separator: ".")
    }

    mutating func records(_ count: Int, edns: inout UInt16?) throws -> [DNSRecord] {
        var records: [DNSRecord] = []
        for _ in 0..<count {
            let name = try name()
            guard let type = u16(), let recordClass = u16(), let ttl = u32(), let length = u16() else {
                throw DNSFormatError(description: "record cut short")
            }
            let dataStart = buffer.readerIndex
            guard buffer.readableBytes >= Int(length) else { throw DNSFormatError(description: "record data cut short") }
            let recordType = DNSRecordType(rawValue: type)
            let data: DNSRecord.Data
            switch recordType {
            case .opt:
                edns = recordClass
                buffer.moveReaderIndex(forwardBy: Int(length))
                continue
            case .a:
                guard length == 4 else { throw DNSFormatError(description: "A record of \(length) bytes") }
                data = .a(IPv4Address(u32()!))
            case .aaaa:
                guard length == 16 else { throw DNSFormatError(description: "AAAA record of \(length) bytes") }
                data = .aaaa(buffer.readBytes(length: 16)!)
            case .cname:
                data = .cname(try self.name())
            case .ptr:
                data = .ptr(try self.name())
            case .srv:
                guard let priority = u16(), let weight = u16(), let port = u16() else { throw DNSFormatError(description: "SRV cut short") }
                data = .srv(priority: priority, weight: weight, port: port, target: try self.name())
            case .soa:
                let primary = try self.name()
                let mailbox = try self.name()
                guard let serial = u32(), let refresh = u32(), let retry = u32(), let expire = u32(), let minimum = u32() else {
                    throw DNSFormatError(description: "SOA cut short")
                }
                data = .soa(primary: primary, mailbox: mailbox, serial: serial, refresh: refresh, retry: retry, expire: expire, minimum: minimum)
            default:
                data = .other(recordType, buffer.readBytes(length: Int(length))!)
            }
            guard buffer.readerIndex == dataStart + Int(length) else { throw DNSFormatError(description: "\(recordType) data of the wrong length") }
            records.append(DNSRecord(name: name, ttl: ttl, data: data))
        }
        return records
    }
}

/// Writes the wire format, compressing each name against the names already written.
struct DNSWriter {
    var buffer: ByteBuffer
    /// Lower-cased name suffixes already in the message, by offset.
    private var offsets: [Substring: Int] = [:]

    init(buffer: ByteBuffer) { self.buffer = buffer }

    mutating func u16(_ value: UInt16) { buffer.writeInteger(value) }

    /// - Parameter compress: false where the name's type forbids compression (SRV targets, RFC 2782).
    mutating func name(_ name: String, compress: Bool = true) {
        var rest = Substring(name.hasSuffix(".") ? String(name.dropLast()) : name)
        while !rest.isEmpty {
            let key = Substring(rest.lowercased())
            if compress, let offset = offsets[key] {
                buffer.writeInteger(UInt16(0xc000) | UInt16(offset))
                return
            }
            if buffer.writerIndex < 0x3fff, offsets[key] == nil { offsets[key] = buffer.writerIndex }
            let label = rest.prefix { $0 != "." }
            let bytes = Array(label.utf8.prefix(63))
            buffer.writeInteger(UInt8(bytes.count))
            buffer.writeBytes(bytes)
            rest = rest.dropFirst(label.count)
            if rest.first == "." { rest = rest.dropFirst() }
        }
        buffer.writeInteger(UInt8(0))
    }

    mutating func record(_ record: DNSRecord) {
        name(record.name)
        u16(record.type.rawValue)
        u16(1)
        buffer.writeInteger(record.ttl)
        let lengthAt = buffer.writerIndex
        u16(0)
        switch record.data {
        case .a(let address): buffer.writeInteger(address.value)
        case .aaaa(let bytes): buffer.writeBytes(bytes)
        case .cname(let target), .ptr(let target): name(target)
        case .srv(let priority, let weight, let port, let target):
            u16(priority)
            u16(weight)
            u16(port)
            name(target, compress: false)
        case .soa(let primary, let mailbox, let serial, let refresh, let retry, let expire, let minimum):
            name(primary)
            name(mailbox)
            for value in [serial, refresh, retry, expire, minimum] { buffer.writeInteger(value) }
        case .other(_, let bytes): buffer.writeBytes(bytes)
        }
        buffer.setInteger(UInt16(buffer.writerIndex - lengthAt - 2), at: lengthAt)
    }
}
