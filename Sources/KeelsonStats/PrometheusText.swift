import Foundation

/// Prometheus text exposition (format 0.0.4). Samples may be added in any order; `text` groups each family's under
/// its one HELP and TYPE, as the format requires. The figures are read from the history at scrape time, as
/// cAdvisor's collector does, rather than mirrored into instruments.
struct PrometheusText {
    enum Kind: String { case counter, gauge }

    private struct Family {
        var header: String
        var lines = ""
    }

    private var families: [String: Family] = [:]
    private var order: [String] = []

    mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        guard families[name] == nil else { return }
        families[name] = Family(header: "# HELP \(name) \(help)\n# TYPE \(name) \(kind.rawValue)\n")
        order.append(name)
    }

    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Double, at time: Date? = nil) {
        sample(name, labels.map { ($0.key, $0.value) }, value, at: time)
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double, at time: Date? = nil) {
        if families[name] == nil { family(name, .gauge, name) }
        var line = name
        if !labels.isEmpty {
            line += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        line += " " + Self.format(value)
        if let time { line += " \(Int64((time.timeIntervalSince1970 * 1000).rounded()))" }
        families[name]!.lines += line + "\n"
    }

    var text: String { order.map { families[$0]!.header + families[$0]!.lines }.joined() }

    static func escape(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        return value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
