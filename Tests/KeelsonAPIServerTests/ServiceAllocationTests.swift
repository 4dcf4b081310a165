import Foundation
import KeelsonAPI
import KeelsonAPIServer
import KeelsonStore
import Testing

@Suite("Service cluster IPs and node ports")
struct ServiceAllocationTests {
    static func service(_ name: String, type: String = "ClusterIP", clusterIP: String? = nil, nodePort: Int? = nil) -> JSONValue {
        var port: JSONValue = ["port": 80]
        if let nodePort { port["nodePort"] = .integer(Int64(nodePort)) }
        var svc: JSONValue = ["apiVersion": "v1", "kind": "Service", "metadata": ["name": .string(name)],
                              "spec": ["type": .string(type), "ports": [port]]]
        if let clusterIP { svc.setValue(.string(clusterIP), at: ["spec", "clusterIP"]) }
        return svc
    }

    static let path = "/api/v1/namespaces/default/services"

    @Test("the kubernetes Service holds the first address; every new Service gets a distinct address of the range")
    func uniqueAddresses() async throws {
        try await TestServer.run { client in
            let kubernetes = try await client.request(.get, "\(Self.path)/kubernetes")
            #expect(kubernetes.body.value(at: ["spec", "clusterIP"]) == "10.43.0.1")
            var seen = Set<String>()
            for i in 0..<40 {
                let created = try await client.json(.post, Self.path, Self.service("s\(i)"))
                #expect(created.status == 201)
                let ip = try #require(created.body.value(at: ["spec", "clusterIP"])?.stringValue)
                #expect(ip.hasPrefix("10.43.") && ip != "10.43.0.1" && ip != "10.43.0.0" && ip != "10.43.255.255")
                #expect(created.body.value(at: ["spec", "clusterIPs"]) == [.string(ip)])
                #expect(created.body.value(at: ["spec", "ipFamilies"]) == ["IPv4"])
                #expect(seen.insert(ip).inserted)
            }
        }
    }

    @Test("the cluster DNS address is held by kube-system/kube-dns, marked for the nodes to answer on; no other Service gets it")
    func clusterDNSService() async throws {
        try await TestServer.run(configure: { $0.clusterDNS = "10.43.0.10" }) { client, _ in
            let dns = try await client.request(.get, "/api/v1/namespaces/kube-system/services/kube-dns")
            #expect(dns.status == 200)
            #expect(dns.body.value(at: ["spec", "clusterIP"]) == "10.43.0.10")
            #expect(dns.body.value(at: ["metadata", "annotations", "keelson.io/node-local"]) == "true")
            #expect(dns.body.value(at: ["spec", "ports"])?.arrayValue?.first?["port"] == 53)
            let taken = try await client.json(.post, Self.path, Self.service("squatter", clusterIP: "10.43.0.10"))
            #expect(taken.status == 422)
        }
    }

    @Test("a requested address outside the range or already taken is a 422 naming spec.clusterIPs[0], and nothing is stored")
    func requestedAddress() async throws {
        try await TestServer.run { client in
            let outside = try await client.json(.post, Self.path, Self.service("out", clusterIP: "10.99.0.5"))
            #expect(outside.status == 422)
            #expect(outside.body["message"]?.stringValue?.contains("provided IP is not in the valid range. The range of valid IPs is 10.43.0.0/16") == true)
            #expect(try await client.request(.get, "\(Self.path)/out").status == 404)

            #expect(try await client.json(.post, Self.path, Self.service("first", clusterIP: "10.43.9.9")).status == 201)
            let taken = try await client.json(.post, Self.path, Self.service("second", clusterIP: "10.43.9.9"))
            #expect(taken.status == 422)
            #expect(taken.body["details"]?["causes"]?.arrayValue?.first?["field"] == "spec.clusterIPs[0]")
            #expect(taken.body["message"]?.stringValue?.contains("provided IP is already allocated") == true)

            // Released with the Service, the address can be asked for again.
            #expect(try await client.request(.delete, "\(Self.path)/first").status == 200)
            #expect(try await client.json(.post, Self.path, Self.service("second", clusterIP: "10.43.9.9")).status == 201)
        }
    }

    @Test("headless and ExternalName Services get no address")
    func noAddress() async throws {
        try await TestServer.run { client in
            let headless = try await client.json(.post, Self.path, Self.service("headless", clusterIP: "None"))
            #expect(headless.body.value(at: ["spec", "clusterIPs"]) == ["None"])
            var external = Self.service("ext", type: "ExternalName")
            external.setValue("example.com", at: ["spec", "externalName"])
            let created = try await client.json(.post, Self.path, external)
            #expect(created.status == 201)
            #expect(created.body.value(at: ["spec", "clusterIP"]) == nil)
        }
    }

    @Test("node ports: allocated from the range, refused when taken or outside it, released on type change and delete")
    func nodePorts() async throws {
        try await TestServer.run { client in
            let auto = try await client.json(.post, Self.path, Self.service("auto", type: "NodePort"))
            let port = try #require(auto.body.value(at: ["spec", "ports"])?.arrayValue?.first?["nodePort"]?.intValue)
            #expect((30000...32767).contains(port))

            #expect(try await client.json(.post, Self.path, Self.service("fixed", type: "NodePort", nodePort: 30080)).status == 201)
            let clash = try await client.json(.post, Self.path, Self.service("clash", type: "NodePort", nodePort: 30080))
            #expect(clash.status == 422)
            #expect(clash.body["details"]?["causes"]?.arrayValue?.first?["field"] == "spec.ports[0].nodePort")
            let outside = try await client.json(.post, Self.path, Self.service("outside", type: "NodePort", nodePort: 80))
            #expect(outside.status == 422)
            #expect(outside.body["message"]?.stringValue?.contains("The range of valid ports is 30000-32767") == true)

            // Changing the type to ClusterIP gives the port back.
            let patch = #"{"spec":{"type":"ClusterIP","ports":[{"port":80,"nodePort":null}]}}"#
            let patched = try await client.request(.patch, "\(Self.path)/fixed", body: patch, contentType: "application/merge-patch+json")
            #expect(patched.status == 200)
            #expect(patched.body.value(at: ["spec", "ports"])?.arrayValue?.first?["nodePort"] == nil)
            #expect(try await client.json(.post, Self.path, Self.service("clash", type: "NodePort", nodePort: 30080)).status == 201)

            // An update that keeps its port keeps it.
            var kept = try await client.request(.get, "\(Self.path)/clash").body
            kept.setValue(["team": "a"], at: ["metadata", "labels"])
            let updated = try await client.json(.put, "\(Self.path)/clash", kept)
            #expect(updated.status == 200)
            #expect(updated.body.value(at: ["spec", "ports"])?.arrayValue?.first?["nodePort"] == 30080)
        }
    }

    @Test("a restart repairs the reservations from the stored Services")
    func repair() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-alloc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("state.db").path
        do {
            let store = try SQLiteStore(configuration: SQLiteStore.Configuration(path: path))
            let server = APIServer(configuration: APIServerConfiguration(host: "127.0.0.1", port: 0), store: store, logger: TestServer.quietLogger)
            try await server.bootstrap()
            // A crash left a reservation without a Service, and a Service whose reservation is missing.
            _ = try await store.create("/registry/allocations/serviceips/10.43.7.7", value: Array("default/ghost".utf8))
            var svc = Self.service("kept", clusterIP: "10.43.8.8")
            svc["metadata"]?["namespace"] = "default"
            svc["metadata"]?["uid"] = "u1"
            _ = try await store.create("/registry/services/default/kept", value: svc.encoded())
            try store.close()
        }
        let store = try SQLiteStore(configuration: SQLiteStore.Configuration(path: path))
        let server = APIServer(configuration: APIServerConfiguration(host: "127.0.0.1", port: 0), store: store, logger: TestServer.quietLogger)
        try await server.bootstrap()
        #expect(try await store.get("/registry/allocations/serviceips/10.43.7.7", at: nil) == nil)
        #expect(try await store.get("/registry/allocations/serviceips/10.43.8.8", at: nil) != nil)
        #expect(try await store.get("/registry/allocations/serviceips/10.43.0.1", at: nil) != nil)
        try store.close()
    }
}
