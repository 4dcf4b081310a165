import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Testing

@testable import KeelsonControllers

@Suite("Service load balancer")
struct ServiceLBControllerTests {
    static func node(_ name: String, internalIP: String, externalIP: String? = nil, ready: Bool = true, unschedulable: Bool = false) -> JSONValue {
        var addresses: [JSONValue] = [["type": "InternalIP", "address": .string(internalIP)]]
        if let externalIP { addresses.append(["type": "ExternalIP", "address": .string(externalIP)]) }
        return ["apiVersion": "v1", "kind": "Node", "metadata": ["name": .string(name)], "spec": ["unschedulable": .bool(unschedulable)],
                "status": ["addresses": .array(addresses), "conditions": [["type": "Ready", "status": .string(ready ? "True" : "False")]]]]
    }

    static func service(_ name: String, type: String = "LoadBalancer", port: Int = 80, created: String, loadBalancerClass: String? = nil) -> JSONValue {
        var service: JSONValue = ["apiVersion": "v1", "kind": "Service",
            "metadata": ["name": .string(name), "namespace": "default", "uid": .string("uid-\(name)"), "creationTimestamp": .string(created)],
            "spec": ["type": .string(type), "ports": [["port": .integer(Int64(port)), "protocol": "TCP"]]]]
        if let loadBalancerClass { service.setValue(.string(loadBalancerClass), at: ["spec", "loadBalancerClass"]) }
        return service
    }

    @Test("a LoadBalancer Service gets the Ready, schedulable nodes' addresses (ExternalIP first); a port already taken stays pending")
    func ingress() async throws {
        let api = FakeKubernetesAPI()
        api.seed(.nodes, Self.node("a", internalIP: "192.0.2.1"), Self.node("b", internalIP: "192.0.2.2", externalIP: "198.51.100.2"),
                 Self.node("down", internalIP: "192.0.2.3", ready: false), Self.node("cordoned", internalIP: "192.0.2.4", unschedulable: true))
        api.seed(.services, Self.service("web", created: "2026-01-01T00:00:00Z"),
                 Self.service("late", created: "2026-01-02T00:00:00Z"),
                 Self.service("other-port", port: 443, created: "2026-01-03T00:00:00Z"),
                 Self.service("classed", port: 8080, created: "2026-01-01T00:00:00Z", loadBalancerClass: "example.com/lb"),
                 Self.service("plain", type: "ClusterIP", created: "2026-01-01T00:00:00Z"))
        let services = Informer(client: api, resource: .services, logger: InformerFixture.logger)
        let nodes = Informer(client: api, resource: .nodes, logger: InformerFixture.logger)
        let controller = ServiceLBController(client: api, services: services, nodes: nodes, logger: InformerFixture.logger)
        controller.register(WorkQueue<String>(name: "test"))
        try await InformerFixture.run([services, nodes]) {
            try await waitUntil("caches") { services.list().count == 5 && nodes.list().count == 4 }
            for name in ["web", "late", "other-port", "classed", "plain"] { _ = try await controller.reconcile("default/\(name)") }
            func ingress(_ name: String) -> [String] {
                (api.stored(.services, namespace: "default", name: name)?["status"]?["loadBalancer"]?["ingress"]?.arrayValue ?? [])
                    .compactMap { $0["ip"]?.stringValue }
            }
            #expect(ingress("web") == ["192.0.2.1", "198.51.100.2"])
            #expect(ingress("other-port") == ["192.0.2.1", "198.51.100.2"])
            #expect(ingress("late").isEmpty, "port 80 belongs to the older Service")
            #expect(api.stored(.services, namespace: "default", name: "classed")?["status"] == nil, "another load balancer's Service is left alone")
            #expect(api.stored(.services, namespace: "default", name: "plain")?["status"] == nil)

            // The older Service goes: the port is free, and the pending one gets the nodes.
            _ = try await api.delete(.services, namespace: "default", name: "web", options: nil)
            try await waitUntil("cache") { services.list().count == 4 }
            _ = try await controller.reconcile("default/late")
            #expect(ingress("late") == ["192.0.2.1", "198.51.100.2"])
        }
    }
}
