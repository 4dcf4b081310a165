import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A network namespace of the test's own: loopback, an interface holding a "pod" address and a "node"
/// address, and a route for the service range. Nothing leaves the machine; the namespace is deleted afterwards.
public final class TestNetworkNamespace: @unchecked Sendable {
    public let name = "keelson-proxy-\(UInt32.random(in: 0...UInt32.max))"
    var servers: [Process] = []
    /// The HTTP servers' document folders, removed with the namespace.
    var directories: [URL] = []
    public var prefix: [String] { ["nsenter", "--net=/run/netns/\(name)"] }

    public init() throws {
        try sh("ip netns add \(name)")
        do {
            // A veth pair with both ends inside (this kernel has no dummy interfaces).
            for command in ["link set lo up", "link add node0 type veth peer name node1", "link set node0 up", "link set node1 up",
                            "addr add 10.42.0.5/24 dev node0", "addr add 10.42.0.6/24 dev node0",
                            "addr add 192.168.77.1/24 dev node0", "route add 10.43.0.0/16 dev node0"] {
                try sh("ip -n \(name) " + command)
            }
        } catch {
            try? sh("ip netns del \(name)")
            throw error
        }
    }

    /// An HTTP server answering its own address, inside the namespace.
    public func serve(_ address: String, port: Int) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-proxy-www-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        directories.append(directory)
        try address.write(to: directory.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = ["--net=/run/netns/\(name)", "python3", "-m", "http.server", "--bind", address, "--directory", directory.path, String(port)]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        servers.append(process)
        for _ in 0..<100 where await fetch("http://\(address):\(port)/").body != address {
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// curl inside the namespace (at most 5 s, off the cooperative pool): the body and curl's exit status
    /// (7: connection refused).
    public func fetch(_ url: String) async -> (status: Int32, body: String) {
        let arguments = ["--net=/run/netns/\(name)", "curl", "-s", "--max-time", "5", url]
        guard let output = try? await Command.offPool({ try Command.run("/usr/bin/nsenter", arguments) }) else { return (-1, "") }
        return (output.status, output.stdout)
    }

    public func destroy() {
        for server in servers where server.isRunning {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        try? sh("ip netns del \(name)")
        for directory in directories { try? FileManager.default.removeItem(at: directory) }
    }

    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    private func sh(_ command: String) throws {
        let output = try Command.run("/bin/sh", ["-c", command])
        guard output.status == 0 else { throw Failed(description: "\(command) failed: \(output.stderr)") }
    }
}
