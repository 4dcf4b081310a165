import Foundation

/// Counters of one network interface, as `/proc/PID/net/dev` reports them for the process's network namespace.
public struct InterfaceStats: Sendable, Equatable {
    public var name: String
    public var rxBytes: UInt64 = 0
    public var rxPackets: UInt64 = 0
    public var rxErrors: UInt64 = 0
    public var rxDropped: UInt64 = 0
    public var txBytes: UInt64 = 0
    public var txPackets: UInt64 = 0
    public var txErrors: UInt64 = 0
    public var txDropped: UInt64 = 0

    public init(name: String) { self.name = name }

    /// The interfaces of `/proc/PID/net/dev` text, loopback left out as cAdvisor does.
    public static func parse(netDev text: String) -> [InterfaceStats] {
        var text = text
        return text.withUTF8 { parse(netDev: UnsafeRawBufferPointer($0)) }
    }

    /// The same from the file's bytes, without a String per line: housekeeping reads it for every pod every round.
    static func parse(netDev bytes: UnsafeRawBufferPointer) -> [InterfaceStats] {
        var out: [InterfaceStats] = []
        var index = 0
        let count = bytes.count
        while index < count {
            let lineStart = index
            while index < count && bytes[index] != 0x0A { index += 1 }
            let lineEnd = index
            index += 1
            // "  NAME: n n n ..." — the two header lines have no colon before their first bar.
            var colon = lineStart
            while colon < lineEnd && bytes[colon] != 0x3A && bytes[colon] != 0x7C { colon += 1 }
            guard colon < lineEnd, bytes[colon] == 0x3A else { continue }
            var nameStart = lineStart
            while nameStart < colon && bytes[nameStart] == 0x20 { nameStart += 1 }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[nameStart..<colon]), as: UTF8.self)
            guard name != "lo" else { continue }
            // 8 receive columns (bytes packets errs drop fifo frame compressed multicast), then 8 transmit ones.
            var fields = (0..<16).map { _ in UInt64(0) }
            var field = -1
            var position = colon + 1
            var inNumber = false
            while position < lineEnd {
                let byte = bytes[position]
                if byte >= 0x30 && byte <= 0x39 {
                    if !inNumber {
                        field += 1
                        inNumber = true
                    }
                    if field < 16 { fields[field] = fields[field] &* 10 &+ UInt64(byte - 0x30) }
                } else {
                    inNumber = false
                }
                position += 1
            }
            guard field >= 15 else { continue }
            var stats = InterfaceStats(name: name)
            stats.rxBytes = fields[0]
            stats.rxPackets = fields[1]
            stats.rxErrors = fields[2]
            stats.rxDropped = fields[3]
            stats.txBytes = fields[8]
            stats.txPackets = fields[9]
            stats.txErrors = fields[10]
            stats.txDropped = fields[11]
            out.append(stats)
        }
        return out
    }

    /// The interfaces of the network namespace `pid` lives in; nil when the process is gone.
    public static func read(pid: Int32, procRoot: String = "/proc", files: OpenFiles? = nil) -> [InterfaceStats]? {
        StatsFile.withContents("\(procRoot)/\(pid)/net/dev", files: files) { parse(netDev: $0) }
    }
}
