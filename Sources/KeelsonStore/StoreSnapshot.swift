import Crypto
import Foundation

/// A copy of a store's whole keyspace at one revision, in a file that either store can be restored from.
///
/// The file: `KEELSNAP`, a format version (UInt32), a JSON header (length-prefixed), then one record per key (key,
/// value, create revision, modification revision), then `KEELEND!`, the record count and the SHA-256 of everything
/// before the trailer. Integers are little-endian. A truncated or altered file fails its checksum and is refused
/// before anything is restored.
public enum StoreSnapshot {
    public struct Header: Codable, Sendable, Equatable {
        /// The revision the keyspace was read at.
        public var revision: Int64
        /// When the snapshot was taken (RFC 3339).
        public var created: String
        /// The kind of store it was read from (`sqlite`, `etcd`).
        public var source: String
    }

    public struct Contents: Sendable {
        public var header: Header
        public var records: [StoredValue]
    }

    public struct Summary: Sendable, Equatable {
        public var keys: Int
        public var revision: Int64
        public var bytes: Int
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    static let magic = Array("KEELSNAP".utf8)
    static let trailerMagic = Array("KEELEND!".utf8)
    static let version: UInt32 = 1
    /// Every key Keelson writes starts with this (`/registry/…`).
    public static let keyspace = "/"

    // MARK: Save

    /// Reads the whole keyspace at one revision, page by page, into `path` (written beside it first, flushed to
    /// disk, then renamed, so a crash never leaves a half snapshot under the final name).
    public static func save(_ store: any Store, source: String, to path: String, pageSize: Int = 1000) async throws -> Summary {
        let partial = path + ".part"
        guard FileManager.default.createFile(atPath: partial, contents: nil) else {
            throw Invalid(description: "cannot create \(partial)")
        }
        var succeeded = false
        defer { if !succeeded { try? FileManager.default.removeItem(atPath: partial) } }
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: partial))
        defer { try? file.close() }
        var hash = SHA256()
        var size = 0
        func write(_ bytes: [UInt8]) throws {
            hash.update(data: bytes)
            try file.write(contentsOf: bytes)
            size += bytes.count
        }

        var page = try await store.range(prefix: keyspace, at: nil, startAfter: nil, limit: pageSize)
        let header = Header(revision: page.revision, created: ISO8601DateFormatter().string(from: Date()), source: source)
        var buffer = magic
        append(version, to: &buffer)
        let headerJSON = try JSONEncoder().encode(header)
        append(UInt32(headerJSON.count), to: &buffer)
        buffer += headerJSON
        var count = 0
        while true {
            for item in page.items {
                appendBlock(Array(item.key.utf8), to: &buffer)
                appendBlock(item.value, to: &buffer)
                append(UInt64(bitPattern: item.createRevision), to: &buffer)
                append(UInt64(bitPattern: item.modRevision), to: &buffer)
                count += 1
            }
            try write(buffer)
            buffer.removeAll(keepingCapacity: true)
            guard page.more, let last = page.items.last else { break }
            // Every page at the first page's revision: the snapshot is one consistent state.
            page = try await store.range(prefix: keyspace, at: header.revision, startAfter: last.key, limit: pageSize)
        }
        var trailer = trailerMagic
        append(UInt64(count), to: &trailer)
        trailer += Array(hash.finalize())
        try file.write(contentsOf: trailer)
        size += trailer.count
        try file.synchronize()
        try FileManager.default.moveItem(atPath: partial, toPath: path)
        succeeded = true
        return Summary(keys: count, revision: header.revision, bytes: size)
    }

    // MARK: Read

    /// The snapshot's header alone, without checking the file (for listings).
    public static func header(of path: String) throws -> Header {
        let file = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? file.close() }
        let start = Array(try file.read(upToCount: 16) ?? Data())
        guard start.count == 16, Array(start[0..<8]) == magic else { throw Invalid(description: "\(path) is not a Keelson snapshot") }
        let length = Int(UInt32(littleEndianBytes: start[12..<16]))
        let json = try file.read(upToCount: length) ?? Data()
        return try JSONDecoder().decode(Header.self, from: json)
    }

    /// Reads and checks a whole snapshot file.
    public static func read(_ path: String) throws -> Contents {
        guard let data = FileManager.default.contents(atPath: path) else { throw Invalid(description: "cannot read \(path)") }
        return try decode(Array(data), name: path)
    }

    static func decode(_ bytes: [UInt8], name: String) throws -> Contents {
        let trailerSize = trailerMagic.count + 8 + 32
        guard bytes.count >= magic.count + 8 + trailerSize, Array(bytes[0..<magic.count]) == magic else {
            throw Invalid(description: "\(name) is not a Keelson snapshot")
        }
        let body = bytes.count - trailerSize
        guard Array(bytes[body..<(body + trailerMagic.count)]) == trailerMagic,
            Array(SHA256.hash(data: bytes[0..<body])) == Array(bytes[(bytes.count - 32)...])
        else {
            throw Invalid(description: "\(name) is damaged or incomplete (its checksum does not match); nothing was restored")
        }
        var reader = Reader(bytes: bytes[0..<body])
        let version: UInt32 = try reader.integer()
        guard version == Self.version else { throw Invalid(description: "\(name) has snapshot format \(version); this keelson reads \(Self.version)") }
        let header = try JSONDecoder().decode(Header.self, from: Data(try reader.block()))
        var records: [StoredValue] = []
        while !reader.atEnd {
            let key = String(decoding: try reader.block(), as: UTF8.self)
            let value = try reader.block()
            let create = Int64(bitPattern: try reader.integer() as UInt64)
            let mod = Int64(bitPattern: try reader.integer() as UInt64)
            records.append(StoredValue(key: key, value: value, createRevision: create, modRevision: mod))
        }
        let counted = UInt64(littleEndianBytes: bytes[(body + trailerMagic.count)..<(body + trailerMagic.count + 8)])
        guard counted == UInt64(records.count) else {
            throw Invalid(description: "\(name) holds \(records.count) keys but says \(counted)")
        }
        return Contents(header: header, records: records)
    }

    // MARK: Restore

    /// Writes a snapshot's keys into `store`, which must hold none under the keyspace (a fresh etcd, or a fresh
    /// prefix). The store gives the keys new revisions; `ttl` gives keys a time to live again (Events), since a
    /// snapshot does not carry how long a key had left. `SQLiteStore.restore` keeps the snapshot's revisions instead.
    public static func restore(_ contents: Contents, into store: any Store, ttl: @escaping @Sendable (String) -> Duration?,
        concurrency: Int = 32) async throws -> Int
    {
        let existing = try await store.range(prefix: keyspace, at: nil, startAfter: nil, limit: 1)
        if let first = existing.items.first {
            throw Invalid(description: "the datastore is not empty (it holds \(first.key)); restore into an empty one")
        }
        // In creation order, so that objects keep their relative order of revisions.
        let records = contents.records.sorted { $0.modRevision < $1.modRevision }
        var next = 0
        try await withThrowingTaskGroup(of: Void.self) { group in
            func startNext() {
                guard next < records.count else { return }
                let record = records[next]
                next += 1
                group.addTask { _ = try await store.create(record.key, value: record.value, ttl: ttl(record.key)) }
            }
            for _ in 0..<concurrency { startNext() }
            while try await group.next() != nil { startNext() }
        }
        return records.count
    }

    // MARK: Encoding helpers

    static func append<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }

    static func appendBlock(_ bytes: [UInt8], to buffer: inout [UInt8]) {
        append(UInt32(bytes.count), to: &buffer)
        buffer += bytes
    }

    struct Reader {
        let bytes: ArraySlice<UInt8>
        var offset: Int

        init(bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            self.offset = bytes.startIndex + StoreSnapshot.magic.count
        }

        var atEnd: Bool { offset >= bytes.endIndex }

        mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard count >= 0, offset + count <= bytes.endIndex else { throw Invalid(description: "a snapshot record runs past the end of the file") }
            defer { offset += count }
            return bytes[offset..<(offset + count)]
        }

        mutating func integer<T: FixedWidthInteger>() throws -> T {
            T(littleEndianBytes: try take(MemoryLayout<T>.size))
        }

        mutating func block() throws -> [UInt8] {
            let count: UInt32 = try integer()
            return Array(try take(Int(count)))
        }
    }
}

extension FixedWidthInteger {
    init(littleEndianBytes bytes: ArraySlice<UInt8>) {
        var value = Self.zero
        for (shift, byte) in bytes.enumerated() { value |= Self(byte) << (shift * 8) }
        self = value
    }
}
