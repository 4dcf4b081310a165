import Foundation

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
    let process: Process
    let directory: URL

    private init(clientPort: Int, process: Process, directory: URL) {
        self.clientPort = clientPort
        self.process = process
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

    /// `etcd://127.0.0.1:PORT`, as `--datastore-endpoint` takes it.
    public var endpoint: String { "etcd://127.0.0.1:\(clientPort)" }

    public static func start() async throws -> EtcdServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-etcd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let (client, peer) = (try freePort(), try freePort())
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
        process.arguments = ["--name", "test", "--data-dir", directory.appendingPathComponent("data").path,
                             "--listen-client-urls", "http://127.0.0.1:\(client)", "--advertise-client-urls", "http://127.0.0.1:\(client)",
                             "--listen-peer-urls", "http://127.0.0.1:\(peer)", "--initial-advertise-peer-urls", "http://127.0.0.1:\(peer)",
                             "--initial-cluster", "test=http://127.0.0.1:\(peer)", "--log-level", "error", "--logger", "zap"]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let server = EtcdServer(clientPort: client, process: process, directory: directory)
        // Ready when its health endpoint says so.
        let health = URL(string: "http://127.0.0.1:\(client)/health")!
        var last = "no answer"
        for _ in 0..<100 {
            if let (data, _) = try? await URLSession.shared.data(from: health) {
                last = String(decoding: data, as: UTF8.self)
                if last.contains("\"health\":\"true\"") { return server }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        server.stop()
        throw Missing(description: "etcd did not become healthy on 127.0.0.1:\(client) within 10 s (\(last))")
    }

    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
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
