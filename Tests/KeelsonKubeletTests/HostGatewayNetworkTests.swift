import Foundation
import KeelsonAPI
import KeelsonTestKit
import Logging
import Testing
@testable import KeelsonKubelet

@Suite("host-gw pod network")
struct HostGatewayNetworkTests {
    static func node(_ name: String, cidr: String?, address: String?) -> JSONValue {
        var node: JSONValue = ["metadata": ["name": .string(name)], "spec": [:], "status": ["addresses": [["type": "Hostname", "address": .string(name)]]]]
        if let cidr { node.setValue(.string(cidr), at: ["spec", "podCIDR"]) }
        if let address {
            node.setValue(["addresses": [["type": "Hostname", "address": .string(name)], ["type": "InternalIP", "address": .string(address)]]],
                          at: ["status"])
        }
        return node
    }

    @Test("every other node's pod CIDR goes through its InternalIP; nodes without either are skipped")
    func routes() {
        let routes = HostGatewayNetwork.routes(nodes: [
            Self.node("self", cidr: "10.42.0.0/24", address: "192.0.2.1"),
            Self.node("b", cidr: "10.42.1.0/24", address: "192.0.2.2"),
            Self.node("no-cidr", cidr: nil, address: "192.0.2.3"),
            Self.node("no-address", cidr: "10.42.3.0/24", address: nil),
        ], except: "self")
        #expect(routes == ["10.42.1.0/24": "192.0.2.2"])
    }

    @Test("in a network namespace: routes are added, changed and removed; other routes are left alone; the masquerade rule is added once")
    func kernel() async throws {
        let namespace = try TestNetworkNamespace()
        defer { namespace.destroy() }
        var configuration = HostGatewayNetwork.Configuration(nodeName: "self", clusterCIDR: "10.42.0.0/16")
        configuration.commandPrefix = namespace.prefix
        let network = HostGatewayNetwork(client: FakeKubernetesAPI(), configuration: configuration, logger: Logger(label: "test"))
        try await network.run(["ip", "route", "add", "10.99.0.0/24", "via", "192.168.77.50"])
        try await network.reconcile(wanted: ["10.42.7.0/24": "192.168.77.9", "10.42.8.0/24": "192.168.77.10"])
        try await network.reconcile(wanted: ["10.42.7.0/24": "192.168.77.11"])
        let table = try await network.run(["ip", "-4", "route", "show"])
        #expect(table.contains("10.42.7.0/24 via 192.168.77.11 dev node0 proto 148"), "\(table)")
        #expect(!table.contains("10.42.8.0/24"), "\(table)")
        #expect(table.contains("10.99.0.0/24 via 192.168.77.50"), "\(table)")
        try await network.ensureMasquerade()
        try await network.ensureMasquerade()
        let nat = try await network.run(["iptables-save", "-t", "nat"])
        #expect(nat.components(separatedBy: "keelson pods leaving the cluster network").count == 2, "exactly one rule: \(nat)")
    }
}
