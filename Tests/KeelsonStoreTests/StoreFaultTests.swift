import Foundation
import KeelsonStore
import KeelsonTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

private func scratch(_ name: String) throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

/// Runs a command, returning its exit status.
@discardableResult
private func run(_ command: String, _ arguments: [String]) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command)
    process.arguments = arguments
    process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    process.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

@Suite("Store faults")
struct StoreFaultTests {
    @Test("a datastore file that is not a database is refused with a clear message and left as it was")
    func notADatabase() throws {
        let directory = try scratch("corrupt")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("state.db").path
        let garbage = Data((0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try garbage.write(to: URL(fileURLWithPath: path))
        do {
            _ = try SQLiteStore(configuration: .init(path: path))
            Issue.record("a damaged datastore was opened")
        } catch let error as StoreError {
            #expect(error.message.contains("is damaged"))
            #expect(error.message.contains(path))
        }
        #expect(FileManager.default.contents(atPath: path) == garbage)
    }

    @Test("damage inside a database whose header is intact is found at open, not at the first unlucky read")
    func damagedPages() async throws {
        let directory = try scratch("corrupt")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("state.db").path
        do {
            let store = try SQLiteStore(configuration: .init(path: path))
            for i in 0..<2_000 { _ = try await store.create("/registry/things/\(i)", value: bytes(String(repeating: "x", count: 200))) }
            try store.close()
        }
        // Overwrite pages in the middle of the file (past the header page) with garbage.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size / 2)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 16_384))
        try handle.close()
        let damaged = FileManager.default.contents(atPath: path)
        do {
            _ = try SQLiteStore(configuration: .init(path: path))
            Issue.record("a damaged datastore was opened")
        } catch let error as StoreError {
            #expect(error.message.contains("is damaged"))
        }
        #expect(FileManager.default.contents(atPath: path) == damaged)
    }

    @Test("on a full disk writes fail with a clear error, reads go on, and writes work again once there is room")
    func fullDisk() async throws {
        try #require(geteuid() == 0, "mounting a small filesystem needs root")
        let directory = try scratch("fulldisk")
        defer { try? FileManager.default.removeItem(at: directory) }
        try #require(try run("/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "keelson-test", directory.path]) == 0)
        defer { _ = try? run("/bin/umount", [directory.path]) }
        let store = try SQLiteStore(configuration: .init(path: directory.appendingPathComponent("state.db").path))
        defer { try? store.close() }
        for i in 0..<10 { _ = try await store.create("/registry/kept/\(i)", value: bytes("kept \(i)")) }
        // Fill the filesystem except for a little, with a file the test can remove.
        let filler = directory.appendingPathComponent("filler").path
        _ = try run("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=64k", "count=100"])
        var failure: StoreError?
        let value = bytes(String(repeating: "y", count: 8_192))
        for i in 0..<1_000 {
            do {
                _ = try await store.create("/registry/filling/\(i)", value: value)
            } catch let error as StoreError {
                failure = error
                break
            }
        }
        let error = try #require(failure, "writes never failed on a full filesystem")
        #expect(error.code == .internal)
        #expect(error.message.contains("full"))
        #expect(try await store.get("/registry/kept/3", at: nil)?.value == bytes("kept 3"))
        #expect(try await store.range(prefix: "/registry/kept/", at: nil, startAfter: nil, limit: nil).items.count == 10)
        try FileManager.default.removeItem(atPath: filler)
        let revision = try await store.create("/registry/after/1", value: bytes("room again"))
        #expect(try await store.get("/registry/after/1", at: nil)?.modRevision == revision)
        #expect(try await store.currentRevision() == revision)
    }

    @Test("etcd out of quota: writes fail with a clear error, reads go on")
    func etcdQuota() async throws {
        let server = try await EtcdServer.start(extraArguments: ["--quota-backend-bytes", "\(2 * 1024 * 1024)"])
        defer { server.stop() }
        // Quota errors are what is tested: the unresponsiveness watchdog is kept out of the way of a busy test process.
        let store = try EtcdStore(configuration: .init(endpoints: [("127.0.0.1", server.clientPort)], requestTimeout: .seconds(60)))
        defer { Task { await store.close() } }
        _ = try await store.create("/registry/kept/1", value: bytes("kept"))
        let value = bytes(String(repeating: "z", count: 256 * 1024))
        var failure: StoreError?
        for i in 0..<200 {
            do {
                _ = try await store.create("/registry/filling/\(i)", value: value)
            } catch let error as StoreError {
                failure = error
                break
            }
        }
        let error = try #require(failure, "etcd never refused a write")
        #expect(error.code == .internal)
        #expect(error.message.contains("quota"))
        #expect(try await store.get("/registry/kept/1", at: nil)?.value == bytes("kept"))
    }

    @Test("etcds://: the store talks TLS with a client certificate; an untrusted certificate is refused, not hung on")
    func etcdTLS() async throws {
        let server = try await EtcdServer.startWithTLS()
        defer { server.stop() }
        let certificates = try #require(server.certificates)
        let files = EtcdStore.TLSFiles(caFile: certificates.ca, certFile: certificates.clientCertificate, keyFile: certificates.clientKey)
        let store = try EtcdStore(configuration: .init(url: server.endpoint, tls: files))
        let revision = try await store.create("/registry/tls/a", value: bytes("secret"))
        let watch = store.watch(prefix: "/registry/tls/", after: revision)
        _ = try await store.update("/registry/tls/a", value: bytes("secret 2"), ifModRevision: revision)
        var iterator = watch.makeAsyncIterator()
        #expect(try await iterator.next()?.value.value == bytes("secret 2"))
        await store.close()

        // Plain etcd:// with certificate files is a configuration mistake, said at once.
        #expect(throws: StoreError.self) {
            _ = try EtcdStore.Configuration(url: "etcd://127.0.0.1:\(server.clientPort)", tls: files)
        }
        let untrusted = EtcdStore.TLSFiles(caFile: certificates.ca, certFile: certificates.untrustedClientCertificate,
            keyFile: certificates.untrustedClientKey)
        let intruder = try EtcdStore(configuration: .init(endpoints: [("127.0.0.1", server.clientPort)], tls: untrusted))
        let start = ContinuousClock.now
        await #expect(throws: StoreError.self) { _ = try await intruder.get("/registry/tls/a", at: nil) }
        #expect(ContinuousClock.now - start < .seconds(15))
        await intruder.close()
    }
}
