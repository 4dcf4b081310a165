import Foundation
import KeelsonAPI
import KeelsonTestKit
import Testing

/// What the server keeps on disk about Secrets and about requests: encryption at rest and the audit log.
extension SecurityTests {
    /// Every byte of the embedded datastore (the database and its write-ahead log).
    static func datastoreBytes(_ k: KeelsonProcess) -> Data {
        let directory = k.dataDir.appendingPathComponent("server/db")
        var bytes = Data()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] {
            bytes.append(FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) ?? Data())
        }
        return bytes
    }

    @Test("--secrets-encryption: no Secret is in the datastore in the clear; rotate-keys re-encrypts them all, and they survive a restart")
    func secretsEncryption() async throws {
        try await withKeelson(extraArguments: ["--secrets-encryption"]) { k in
            let secret = "s3cr3t-\(UUID().uuidString)"
            let visible = "v1s1ble-\(UUID().uuidString)"
            try await k.kubectlOK(["create", "secret", "generic", "db", "--from-literal=password=\(secret)"])
            try await k.kubectlOK(["create", "configmap", "plain", "--from-literal=note=\(visible)"])
            let stored = Self.datastoreBytes(k)
            // The ConfigMap's value is found where it was written: the search would find the Secret's too.
            #expect(stored.range(of: Data(visible.utf8)) != nil)
            #expect(stored.range(of: Data(Data(secret.utf8).base64EncodedString().utf8)) == nil)
            #expect(stored.range(of: Data("k8s:enc:aesgcm:v1:aesgcmkey:".utf8)) != nil)

            let keysFile = k.dataDir.appendingPathComponent("server/cred/encryption-config.json")
            let mode = try FileManager.default.attributesOfItem(atPath: keysFile.path)[.posixPermissions] as? Int
            #expect(mode == 0o600)

            let connection = ["--data-dir", k.dataDir.path]
            let status = try await KeelsonProcess.keelson(["secrets-encrypt", "status"] + connection)
            #expect(status.status == 0, "\(status.stderr)")
            #expect(status.stdout.contains("Encryption Status: Enabled") && status.stdout.contains("Current Key: aesgcmkey"), "\(status.stdout)")
            #expect(status.stdout.contains("All On Current Key: yes"), "\(status.stdout)")

            let rotated = try await KeelsonProcess.keelson(["secrets-encrypt", "rotate-keys"] + connection)
            #expect(rotated.status == 0, "\(rotated.stderr)")
            #expect(rotated.stdout.contains("Removed Keys: aesgcmkey"), "\(rotated.stdout)")
            let reencrypted = rotated.stdout.split(separator: "\n").first { $0.hasPrefix("Re-encrypted: ") }.map { Int($0.dropFirst(14)) ?? 0 } ?? 0
            #expect(reencrypted >= 1, "\(rotated.stdout)")
            let after = try await KeelsonProcess.keelson(["secrets-encrypt", "status"] + connection).stdout
            #expect(after.contains("Current Key: aesgcmkey-") && after.contains("All On Current Key: yes"), "\(after)")
            let keys = try String(contentsOf: keysFile, encoding: .utf8)
            #expect(!keys.contains("\"aesgcmkey\""), "the old key is gone from the file: \(keys)")

            func password() async throws -> String {
                let encoded = try await k.kubectlOK(["get", "secret", "db", "-o", "jsonpath={.data.password}"])
                return String(decoding: Data(base64Encoded: encoded) ?? Data(), as: UTF8.self)
            }
            #expect(try await password() == secret)
            try await k.stop()
            try await k.start()
            #expect(try await password() == secret)
            // A start without the flag keeps reading them: the keys' file keeps encryption on.
            try await k.stop()
            try await k.start(extraArguments: [])
            #expect(try await password() == secret)
        }
    }

    @Test("secrets-encrypt against a server without encryption says so")
    func secretsEncryptionDisabled() async throws {
        try await withKeelson { k in
            let status = try await KeelsonProcess.keelson(["secrets-encrypt", "status", "--data-dir", k.dataDir.path])
            #expect(status.status == 0 && status.stdout.contains("Encryption Status: Disabled"), "\(status.stdout) \(status.stderr)")
            let rotate = try await KeelsonProcess.keelson(["secrets-encrypt", "rotate-keys", "--data-dir", k.dataDir.path])
            #expect(rotate.status != 0 && rotate.stderr.contains("--secrets-encryption"), "\(rotate.stderr)")
        }
    }

    @Test("--audit-log-path with a policy file: kubectl's requests are logged as audit.k8s.io/v1 Events at the levels the policy gives")
    func auditLog() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("audit.log").path
        let policy = directory.appendingPathComponent("policy.yaml").path
        try """
            apiVersion: audit.k8s.io/v1
            kind: Policy
            omitStages: [RequestReceived]
            rules:
            - level: None
              userGroups: [system:nodes, system:serviceaccounts]
            - level: None
              users: [system:kube-controller-manager, system:kube-scheduler]
            - level: Metadata
              resources:
              - group: ""
                resources: [secrets]
            - level: RequestResponse
              resources:
              - group: ""
                resources: [configmaps]
            - level: Metadata

            """.write(toFile: policy, atomically: true, encoding: .utf8)
        try await withKeelson(extraArguments: ["--audit-log-path", log, "--audit-policy-file", policy]) { k in
            try await k.kubectlOK(["create", "configmap", "audited", "--from-literal=k=v"])
            try await k.kubectlOK(["create", "secret", "generic", "hidden", "--from-literal=password=do-not-log"])
            #expect(try await k.kubectl(["get", "pods", "-A", "--as=nobody"]).status != 0)
            try await k.stop()
        }
        let events = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map { try JSONParser.parse(String($0)) }
        let mode = try FileManager.default.attributesOfItem(atPath: log)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(events.allSatisfy { $0["stage"] != "RequestReceived" })
        #expect(events.allSatisfy { $0["user"]?["username"] != "system:kube-controller-manager" })

        let configMap = try #require(events.first { $0["verb"] == "create" && $0["objectRef"]?["resource"] == "configmaps" })
        #expect(configMap["level"] == "RequestResponse" && configMap["user"]?["username"] == "system:admin")
        #expect(configMap["requestObject"]?["data"]?["k"] == "v" && configMap["responseObject"]?["metadata"]?["name"] == "audited")
        #expect(configMap["userAgent"]?.stringValue?.hasPrefix("kubectl") == true)
        #expect(configMap["sourceIPs"] == ["127.0.0.1"])

        let secret = try #require(events.first { $0["verb"] == "create" && $0["objectRef"]?["resource"] == "secrets" })
        #expect(secret["level"] == "Metadata" && secret["requestObject"] == nil)
        #expect(!String(decoding: try Data(contentsOf: URL(fileURLWithPath: log)), as: UTF8.self).contains(Data("do-not-log".utf8).base64EncodedString()))

        let denied = try #require(events.first { $0["impersonatedUser"]?["username"] == "nobody" && $0["objectRef"]?["resource"] == "pods" })
        #expect(denied["responseStatus"]?["code"] == 403 && denied["annotations"]?["authorization.k8s.io/decision"] == "forbid")
    }
}
