import Foundation

/// Reads a container's log file in the CRI format the runtime writes
/// (`2026-11-28T07:55:28.795503753Z stdout F message`, `P` for a partial line) and renders it as `kubectl logs`
/// shows it, with its options: tailLines, sinceSeconds/sinceTime, timestamps, limitBytes.
struct ContainerLogReader {
    struct Options: Equatable {
        var tailLines: Int?
        var since: Date?
        var timestamps = false
        var limitBytes: Int?
    }

    struct Entry: Equatable {
        var timestamp: String
        var stream: String
        var message: Substring
        var partial: Bool
    }

    /// One line of the file, nil when it is not in the CRI format.
    static func parse(_ line: Substring) -> Entry? {
        let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return nil }
        let message = parts.count == 4 ? parts[3] : ""
        return Entry(timestamp: String(parts[0]), stream: String(parts[1]), message: message, partial: parts[2] == "P")
    }

    /// RFC 3339 with up to nine fraction digits (the runtime trims trailing zeros).
    static func date(_ timestamp: String) -> Date? {
        guard timestamp.count >= 20 else { return nil }
        let base = timestamp.prefix(19)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        guard let seconds = formatter.date(from: base + "Z") else { return nil }
        var fraction = 0.0
        if let dot = timestamp.firstIndex(of: "."), let end = timestamp.lastIndex(where: { $0 == "Z" || $0 == "+" || $0 == "-" }), dot < end {
            fraction = Double("0" + timestamp[dot..<end]) ?? 0
        }
        return seconds.addingTimeInterval(fraction)
    }

    /// Renders the complete lines of `data`; returns the output and how many bytes of `data` were consumed (a
    /// trailing line without its newline waits for the next read).
    static func render(_ data: Data, options: Options, pendingPartial: inout Bool) -> (output: Data, consumed: Int) {
        var output = Data()
        guard let lastNewline = data.lastIndex(of: UInt8(ascii: "\n")) else { return (output, 0) }
        let complete = data[data.startIndex...lastNewline]
        let text = String(decoding: complete, as: UTF8.self)
        var entries: [Entry] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let entry = parse(line) else { continue }
            if let since = options.since, let date = date(entry.timestamp), date < since { continue }
            entries.append(entry)
        }
        if let tail = options.tailLines {
            // Lines are counted as the user sees them: a run of partials and its final entry are one line.
            var kept: [Entry] = []
            var lines = 0
            for entry in entries.reversed() {
                if !entry.partial { lines += 1 }
                if lines > tail { break }
                kept.append(entry)
            }
            entries = kept.reversed()
        }
        for entry in entries {
            if options.timestamps && !pendingPartial { output.append(contentsOf: Array((entry.timestamp + " ").utf8)) }
            output.append(contentsOf: Array(entry.message.utf8))
            if !entry.partial { output.append(UInt8(ascii: "\n")) }
            pendingPartial = entry.partial
        }
        return (output, complete.count)
    }
}
