import CZlib

/// SPDY/3 header blocks are zlib streams primed with a fixed dictionary: one stream per direction for the whole
/// connection, each block ended with a sync flush, so a block can only be read after every block before it.
enum SPDYHeaderCompression {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The dictionary of SPDY/3 (draft 3, section 2.6.10.1): the words below, each preceded by its length as a
    /// 32-bit big-endian integer, then a run of common values without lengths.
    static let dictionary: [UInt8] = {
        let words = [
            "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
            "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
            "content-base", "content-encoding", "content-language", "content-length", "content-location", "content-md5",
            "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host", "if-match",
            "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
            "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after",
            "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
            "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public",
            "set-cookie", "keep-alive", "origin",
        ]
        let values = "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
            + "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
            + "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
            + "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
            + "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
            + "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
        var bytes: [UInt8] = []
        for word in words {
            let count = UInt32(word.utf8.count)
            bytes += [UInt8(count >> 24), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
            bytes += word.utf8
        }
        return bytes + Array(values.utf8)
    }()

    /// Compresses the blocks this side sends.
    final class Deflater {
        private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)

        init() throws {
            stream.initialize(to: z_stream())
            guard czlib_deflate_init(stream, Z_DEFAULT_COMPRESSION) == Z_OK else {
                stream.deallocate()
                throw Failure(description: "zlib refused to start a header compressor")
            }
            let status = dictionary.withUnsafeBufferPointer { deflateSetDictionary(stream, $0.baseAddress, uInt($0.count)) }
            guard status == Z_OK else {
                deflateEnd(stream)
                stream.deallocate()
                throw Failure(description: "zlib refused the SPDY header dictionary (\(status))")
            }
        }

        deinit {
            deflateEnd(stream)
            stream.deallocate()
        }

        func compress(_ input: [UInt8]) throws -> [UInt8] {
            var output: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            try input.withUnsafeBufferPointer { inputBuffer in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: inputBuffer.baseAddress)
                stream.pointee.avail_in = uInt(inputBuffer.count)
                repeat {
                    let (status, produced) = chunk.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                        stream.pointee.next_out = out.baseAddress
                        stream.pointee.avail_out = uInt(out.count)
                        let status = deflate(stream, Z_SYNC_FLUSH)
                        return (status, out.count - Int(stream.pointee.avail_out))
                    }
                    guard status == Z_OK || status == Z_BUF_ERROR else {
                        throw Failure(description: "zlib failed to compress a header block (\(status))")
                    }
                    output += chunk[0..<produced]
                } while stream.pointee.avail_out == 0
                stream.pointee.next_in = nil
            }
            return output
        }
    }

    /// Decompresses the blocks the peer sends.
    final class Inflater {
        private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        /// Header blocks beyond this are refused: a peer could otherwise make a small frame expand without bound.
        static let maximumBlock = 1 << 20

        init() throws {
            stream.initialize(to: z_stream())
            guard czlib_inflate_init(stream) == Z_OK else {
                stream.deallocate()
                throw Failure(description: "zlib refused to start a header decompressor")
            }
        }

        deinit {
            inflateEnd(stream)
            stream.deallocate()
        }

        func decompress(_ input: ArraySlice<UInt8>) throws -> [UInt8] {
            var output: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            try input.withUnsafeBufferPointer { inputBuffer in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: inputBuffer.baseAddress)
                stream.pointee.avail_in = uInt(inputBuffer.count)
                defer { stream.pointee.next_in = nil }
                while true {
                    let (status, produced) = chunk.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                        stream.pointee.next_out = out.baseAddress
                        stream.pointee.avail_out = uInt(out.count)
                        let status = inflate(stream, Z_SYNC_FLUSH)
                        return (status, out.count - Int(stream.pointee.avail_out))
                    }
                    output += chunk[0..<produced]
                    guard output.count <= Self.maximumBlock else { throw Failure(description: "a header block is over 1 MiB") }
                    switch status {
                    case Z_NEED_DICT:
                        let set = dictionary.withUnsafeBufferPointer { inflateSetDictionary(stream, $0.baseAddress, uInt($0.count)) }
                        guard set == Z_OK else { throw Failure(description: "the peer's header block needs another dictionary") }
                    case Z_OK:
                        if stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0 { return }
                    case Z_BUF_ERROR where stream.pointee.avail_in == 0:
                        return
                    default:
                        throw Failure(description: "a header block is not valid zlib data (\(status))")
                    }
                }
            }
            return output
        }
    }
}
