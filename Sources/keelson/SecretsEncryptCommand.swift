import ArgumentParser
import Foundation
import KeelsonAPI
import KeelsonClient

/// `keelson secrets-encrypt`: the state and rotation of the keys that encrypt Secrets at rest (named after k3s's
/// command), through the running server, which holds the keys and rewrites the Secrets.
struct SecretsEncryptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "secrets-encrypt",
        abstract: "Show or rotate the keys that encrypt Secrets at rest (server started with --secrets-encryption).",
        subcommands: [Status.self, RotateKeys.self])

    struct Connection: ParsableArguments {
        @Option(help: "(data) Folder holding the server's state; its kubeconfig is used unless --kubeconfig or $KUBECONFIG")
        var dataDir: String = "/var/lib/keelson"

        @Option(help: "Path to an admin kubeconfig")
        var kubeconfig: String?

        func withClient<T>(_ body: (APIClient) async throws -> T) async throws -> T {
            let path = kubeconfig ?? ProcessInfo.processInfo.environment["KUBECONFIG"]
                ?? (dataDir as NSString).appendingPathComponent("kubeconfig.yaml")
            let configuration: ClientConfiguration
            do {
                configuration = try ClientConfiguration.kubeconfig(at: path, userAgent: "keelson-secrets-encrypt")
            } catch {
                throw ValidationError("kubeconfig \(path): \(error)")
            }
            return try await APIClient.using(configuration, body)
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the keys and how the stored Secrets are encrypted.")
        @OptionGroup var connection: Connection

        func run() async throws {
            let status: JSONValue
            do {
                status = try await connection.withClient { try await $0.raw(.GET, "/v1-keelson/secrets-encrypt", body: nil) }
            } catch let error as APIError where error.status.code == 400 {
                print("Encryption Status: Disabled")
                return
            }
            let current = status["currentKey"]?.stringValue ?? ""
            let keys = status["keys"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let stored = status["stored"]?.objectValue ?? [:]
            let plaintext = status["plaintext"]?.intValue ?? 0
            print("Encryption Status: Enabled")
            print("Provider: AES-GCM")
            print("Current Key: \(current)")
            print("Keys: \(keys.joined(separator: ", "))")
            var held = stored.sorted { $0.key < $1.key }.map { "\($0.value.intValue ?? 0) with \($0.key)" }
            if plaintext > 0 { held.append("\(plaintext) not encrypted") }
            print("Stored: \(held.isEmpty ? "none" : held.joined(separator: ", "))")
            print("All On Current Key: \(status["allOnCurrentKey"]?.boolValue == true ? "yes" : "no")")
        }
    }

    struct RotateKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rotate-keys",
            abstract: "Make a new key current, re-encrypt every Secret with it and drop the old keys.")
        @OptionGroup var connection: Connection

        func run() async throws {
            let result = try await connection.withClient { try await $0.raw(.POST, "/v1-keelson/secrets-encrypt/rotate-keys", body: nil) }
            let removed = result["removedKeys"]?.arrayValue?.compactMap(\.stringValue) ?? []
            print("Current Key: \(result["currentKey"]?.stringValue ?? "")")
            print("Re-encrypted: \(result["reencrypted"]?.intValue ?? 0)")
            print("Removed Keys: \(removed.joined(separator: ", "))")
        }
    }
}
