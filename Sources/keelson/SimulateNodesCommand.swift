import ArgumentParser
import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonKubelet
import Logging
import ServiceLifecycle

/// `keelson simulate-nodes`: many simulated nodes in one process, for scale tests and benchmarks.
struct SimulateNodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "simulate-nodes",
        abstract: "Run simulated nodes: Node objects, Lease heartbeats, pods marked Running without containers.")

    @Option(help: "Path to the kubeconfig naming the API server and credentials") var kubeconfig: String
    @Option(help: "How many nodes") var count: Int = 10
    @Option(help: "Node name prefix") var namePrefix: String = "sim-node-"
    @Option(help: "CPU of each node") var cpu: String = "32"
    @Option(help: "Memory of each node") var memory: String = "256Gi"
    @Option(help: "Pods per node") var pods: Int = 110
    @Option(help: "How long a pod takes to start (e.g. 0s, 500ms)") var startDelay: String = "0s"
    @Option(help: "Spread the nodes over this many zones (topology.kubernetes.io/zone=zone-K); 0 for no zone label") var zones: Int = 0
    @Option(help: "Log level") var logLevel: String = "warning"

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive") }
        guard Quantity(cpu) != nil, Quantity(memory) != nil else { throw ValidationError("--cpu and --memory must be quantities such as 32 and 256Gi") }
        guard GoDuration.parse(startDelay) != nil else { throw ValidationError("--start-delay must be a duration such as 500ms") }
        try ComponentCommand.validateLogLevel(logLevel)
    }

    func run() async throws {
        try await ComponentCommand.run(kubeconfig: kubeconfig, userAgent: "keelson-simulated-nodes", logLevel: logLevel,
            label: "keelson.simulated-nodes")
        { client, logger in
            var nodes = SimulatedNodes.Configuration(count: count)
            nodes.namePrefix = namePrefix
            nodes.cpu = cpu
            nodes.memory = memory
            nodes.pods = pods
            nodes.startDelay = GoDuration.parse(startDelay) ?? .zero
            if zones > 0 {
                let zones = self.zones
                nodes.labels = { i in ["topology.kubernetes.io/zone": "zone-\(i % zones)"] }
            }
            return SimulatedNodes(client: client, configuration: nodes, logger: logger)
        }
    }
}
