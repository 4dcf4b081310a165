import Foundation
import KeelsonAPI
import KeelsonClient
import Logging
import Testing

/// The client library's informer against the real server: what it leaves out, and that writes made from what it
/// keeps lose nothing on the server.
@Suite("Informers against the real server")
struct InformerServerTests {
    @Test("an informer's objects carry no managedFields; an update made from one keeps the server's ownership records")
    func managedFieldsOmitted() async throws {
        try await withKeelson(extraArguments: ["--disable-agent", "--disable-controller-manager", "--disable-scheduler"]) { k in
            let client = APIClient(configuration: try ClientConfiguration.kubeconfig(at: k.kubeconfig))
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let informer = Informer(client: client, resource: .configMaps, namespace: "default", logger: logger)
            let running = Task { try await informer.run() }
            do {
                try await client.create(.configMaps, namespace: "default",
                    ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "informed"], "data": ["a": "1"]])
                try await informer.waitUntilSynced()
                try await eventually(seconds: 30) { informer.get(namespace: "default", name: "informed") != nil }
                var cached = try #require(informer.get(namespace: "default", name: "informed"))
                #expect(cached.metadata?["managedFields"] == nil, "\(cached)")
                #expect(cached["data"]?["a"] == "1" && cached.name == "informed" && cached.resourceVersion != nil)

                cached["data"] = ["a": "1", "b": "2"]
                try await client.update(.configMaps, namespace: "default", cached)
                let stored = try await client.get(.configMaps, namespace: "default", name: "informed")
                let entries = stored.metadata?["managedFields"]?.arrayValue ?? []
                #expect(entries.count == 1, "the creator's entry, kept and extended by the same manager: \(entries)")
                #expect(entries.first?["fieldsV1"]?["f:data"]?["f:a"] != nil && entries.first?["fieldsV1"]?["f:data"]?["f:b"] != nil,
                    "\(entries)")

                var options = ListOptions()
                options.omitsManagedFields = true
                let listed = try await client.list(.configMaps, namespace: "default", options: options)
                #expect(!listed.items.isEmpty && listed.items.allSatisfy { $0.metadata?["managedFields"] == nil })
                let plain = try await client.list(.configMaps, namespace: "default")
                #expect(plain.items.first { $0.name == "informed" }?.metadata?["managedFields"] != nil, "only when asked")
            } catch {
                running.cancel()
                try? await client.shutdown()
                throw error
            }
            running.cancel()
            _ = await running.result
            try await client.shutdown()
        }
    }
}
