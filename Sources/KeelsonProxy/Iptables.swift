import Foundation
import KeelsonAPI

/// Runs `iptables-restore`, `iptables` and `iptables-save`, optionally inside another network namespace (the
/// command prefix, e.g. `nsenter --net=/run/netns/NAME`, for tests).
public struct Iptables: Sendable {
    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    public var prefix: [String]

    public init(prefix: [String] = []) {
        self.prefix = prefix
    }

    /// The rules Keelson puts in the built-in chains, as kube-proxy installs them (table, chain, rule): the jumps
    /// into its own chains, and the localnet guard.
    static let jumps: [(String, String, [String])] = [
        ("nat", "PREROUTING", ["-m", "comment", "--comment", "keelson service portals", "-j", "KEEL-SERVICES"]),
        ("nat", "OUTPUT", ["-m", "comment", "--comment", "keelson service portals", "-j", "KEEL-SERVICES"]),
        ("nat", "POSTROUTING", ["-m", "comment", "--comment", "keelson postrouting rules", "-j", "KEEL-POSTROUTING"]),
        ("filter", "INPUT", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "keelson externally-visible service portals", "-j", "KEEL-EXTERNAL-SERVICES"]),
        ("filter", "FORWARD", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "keelson service portals", "-j", "KEEL-SERVICES"]),
        ("filter", "OUTPUT", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "keelson service portals", "-j", "KEEL-SERVICES"]),
        ("filter", "FORWARD", ["-m", "comment", "--comment", "keelson forwarding rules", "-j", "KEEL-FORWARD"]),
        // NodePorts answer on 127.0.0.1, which needs route_localnet; this keeps other hosts from using it to reach the
        // node's loopback-only services (kube-proxy's guard against CVE-2020-8558).
        ("filter", "INPUT", ["!", "-s", "127.0.0.0/8", "-d", "127.0.0.0/8", "-m", "comment", "--comment", "keelson: block incoming localnet connections",
            "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"]),
    ]

    /// Creates Keelson's top-level chains and the jumps into them, once at start (a sync never calls iptables
    /// per rule: it is one `iptables-restore`).
    public func ensureJumps() throws {
        var declarations = "*filter\n"
        for chain in IptablesRules.filterChains { declarations += ":\(chain) - [0:0]\n" }
        declarations += "COMMIT\n*nat\n"
        for chain in IptablesRules.natChains { declarations += ":\(chain) - [0:0]\n" }
        declarations += "COMMIT\n"
        try restore(declarations)
        // Traffic to 127.0.0.1:NODEPORT is DNATed to a pod and leaves through the bridge, which the kernel allows
        // only with route_localnet (it is masqueraded on the way out).
        try run("sysctl", ["-q", "-w", "net.ipv4.conf.all.route_localnet=1"])
        for (table, chain, rule) in Self.jumps {
            if try run("iptables", ["-w", "-t", table, "-C", chain] + rule, allowFailure: true).status != 0 {
                _ = try run("iptables", ["-w", "-t", table, "-I", chain, "1"] + rule)
            }
        }
    }

    /// Applies rules atomically, leaving chains the text does not mention untouched.
    public func restore(_ text: String) throws {
        _ = try run("iptables-restore", ["-w", "--noflush"], input: text)
    }

    /// Removes every jump into Keelson's chains and the chains themselves (`keelson proxy --cleanup`).
    public func cleanup() throws {
        for (table, chain, rule) in Self.jumps {
            while try run("iptables", ["-w", "-t", table, "-D", chain] + rule, allowFailure: true).status == 0 {}
        }
        for table in ["nat", "filter"] {
            let chains = try keelsonChains(table: table)
            guard !chains.isEmpty else { continue }
            var text = "*\(table)\n"
            for chain in chains { text += ":\(chain) - [0:0]\n" }
            for chain in chains { text += "-X \(chain)\n" }
            text += "COMMIT\n"
            try restore(text)
        }
    }

    /// The `KEEL-…` chains that exist in a table.
    public func keelsonChains(table: String) throws -> [String] {
        let saved = try run("iptables-save", ["-t", table]).output
        return saved.split(separator: "\n").compactMap { line in
            guard line.hasPrefix(":KEEL-") else { return nil }
            return String(line.dropFirst().split(separator: " ").first ?? "")
        }
    }

    public func save(table: String) throws -> String {
        try run("iptables-save", ["-t", table]).output
    }

    @discardableResult
    func run(_ command: String, _ arguments: [String], input: String? = nil, allowFailure: Bool = false) throws -> (status: Int32, output: String) {
        let result = try SystemCommand.run(prefix + [command] + arguments, input: input)
        if result.status != 0 && !allowFailure {
            throw Failed(description: "\(command) \(arguments.prefix(4).joined(separator: " ")) failed (\(result.status)): " + result.stderr)
        }
        return (result.status, result.stdout)
    }
}
