#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Finding a byte string inside encoded JSON without decoding it. The standard library's generic search walks a
/// collection element by element through protocol witnesses; these run on the C library's `memchr`/`memcmp`, which
/// matters where every watch event or stored object is scanned.
extension Array where Element == UInt8 {
    /// The index where `needle` first starts, or nil.
    public func firstIndex(ofBytes needle: [UInt8]) -> Int? {
        withUnsafeBytes { ByteSearch.firstOffset(of: needle, in: $0) }
    }

    public func contains(bytes needle: [UInt8]) -> Bool {
        firstIndex(ofBytes: needle) != nil
    }
}

extension ArraySlice where Element == UInt8 {
    /// The index (in the slice's own indices) where `needle` first starts, or nil.
    public func firstIndex(ofBytes needle: [UInt8]) -> Int? {
        withUnsafeBytes { ByteSearch.firstOffset(of: needle, in: $0) }.map { startIndex + $0 }
    }

    public func contains(bytes needle: [UInt8]) -> Bool {
        firstIndex(ofBytes: needle) != nil
    }
}

enum ByteSearch {
    static func firstOffset(of needle: [UInt8], in haystack: UnsafeRawBufferPointer) -> Int? {
        guard let first = needle.first else { return 0 }
        guard let base = haystack.baseAddress, haystack.count >= needle.count else { return nil }
        return needle.withUnsafeBytes { needleBytes -> Int? in
            let rest = needleBytes.baseAddress! + 1
            let restCount = needle.count - 1
            var offset = 0
            let lastStart = haystack.count - needle.count
            while offset <= lastStart {
                guard let hit = memchr(base + offset, Int32(first), lastStart - offset + 1) else { return nil }
                let at = base.distance(to: UnsafeRawPointer(hit))
                if restCount == 0 || memcmp(base + at + 1, rest, restCount) == 0 { return at }
                offset = at + 1
            }
            return nil
        }
    }
}
