import Foundation
import KeelsonTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

private let shortLivedEvent = """
    apiVersion: v1
    kind: Event
    metadata: {name: short-lived, namespace: default}
    involvedObject: {kind: ConfigMap, name: kept, namespace: default}
    reason: Testing
    message: this event goes away
    type: Normal
    """

/// Event expiry, snapshots, a damaged or full datastore, and etcd over TLS: `keelson server` and
/// `keelson etcd-snapshot` driven as an operator would.
@Suite("datastore lifecycle", .serialized, .clusterSlot)
struct DatastoreLifecycleTests {
    @Test("Events go once --event-ttl has passed since their last write; other objects stay", arguments: ["sqlite", "etcd"])
    func eventsExpire(store: String) async throws {
        let etcd = store == "etcd" ? try await EtcdServer.start() : nil
        defer { etcd?.stop() }
        let datastore = etcd.map { ["--datastore-endpoint", $0.endpoint] } ?? []
        try await withKeelson(extraArguments: datastore + ["--event-ttl", "3s", "--disable-controller-manager", "--disable-scheduler"]) { k in
            try await k.kubectlOK(["create", "configmap", "kept"])
            // Taken before the write: the time to live runs from the server's write, somewhere inside kubectl's run.
            let created = ContinuousClock.now
            try await k.kubectlOK(["apply", "-f", "-"], stdin: shortLivedEvent)
            #expect(try await k.kubectlOK(["get", "event", "short-lived", "-o", "jsonpath={.reason}"]) == "Testing")
            try await eventually(seconds: 20) {
                try await k.kubectl(["get", "event", "short-lived"]).stderr.contains("NotFound")
            }
            #expect(ContinuousClock.now - created >= .seconds(2), "the event went before its time to live")
            try await k.kubectlOK(["get", "configmap", "kept"])
        }
    }

    @Test("a snapshot saved while the server runs restores into a fresh data dir with the same resourceVersions, and into etcd")
    func snapshotSaveRestore() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-snapshots-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let snapshots = scratch.appendingPathComponent("snapshots").path
        var snapshot = ""
        var versions = ""
        try await withKeelson(extraArguments: ["--disable-controller-manager", "--disable-scheduler"]) { k in
            try await k.kubectlOK(["create", "namespace", "team"])
            try await k.kubectlOK(["create", "configmap", "settings", "-n", "team", "--from-literal=colour=blue"])
            try await k.kubectlOK(["create", "secret", "generic", "token", "-n", "team", "--from-literal=t=s3cr3t"])
            versions = try await k.kubectlOK(["get", "cm,secret", "-n", "team", "-o", "jsonpath={.items[*].metadata.resourceVersion}"])
            let saved = try await KeelsonProcess.keelson(["etcd-snapshot", "save", "--data-dir", k.dataDir.path, "--dir", snapshots, "--name", "nightly"])
            #expect(saved.status == 0, "\(saved.stderr)")
            snapshot = try #require(saved.stdout.split(separator: " ").dropFirst().first.map(String.init))
            #expect(snapshot.hasPrefix(snapshots + "/nightly-"))
            // Changes after the snapshot are not in it.
            try await k.kubectlOK(["create", "configmap", "later", "-n", "team"])
        }
        let listing = try await KeelsonProcess.keelson(["etcd-snapshot", "ls", "--dir", snapshots])
        #expect(listing.stdout.contains((snapshot as NSString).lastPathComponent), "\(listing.stdout)")

        // Into a fresh SQLite data dir: the same objects at the same resourceVersions.
        let restoredDir = scratch.appendingPathComponent("restored")
        let restored = try await KeelsonProcess.keelson(["etcd-snapshot", "restore", "--data-dir", restoredDir.path, snapshot])
        #expect(restored.status == 0, "\(restored.stderr)")
        let again = try await KeelsonProcess.keelson(["etcd-snapshot", "restore", "--data-dir", restoredDir.path, snapshot])
        #expect(again.status != 0 && again.stderr.contains("exists"), "a second restore must not overwrite: \(again.stderr)")
        let server = try KeelsonProcess(dataDir: restoredDir, extraArguments: ["--disable-controller-manager", "--disable-scheduler"])
        defer { server.cleanUp() }
        try await server.start()
        #expect(try await server.kubectlOK(["get", "cm", "settings", "-n", "team", "-o", "jsonpath={.data.colour}"]) == "blue")
        #expect(try await server.kubectlOK(["get", "cm,secret", "-n", "team", "-o", "jsonpath={.items[*].metadata.resourceVersion}"]) == versions)
        #expect(try await server.kubectl(["get", "cm", "later", "-n", "team"]).stderr.contains("NotFound"))
        try await server.kubectlOK(["create", "configmap", "after-restore", "-n", "team"])
        _ = try await server.stop()

        // Into a fresh etcd; then from etcd back into SQLite.
        let etcd = try await EtcdServer.start()
        defer { etcd.stop() }
        let intoEtcd = try await KeelsonProcess.keelson(["etcd-snapshot", "restore", "--datastore-endpoint", etcd.endpoint, snapshot])
        #expect(intoEtcd.status == 0, "\(intoEtcd.stderr)")
        try await withKeelson(extraArguments: ["--datastore-endpoint", etcd.endpoint, "--disable-controller-manager", "--disable-scheduler"]) { k in
            #expect(try await k.kubectlOK(["get", "secret", "token", "-n", "team", "-o", "jsonpath={.data.t}"]) == "czNjcjN0")
            try await k.kubectlOK(["create", "configmap", "in-etcd", "-n", "team"])
            let fromEtcd = try await KeelsonProcess.keelson(["etcd-snapshot", "save", "--datastore-endpoint", etcd.endpoint,
                "--dir", snapshots, "--name", "from-etcd"])
            #expect(fromEtcd.status == 0, "\(fromEtcd.stderr)")
            let path = try #require(fromEtcd.stdout.split(separator: " ").dropFirst().first.map(String.init))
            let backDir = scratch.appendingPathComponent("back")
            let back = try await KeelsonProcess.keelson(["etcd-snapshot", "restore", "--data-dir", backDir.path, path])
            #expect(back.status == 0, "\(back.stderr)")
            let sqlite = try KeelsonProcess(dataDir: backDir, extraArguments: ["--disable-controller-manager", "--disable-scheduler"])
            defer { sqlite.cleanUp() }
            try await sqlite.start()
            #expect(try await sqlite.kubectlOK(["get", "cm", "-n", "team", "-o", "name"]).contains("configmap/in-etcd"))
        }
    }

    @Test("a damaged datastore stops the server with a clear message and a non-zero exit, and is left as it was")
    func damagedDatastore() async throws {
        let server = try KeelsonProcess(extraArguments: ["--disable-controller-manager", "--disable-scheduler"])
        defer { server.cleanUp() }
        let db = server.dataDir.appendingPathComponent("server/db")
        try FileManager.default.createDirectory(at: db, withIntermediateDirectories: true)
        let garbage = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 17) })
        let path = db.appendingPathComponent("state.db")
        try garbage.write(to: path)
        await #expect(throws: KeelsonProcess.Failure.self) { try await server.start() }
        #expect(try await server.stop() != 0)
        #expect(server.log.contains("is damaged") && server.log.contains(path.path), "\(server.log)")
        #expect(FileManager.default.contents(atPath: path.path) == garbage)
    }

    @Test("on a full disk creates fail with a clear 500, reads go on, and creates work again once there is room")
    func fullDisk() async throws {
        try #require(geteuid() == 0, "mounting a small filesystem needs root")
        let server = try KeelsonProcess(extraArguments: ["--disable-controller-manager", "--disable-scheduler"])
        defer { server.cleanUp() }
        try #require(try KeelsonProcess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=16m", "keelson-test", server.dataDir.path]).status == 0)
        defer { _ = try? KeelsonProcess.run("/bin/umount", [server.dataDir.path]) }
        try await server.start()
        try await server.kubectlOK(["create", "configmap", "kept", "--from-literal=k=v"])
        let filler = server.dataDir.appendingPathComponent("filler").path
        _ = try KeelsonProcess.run("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=64k", "count=1000"])
        let payload = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-payload-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: payload) }
        try Data(repeating: 0x61, count: 200_000).write(to: payload)
        var refusal: KeelsonProcess.Output?
        for i in 0..<100 {
            let output = try await server.kubectl(["create", "configmap", "big-\(i)", "--from-file=blob=\(payload.path)"])
            if output.status != 0 {
                refusal = output
                break
            }
        }
        let refused = try #require(refusal, "creates never failed on a full disk")
        #expect(refused.stderr.contains("Internal error occurred") && refused.stderr.contains("disk holding the datastore is full"), "\(refused.stderr)")
        #expect(server.isRunning)
        #expect(try await server.kubectlOK(["get", "configmap", "kept", "-o", "jsonpath={.data.k}"]) == "v")
        try FileManager.default.removeItem(atPath: filler)
        try await server.kubectlOK(["create", "configmap", "after", "--from-literal=k=again"])
        #expect(try await server.kubectlOK(["get", "configmap", "after", "-o", "jsonpath={.data.k}"]) == "again")
        _ = try await server.stop()
    }

    @Test("etcds:// with client certificates: the server runs on a TLS etcd, and snapshots work through it")
    func etcdOverTLS() async throws {
        let etcd = try await EtcdServer.startWithTLS()
        defer { etcd.stop() }
        let tls = try #require(etcd.certificates)
        let flags = ["--datastore-endpoint", etcd.endpoint, "--etcd-cafile", tls.ca, "--etcd-certfile", tls.clientCertificate,
                     "--etcd-keyfile", tls.clientKey]
        try await withKeelson(extraArguments: flags + ["--disable-controller-manager", "--disable-scheduler"]) { k in
            try await k.kubectlOK(["create", "configmap", "over-tls", "--from-literal=k=v"])
            #expect(try await k.kubectlOK(["get", "configmap", "over-tls", "-o", "jsonpath={.data.k}"]) == "v")
            let saved = try await KeelsonProcess.keelson(["etcd-snapshot", "save", "--dir", k.dataDir.appendingPathComponent("snaps").path] + flags)
            #expect(saved.status == 0, "\(saved.stderr)")
        }
        // Without the client certificate etcd refuses the server, which says so and exits instead of hanging.
        let refused = try KeelsonProcess(extraArguments: ["--datastore-endpoint", etcd.endpoint, "--etcd-cafile", tls.ca])
        defer { refused.cleanUp() }
        await #expect(throws: KeelsonProcess.Failure.self) { try await refused.start() }
    }
}
