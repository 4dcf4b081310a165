import KeelsonAPI
import Testing
@testable import KeelsonProxy

@Suite("service snapshot")
struct ServiceSnapshotTests {
    @Test("Services and EndpointSlices become one proxied port per service port, with each port's endpoints and conditions; node-local and headless services are left out")
    func build() {
        let services: [JSONValue] = [
            ["metadata": ["name": "web", "namespace": "shop"],
             "spec": ["type": "NodePort", "clusterIP": "10.43.0.10", "sessionAffinity": "ClientIP",
                      "externalTrafficPolicy": "Local", "externalIPs": ["192.0.2.7"],
                      "ports": [["name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"],
                                ["name": "metrics", "port": 9090, "protocol": "TCP"]]]],
            ["metadata": ["name": "headless", "namespace": "shop"], "spec": ["clusterIP": "None", "ports": [["port": 80]]]],
            ["metadata": ["name": "alias", "namespace": "shop"], "spec": ["type": "ExternalName", "externalName": "example.com"]],
            ["metadata": ["name": "kube-dns", "namespace": "kube-system", "annotations": ["keelson.io/node-local": "true"]],
             "spec": ["clusterIP": "10.43.0.10", "ports": [["name": "dns", "port": 53, "protocol": "UDP"]]]],
        ]
        let slices: [JSONValue] = [
            ["metadata": ["name": "web-abc", "namespace": "shop", "labels": ["kubernetes.io/service-name": "web"]],
             "addressType": "IPv4",
             "ports": [["name": "http", "port": 8080, "protocol": "TCP"], ["name": "metrics", "port": 9100, "protocol": "TCP"]],
             "endpoints": [
                ["addresses": ["10.42.0.5"], "conditions": ["ready": true], "nodeName": "node-1"],
                ["addresses": ["10.42.1.5"], "conditions": ["ready": false, "serving": true, "terminating": true], "nodeName": "node-2"],
             ]],
            ["metadata": ["name": "other", "namespace": "elsewhere", "labels": ["kubernetes.io/service-name": "web"]],
             "addressType": "IPv4", "ports": [["name": "http", "port": 1, "protocol": "TCP"]],
             "endpoints": [["addresses": ["10.42.9.9"]]]],
        ]
        let proxied = ServiceSnapshot.build(services: services, slices: slices, nodeName: "node-1").sorted { $0.name < $1.name }
        #expect(proxied.map(\.name.description) == ["shop/web:http", "shop/web:metrics"])
        let http = proxied[0]
        #expect(http.clusterIP == "10.43.0.10" && http.port == 80 && http.nodePort == 30080)
        #expect(http.affinitySeconds == 10800 && http.externalLocal && !http.internalLocal && http.externalIPs == ["192.0.2.7"])
        #expect(http.endpoints == [
            .init(ip: "10.42.0.5", port: 8080, ready: true, serving: true, terminating: false, isLocal: true),
            .init(ip: "10.42.1.5", port: 8080, ready: false, serving: true, terminating: true, isLocal: false),
        ])
        #expect(proxied[1].endpoints.map(\.port) == [9100, 9100])
        #expect(proxied[1].nodePort == nil)
    }
}
