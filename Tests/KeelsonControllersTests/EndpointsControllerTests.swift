import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Testing

@testable import KeelsonControllers

@Suite("Endpoints and EndpointSlice controllers")
struct EndpointsControllerTests {
    struct Fixture {
        let api = FakeKubernetesAPI()
        let services: Informer
        let pods: Informer
        let endpoints: Informer
        let slices: Informer
        let endpointsController: EndpointsController
        let sliceController: EndpointSliceController

        init(maxEndpointsPerSlice: Int = 100) {
            services = Informer(client: api, resource: .services, logger: InformerFixture.logger)
            pods = Informer(client: api, resource: .pods, logger: InformerFixture.logger)
            endpoints = Informer(client: api, resource: .endpoints, logger: InformerFixture.logger)
            slices = Informer(client: api, resource: .endpointSlices, logger: InformerFixture.logger)
            services.addIndex(.namespace)
            pods.addIndex(.namespace)
            slices.addIndex(EndpointSliceController.serviceIndex)
            endpointsController = EndpointsController(client: api, services: services, pods: pods, endpoints: endpoints, logger: InformerFixture.logger)
            sliceController = EndpointSliceController(client: api, services: services, pods: pods, slices: slices,
                logger: InformerFixture.logger, maxEndpointsPerSlice: maxEndpointsPerSlice)
            sliceController.register(WorkQueue<String>(name: "test"))
        }

        func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
            try await InformerFixture.run([services, pods, endpoints, slices], body)
        }

        func slicesCaughtUp() async throws {
            try await waitUntil("slice cache") {
                Set(slices.list().compactMap(\.resourceVersion)) == Set(api.stored(.endpointSlices).compactMap(\.resourceVersion))
            }
        }
    }

    static func service(ports: JSONValue = [["name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"]], publishNotReady: Bool = false,
        selector: JSONValue = ["app": "web"]) -> JSONValue
    {
        ["apiVersion": "v1", "kind": "Service",
         "metadata": ["name": "web", "namespace": "default", "uid": "uid-svc", "labels": ["team": "a"]],
         "spec": ["selector": selector, "ports": ports, "clusterIP": "10.43.0.20", "publishNotReadyAddresses": .bool(publishNotReady)]]
    }

    static func pod(_ name: String, ip: String?, ready: Bool = true, phase: String = "Running", containerPort: Int64 = 8080,
        labels: JSONValue = ["app": "web"], deleting: Bool = false) -> JSONValue
    {
        var pod: JSONValue = [
            "apiVersion": "v1", "kind": "Pod",
            "metadata": ["name": .string(name), "namespace": "default", "uid": .string("uid-\(name)"), "labels": labels],
            "spec": ["nodeName": "node-1", "containers": [["name": "c", "ports": [["name": "web", "containerPort": .integer(containerPort)]]]]],
            "status": ["phase": .string(phase), "conditions": [["type": "Ready", "status": ready ? "True" : "False"]]],
        ]
        if let ip { pod.setValue(.string(ip), at: ["status", "podIP"]) }
        if deleting {
            pod.deletionTimestamp = "2026-01-01T00:00:00Z"
            pod.finalizers = ["test/hold"]
        }
        return pod
    }

    @Test("Endpoints: ready pods as addresses, unready as notReadyAddresses, named ports resolved, the rest left out")
    func endpoints() async throws {
        let f = Fixture()
        f.api.seed(.services, Self.service())
        f.api.seed(.pods,
            Self.pod("ready", ip: "10.42.0.2"),
            Self.pod("unready", ip: "10.42.0.3", ready: false),
            Self.pod("no-ip", ip: nil),
            Self.pod("done", ip: "10.42.0.4", phase: "Succeeded"),
            Self.pod("leaving", ip: "10.42.0.5", deleting: true),
            Self.pod("other", ip: "10.42.0.6", labels: ["app": "other"]))
        try await f.run {
            _ = try await f.endpointsController.reconcile("default/web")
            let ep = try #require(f.api.stored(.endpoints, namespace: "default", name: "web"))
            let subsets = ep["subsets"]?.arrayValue ?? []
            #expect(subsets.count == 1)
            #expect(subsets.first?["addresses"]?.arrayValue?.compactMap { $0["ip"]?.stringValue } == ["10.42.0.2"])
            #expect(subsets.first?["notReadyAddresses"]?.arrayValue?.compactMap { $0["ip"]?.stringValue } == ["10.42.0.3"])
            #expect(subsets.first?["ports"] == [["name": "http", "port": 8080, "protocol": "TCP"]])
            #expect(subsets.first?["addresses"]?.arrayValue?.first?["targetRef"]?["name"] == "ready")
            #expect(ep.labels == ["team": "a"])

            // Nothing changed: no write.
            f.api.clearActions()
            try await waitUntil("endpoints cache") { f.endpoints.get("default/web") != nil }
            _ = try await f.endpointsController.reconcile("default/web")
            #expect(f.api.writes.isEmpty)
        }
    }

    @Test("publishNotReadyAddresses lists every pod with an IP as ready, terminating ones included")
    func publishNotReady() async throws {
        let f = Fixture()
        f.api.seed(.services, Self.service(publishNotReady: true))
        f.api.seed(.pods, Self.pod("unready", ip: "10.42.0.3", ready: false), Self.pod("leaving", ip: "10.42.0.5", deleting: true))
        try await f.run {
            _ = try await f.endpointsController.reconcile("default/web")
            let subsets = f.api.stored(.endpoints, namespace: "default", name: "web")?["subsets"]?.arrayValue ?? []
            #expect(subsets.first?["addresses"]?.arrayValue?.compactMap { $0["ip"]?.stringValue } == ["10.42.0.3", "10.42.0.5"])
            #expect(subsets.first?["notReadyAddresses"] == nil)
        }
    }

    @Test("pods whose named port resolves differently land in different subsets")
    func subsetsByPorts() async throws {
        let f = Fixture()
        f.api.seed(.services, Self.service())
        f.api.seed(.pods, Self.pod("a", ip: "10.42.0.2", containerPort: 8080), Self.pod("b", ip: "10.42.0.3", containerPort: 9090))
        try await f.run {
            _ = try await f.endpointsController.reconcile("default/web")
            let subsets = f.api.stored(.endpoints, namespace: "default", name: "web")?["subsets"]?.arrayValue ?? []
            #expect(Set(subsets.compactMap { $0["ports"]?.arrayValue?.first?["port"]?.intValue }) == [8080, 9090])
        }
    }

    @Test("a deleted Service's Endpoints go; a Service without selector is left alone")
    func serviceLifecycle() async throws {
        let f = Fixture()
        f.api.seed(.services, Self.service(selector: [:]))
        f.api.seed(.endpoints, ["apiVersion": "v1", "kind": "Endpoints", "metadata": ["name": "web", "namespace": "default"],
                                "subsets": [["addresses": [["ip": "192.0.2.1"]]]]])
        try await f.run {
            _ = try await f.endpointsController.reconcile("default/web")
            #expect(f.api.writes.isEmpty, "manually managed endpoints stay")
            try await f.api.delete(.services, namespace: "default", name: "web")
            try await waitUntil("service cache") { f.services.get("default/web") == nil }
            _ = try await f.endpointsController.reconcile("default/web")
            #expect(f.api.stored(.endpoints, namespace: "default", name: "web") == nil)
        }
    }

    @Test("EndpointSlices: conditions per pod, terminating pods kept as not ready but serving, owner and labels set")
    func slices() async throws {
        let f = Fixture()
        f.api.seed(.services, Self.service(ports: [["port": 80, "targetPort": 8080, "protocol": "TCP"]]))
        f.api.seed(.pods, Self.pod("ready", ip: "10.42.0.2"), Self.pod("unready", ip: "10.42.0.3", ready: false),
            Self.pod("leaving", ip: "10.42.0.5", deleting: true))
        try await f.run {
            _ = try await f.sliceController.reconcile("default/web")
            let slices = f.api.stored(.endpointSlices, namespace: "default")
            #expect(slices.count == 1)
            let slice = try #require(slices.first)
            #expect(slice.name?.hasPrefix("web-") == true)
            #expect(slice.labels["kubernetes.io/service-name"] == "web")
            #expect(slice.labels["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io")
            #expect(slice.controllerRef?.uid == "uid-svc")
            #expect(slice["addressType"] == "IPv4")
            #expect(slice["ports"] == [["name": "", "port": 8080, "protocol": "TCP"]])
            let conditions = Dictionary(uniqueKeysWithValues: (slice["endpoints"]?.arrayValue ?? []).map {
                ($0["targetRef"]?["name"]?.stringValue ?? "", $0["conditions"] ?? .null)
            })
            #expect(conditions["ready"] == ["ready": true, "serving": true, "terminating": false])
            #expect(conditions["unready"] == ["ready": false, "serving": false, "terminating": false])
            #expect(conditions["leaving"] == ["ready": false, "serving": true, "terminating": true])
        }
    }

    @Test("EndpointSlices hold at most the configured number of endpoints, and shrink back, reusing slices")
    func sliceChunking() async throws {
        let f = Fixture(maxEndpointsPerSlice: 2)
        f.api.seed(.services, Self.service(ports: [["port": 80, "protocol": "TCP"]]))
        for i in 0..<5 { f.api.seed(.pods, Self.pod("p\(i)", ip: "10.42.0.\(10 + i)")) }
        try await f.run {
            _ = try await f.sliceController.reconcile("default/web")
            var slices = f.api.stored(.endpointSlices, namespace: "default")
            #expect(slices.map { $0["endpoints"]?.arrayValue?.count ?? 0 }.sorted() == [1, 2, 2])
            // A second sync right away (the cache not caught up yet) creates nothing more.
            let creates = f.api.writes.filter { $0.verb == "create" }.count
            _ = try await f.sliceController.reconcile("default/web")
            #expect(f.api.writes.filter { $0.verb == "create" }.count == creates)

            for i in 0..<4 { try await f.api.delete(.pods, namespace: "default", name: "p\(i)") }
            try await waitUntil("pod cache") { f.pods.list().count == 1 }
            try await f.slicesCaughtUp()
            let before = Set(slices.compactMap(\.name))
            _ = try await f.sliceController.reconcile("default/web")
            slices = f.api.stored(.endpointSlices, namespace: "default")
            #expect(slices.count == 1)
            #expect(slices.first?["endpoints"]?.arrayValue?.count == 1)
            #expect(before.contains(slices.first?.name ?? ""), "an existing slice was reused")
        }
    }
}
