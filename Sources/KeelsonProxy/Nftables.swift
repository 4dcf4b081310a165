import Foundation
import KeelsonAPI

/// Runs `nft`, optionally inside another network namespace (the command prefix, e.g.
/// `nsenter --net=/run/netns/NAME`, for tests).
public struct Nftables: Sendable {
    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    public var prefix: [String]

    public init(prefix: [String] = []) {
        self.prefix = prefix
    }

    /// Applies the commands as one transaction: all of them or none. They go through a file: at 10,000 services a
    /// full sync is megabytes, which a pipe would carry in small pieces with a context switch each.
    public func apply(_ commands: [String]) throws {
        let text = commands.joined(separator: "\n") + "\n"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-nft-\(UUID().uuidString).nft").path
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw Failed(description: "cannot write the nft transaction to \(path)")
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try SystemCommand.run(prefix + ["nft", "-f", path])
        if result.status != 0 {
            throw Failed(description: "nft -f failed (\(result.status)): " + String(result.stderr.prefix(2000)) + Self.quote(text, errors: result.stderr, path: path))
        }
    }

    /// The input line nft's first error names (`FILE:LINE:COLUMNS: Error: …`), which its own message shows only
    /// in part.
    static func quote(_ text: String, errors: String, path: String) -> String {
        guard let range = errors.range(of: path + ":"), let line = Int(errors[range.upperBound...].prefix { $0.isNumber }), line > 0
        else { return "" }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return line <= lines.count ? " (line \(line): \(lines[line - 1].prefix(300)))" : ""
    }

    /// Lets traffic to 127.0.0.1 be DNATed to pods (node ports on localhost), as the iptables mode does.
    public func enableRouteLocalnet() throws {
        let result = try SystemCommand.run(prefix + ["sysctl", "-q", "-w", "net.ipv4.conf.all.route_localnet=1"])
        if result.status != 0 { throw Failed(description: "sysctl route_localnet failed: \(result.stderr)") }
    }

    /// Removes the proxy's table (`keelson proxy --cleanup`); nothing else is Keelson's in nftables.
    public func cleanup() throws {
        // Listing would fetch every element first (seconds at 10,000 services); a missing table is no error here.
        let result = try SystemCommand.run(prefix + ["nft", "delete", "table", "ip", NftablesRules.table])
        if result.status != 0 && !result.stderr.contains("No such file or directory") {
            throw Failed(description: "nft delete table failed (\(result.status)): \(result.stderr)")
        }
    }

    public func exists() throws -> Bool {
        // The table names only: listing the table itself would print every element.
        let tables = try SystemCommand.run(prefix + ["nft", "list", "tables", "ip"]).stdout
        return tables.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces) == "table ip \(NftablesRules.table)" }
    }

    /// The table as `nft list` prints it.
    public func list() throws -> String {
        try SystemCommand.run(prefix + ["nft", "list", "table", "ip", NftablesRules.table]).stdout
    }
}
