import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import KeelsonAPI
import KeelsonClient
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

    @Test("while etcd is down the API server answers 503 instead of hanging, and recovers by itself when etcd returns")
    func outage() async throws {
        let etcd = try await EtcdServer.start()
        defer { etcd.stop() }
        try await withKeelson(extraArguments: ["--datastore-endpoint", etcd.endpoint, "--disable-controller-manager", "--disable-scheduler"]) { k in
            try await k.kubectlOK(["create", "configmap", "before"])
            etcd.kill()
            let clock = ContinuousClock()
            let start = clock.now
            let refused = try await k.kubectl(["create", "configmap", "during", "--request-timeout=40s"])
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("ServiceUnavailable") || refused.stderr.contains("datastore is unavailable"), "\(refused.stderr)")
            #expect(clock.now - start < .seconds(30), "answered, not hung")
            try await etcd.restart()
            // The server was never restarted: it reconnects, writes go through, and nothing acknowledged is lost.
            try await eventually(seconds: 30) { try await k.kubectl(["create", "configmap", "after"]).status == 0 }
            let names = try await k.kubectlOK(["get", "configmaps", "-o", "jsonpath={.items[*].metadata.name}"])
            #expect(names.contains("before") && names.contains("after") && !names.contains("during"), "\(names)")
        }
    }

    @Test("while etcd is frozen the API server answers 503 within seconds instead of hanging, and recovers when it thaws")
    func frozenEtcd() async throws {
        let etcd = try await EtcdServer.start()
        defer { etcd.stop() }
        try await withKeelson(extraArguments: ["--datastore-endpoint", etcd.endpoint, "--disable-controller-manager", "--disable-scheduler"]) { k in
            try await k.kubectlOK(["create", "configmap", "before"])
            etcd.pause()
            let clock = ContinuousClock()
            let start = clock.now
            let refused = try await k.kubectl(["create", "configmap", "during", "--request-timeout=60s"])
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("ServiceUnavailable") || refused.stderr.contains("datastore is unavailable"), "\(refused.stderr)")
            #expect(clock.now - start < .seconds(40), "answered, not hung")
            etcd.resume()
            try await eventually(seconds: 30) { try await k.kubectl(["create", "configmap", "after"]).status == 0 }
            let names = try await k.kubectlOK(["get", "configmaps", "-o", "jsonpath={.items[*].metadata.name}"])
            #expect(names.contains("before") && names.contains("after"), "\(names)")
        }
    }

    @Test("an HA control plane on etcd: when the server leading the controller manager dies, the other takes over")
    func leaderFailover() async throws {
        let etcd = try await EtcdServer.start()
        defer { etcd.stop() }
        let arguments = ["--datastore-endpoint", etcd.endpoint]
        let lease = ["get", "lease", "-n", "kube-system", "kube-controller-manager", "-o", "jsonpath={.spec.holderIdentity}"]
        try await withKeelson(extraArguments: arguments) { first in
            var leader = ""
            try await eventually(seconds: 20) {
                let holder = try await first.kubectl(lease)
                leader = holder.status == 0 ? holder.stdout : ""
                return !leader.isEmpty
            }
            try await withKeelson(extraArguments: arguments) { second in
                #expect(try await second.kubectlOK(lease) == leader, "the first server keeps leading")
                try await first.crash()
                // The standby acquires the Lease once it expires (15 s after the last renewal).
                try await eventually(seconds: 25) {
                    let holder = try await second.kubectl(lease)
                    return holder.status == 0 && !holder.stdout.isEmpty && holder.stdout != leader
                }
                // And its controllers work: a Deployment gets its ReplicaSet.
                try await second.kubectlOK(["create", "deployment", "web", "--image=registry.example/web:1"])
                try await eventually(seconds: 20) { try await second.kubectlOK(["get", "rs", "-l", "app=web", "-o", "name"]).hasPrefix("replicaset") }
            }
        }
    }

    @Test("on a three-member etcd, the API server keeps serving when the member it talks to dies")
    func memberFailover() async throws {
        let members = try await EtcdServer.startCluster(size: 3)
        defer { for member in members { member.stop() } }
        let endpoint = "etcd://" + members.map { "127.0.0.1:\($0.clientPort)" }.joined(separator: ",")
        try await withKeelson(extraArguments: ["--datastore-endpoint", endpoint, "--disable-controller-manager", "--disable-scheduler"]) { k in
            try await k.kubectlOK(["create", "configmap", "before"])
            // The client talks to the first endpoint (pick-first); that member dies, two of three keep the quorum.
            members[0].kill()
            try await eventually(seconds: 30) { try await k.kubectl(["create", "configmap", "after"]).status == 0 }
            let names = try await k.kubectlOK(["get", "configmaps", "-o", "jsonpath={.items[*].metadata.name}"])
            #expect(names.contains("before") && names.contains("after"), "\(names)")
        }
    }

    @Test("etcd stopped for 10 s under a write load: every acknowledged write is there afterwards, and the server never went down")
    func outageUnderLoad() async throws {
        let etcd = try await EtcdServer.start()
        defer { etcd.stop() }
        try await withKeelson(extraArguments: ["--datastore-endpoint", etcd.endpoint, "--disable-controller-manager", "--disable-scheduler"]) { k in
            let client = APIClient(configuration: try ClientConfiguration.kubeconfig(at: k.kubeconfig))
            defer { Task { try? await client.shutdown() } }
            // Four writers create ConfigMaps one after another until the deadline (past the outage), noting which
            // creates were acknowledged (201) and how many were refused (anything else).
            let deadline = ContinuousClock.now + .seconds(18)
            async let outcomes = withTaskGroup(of: ([String], Int).self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        var acknowledged: [String] = []
                        var refused = 0
                        var i = 0
                        while ContinuousClock.now < deadline {
                            let name = "w\(writer)-\(i)"
                            i += 1
                            let created = (try? await client.create(.configMaps, namespace: "default", ["metadata": ["name": .string(name)]])) != nil
                            let status = created ? 201 : 0
                            if status == 201 { acknowledged.append(name) } else { refused += 1 }
                            if status != 201 { try? await Task.sleep(for: .milliseconds(50)) }
                        }
                        return (acknowledged, refused)
                    }
                }
                var all: ([String], Int) = ([], 0)
                for await (names, refused) in group { all = (all.0 + names, all.1 + refused) }
                return all
            }
            try await Task.sleep(for: .seconds(2))
            etcd.kill()
            try await Task.sleep(for: .seconds(10))
            try await etcd.restart()
            let (acknowledged, refused) = await outcomes
            #expect(refused > 0, "writes were refused while etcd was down")
            #expect(acknowledged.count > 20, "writes went through before and after: \(acknowledged.count)")
            // The server reconnects by itself; on a loaded machine its first reads after etcd's return may still fail.
            var listing = try await k.kubectl(["get", "configmaps", "-o", "jsonpath={.items[*].metadata.name}"])
            let recovery = ContinuousClock.now + .seconds(30)
            while listing.status != 0 && ContinuousClock.now < recovery {
                try await Task.sleep(for: .milliseconds(500))
                listing = try await k.kubectl(["get", "configmaps", "-o", "jsonpath={.items[*].metadata.name}"])
            }
            #expect(listing.status == 0, "the server reads from etcd again within 30 s: \(listing.stderr)")
            let stored = Set(listing.stdout.split(separator: " ").map(String.init))
            let missing = acknowledged.filter { !stored.contains($0) }
            #expect(missing.isEmpty, "acknowledged but missing: \(missing.prefix(10))")
            #expect(try await k.kubectl(["get", "--raw", "/readyz"]).status == 0, "the server is still up")
        }
    }
}
