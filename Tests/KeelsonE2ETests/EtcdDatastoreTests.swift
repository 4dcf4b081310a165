import Foundation
import KeelsonTestKit
import Testing

/// `keelson server --datastore-endpoint etcd://…` on a real etcd, driven with kubectl.
@Suite("etcd as the datastore", .serialized)
struct EtcdDatastoreTests {
    @Test("two API servers on one etcd: a write through one is read and watched through the other, and survives restarts")
    func sharedEtcd() async throws {
        let etcd = try await EtcdServer.start()
        defer { etcd.stop() }
        let arguments = ["--datastore-endpoint", etcd.endpoint, "--disable-controller-manager", "--disable-scheduler"]
        try await withKeelson(extraArguments: arguments) { first in
            try await withKeelson(extraArguments: arguments) { second in
                // A watch through the second server sees a create made through the first.
                try await first.kubectlOK(["create", "configmap", "before"])
                let watchOutput = FileManager.default.temporaryDirectory.appendingPathComponent("watch-\(UUID().uuidString)")
                defer { try? FileManager.default.removeItem(at: watchOutput) }
                let watcher = Process()
                watcher.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                watcher.arguments = ["kubectl", "get", "cm", "-w", "--request-timeout=60s"]
                watcher.environment = ProcessInfo.processInfo.environment.merging(["KUBECONFIG": second.kubeconfig]) { $1 }
                FileManager.default.createFile(atPath: watchOutput.path, contents: nil)
                watcher.standardOutput = try FileHandle(forWritingTo: watchOutput)
                try watcher.run()
                defer { if watcher.isRunning { watcher.terminate() } }
                let watched = { (try? String(contentsOf: watchOutput, encoding: .utf8)) ?? "" }
                try await eventually { watched().contains("before") }
                try await first.kubectlOK(["create", "configmap", "shared", "--from-literal=k=v"])
                try await eventually { watched().contains("shared") }
                #expect(try await second.kubectlOK(["get", "configmap", "shared", "-o", "jsonpath={.data.k}"]) == "v")
                // Optimistic concurrency spans servers: an update with a stale resourceVersion through the other fails.
                let stale = try await first.kubectlOK(["get", "configmap", "shared", "-o", "jsonpath={.metadata.resourceVersion}"])
                try await second.kubectlOK(["patch", "configmap", "shared", "-p", #"{"data":{"k":"w"}}"#])
                let conflict = try await first.kubectl(["patch", "configmap", "shared", "--type=merge", "-p",
                    #"{"metadata":{"resourceVersion":"\#(stale)"},"data":{"k":"x"}}"#])
                #expect(conflict.status != 0 && conflict.stderr.contains("Conflict"), "\(conflict.stderr)")
            }
            // The data lives in etcd: a server restarted on it still has it.
            _ = try await first.stop()
            try await first.start()
            #expect(try await first.kubectlOK(["get", "configmap", "shared", "-o", "jsonpath={.data.k}"]) == "w")
        }
    }
}
