import Foundation
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A real etcd (the `etcd` binary of Debian's etcd-server) started for one test on free loopback ports, with its
/// data in a temporary directory; `stop()` kills it and removes the data.
public final class EtcdServer: Sendable {
    public let clientPort: Int
    /// The certificates etcd serves and requires clients to present, when started with TLS.
    public let certificates: TestCertificates?
    let arguments: [String]
    let current: Mutex<Process>
    let directory: URL

    private init(clientPort: Int, arguments: [String], process: Process, directory: URL, certificates: TestCertificates? = nil) {
        self.clientPort = clientPort
        self.certificates = certificates
        self.arguments = arguments
        self.current = Mutex(process)
        self.directory = directory
    }

    static func binary() throws -> String {
        for candidate in ["/usr/bin/etcd", "/usr/local/bin/etcd"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw Missing(description: "etcd is not installed (Debian: apt-get install etcd-server); the etcd store tests need it")
    }

    public struct Missing: Error, CustomStringConvertible {
        public var description: String
    }

    /// `etcd://127.0.0.1:PORT` (`etcds://` with TLS), as `--datastore-endpoint` takes it.
    public var endpoint: String { "\(certificates == nil ? "etcd" : "etcds")://127.0.0.1:\(clientPort)" }

    /// One member; `extraArguments` go to etcd as they are (for example a small `--quota-backend-bytes`).
    public static func start(extraArguments: [String] = []) async throws -> EtcdServer {
        try await startCluster(size: 1, extraArguments: extraArguments)[0]
    }

    /// One member serving TLS with certificates made for the test, requiring client certificates signed by the
    /// same CA (`--client-cert-auth`).
    public static func startWithTLS() async throws -> EtcdServer {
        _ = try binary()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-etcd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let tls = directory.appendingPathComponent("tls")
        let certificates = try await Command.offPool { try TestCertificates.make(in: tls) }
        let client = try freePort(), peer = try freePort()
        let arguments = ["--name", "m0", "--data-dir", directory.appendingPathComponent("data").path,
                         "--listen-client-urls", "https://127.0.0.1:\(client)", "--advertise-client-urls", "https://127.0.0.1:\(client)",
                         "--listen-peer-urls", "http://127.0.0.1:\(peer)", "--initial-advertise-peer-urls", "http://127.0.0.1:\(peer)",
                         "--initial-cluster", "m0=http://127.0.0.1:\(peer)", "--log-level", "error", "--logger", "zap",
                         "--cert-file", certificates.serverCertificate, "--key-file", certificates.serverKey,
                         "--trusted-ca-file", certificates.ca, "--client-cert-auth"]
        let server = EtcdServer(clientPort: client, arguments: arguments, process: try launch(arguments), directory: directory,
            certificates: certificates)
        do {
            try await server.waitUntilHealthy()
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    /// `size` members forming one cluster, each on loopback ports of its own.
    public static func startCluster(size: Int, extraArguments: [String] = []) async throws -> [EtcdServer] {
        // Checked before any folder is made, so a machine without etcd is told so and left clean.
        _ = try binary()
        let ports = try (0..<size).map { _ in (client: try freePort(), peer: try freePort()) }
        let cluster = ports.enumerated().map { "m\($0.offset)=http://127.0.0.1:\($0.element.peer)" }.joined(separator: ",")
        var members: [EtcdServer] = []
        for (i, port) in ports.enumerated() {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-etcd-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let arguments = ["--name", "m\(i)", "--data-dir", directory.appendingPathComponent("data").path,
                             "--listen-client-urls", "http://127.0.0.1:\(port.client)", "--advertise-client-urls", "http://127.0.0.1:\(port.client)",
                             "--listen-peer-urls", "http://127.0.0.1:\(port.peer)", "--initial-advertise-peer-urls", "http://127.0.0.1:\(port.peer)",
                             "--initial-cluster", cluster, "--log-level", "error", "--logger", "zap"] + extraArguments
            members.append(EtcdServer(clientPort: port.client, arguments: arguments, process: try launch(arguments), directory: directory))
        }
        do {
            for member in members { try await member.waitUntilHealthy() }
        } catch {
            for member in members { member.stop() }
            throw error
        }
        return members
    }

    private static func launch(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
        process.arguments = arguments
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        return process
    }

    /// Kills etcd, keeping its data (a crash or an outage).
    public func kill() {
        let process = current.withLock { $0 }
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGCONT)
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Freezes etcd (SIGSTOP): its connections stay open and nothing answers, the outage a dead network or a
    /// stuck disk looks like. `resume()` lets it go on.
    public func pause() {
        let process = current.withLock { $0 }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGSTOP) }
    }

    public func resume() {
        let process = current.withLock { $0 }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGCONT) }
    }

    /// Starts etcd again on the same ports and data, and waits until it is healthy.
    public func restart() async throws {
        kill()
        let process = try Self.launch(arguments)
        current.withLock { $0 = process }
        try await waitUntilHealthy()
    }

    private func waitUntilHealthy() async throws {
        let client = clientPort
        var last = "no answer"
        for _ in 0..<100 {
            // Ready when its health endpoint says so (asked with curl when etcd wants a client certificate).
            if let certificates {
                let arguments = ["-s", "--cacert", certificates.ca, "--cert", certificates.clientCertificate,
                    "--key", certificates.clientKey, "https://127.0.0.1:\(client)/health"]
                last = (try? await Command.offPool { try Command.run("/usr/bin/curl", arguments) }.stdout) ?? "no answer"
                if last.contains("\"health\":\"true\"") { return }
            } else if let (data, _) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(client)/health")!) {
                last = String(decoding: data, as: UTF8.self)
                if last.contains("\"health\":\"true\"") { return }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Missing(description: "etcd did not become healthy on 127.0.0.1:\(client) within 10 s (\(last))")
    }

    /// Kills etcd and removes its data.
    public func stop() {
        kill()
        try? FileManager.default.removeItem(at: directory)
    }

    /// A loopback port nothing listens on now (the kernel's choice for port 0).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Missing(description: "no socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw Missing(description: "cannot bind a loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
