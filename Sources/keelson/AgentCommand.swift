import ArgumentParser
import Foundation
import KeelsonClient
import ServiceLifecycle

/// `keelson agent`: a node that joins a cluster — its own containerd, the kubelet and the kubelet API.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent",
        abstract: "Run a node agent: containerd, the kubelet and its API, joined to a Keelson server.")

    @Option(help: "(cluster) Server to connect to (e.g. http://10.0.0.1:6443); or use --kubeconfig")
    var server: String?

    @Option(help: "(cluster) Token to join the cluster with (checked once authentication lands; accepted now)")
    var token: String?

    @Option(help: "(cluster) A kubeconfig naming the server and credentials, instead of --server")
    var kubeconfig: String?

    @Option(help: "(data) Folder to hold state")
    var dataDir: String = "/var/lib/keelson"

    @Option(help: "(logging) Log level: trace, debug, info, notice, warning, error, critical")
    var logLevel: String = "warning"

    @Option(help: "(networking) IPv4 network CIDR of the cluster's pods (the server's --cluster-cidr)")
    var clusterCidr: String = "10.42.0.0/16"

    @OptionGroup var agent: AgentFlags

    func validate() throws {
        guard (server == nil) != (kubeconfig == nil) else { throw ValidationError("give either --server or --kubeconfig") }
        try ComponentCommand.validateLogLevel(logLevel)
    }

    func run() async throws {
        let kubeconfigPath: String
        if let kubeconfig {
            kubeconfigPath = kubeconfig
        } else {
            // The agent keeps its own kubeconfig for the server it joined, as k3s does.
            kubeconfigPath = (dataDir as NSString).appendingPathComponent("agent/kubeconfig.yaml")
            try FileManager.default.createDirectory(atPath: (kubeconfigPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Kubeconfig.write(server: server ?? "", to: kubeconfigPath, mode: 0o600)
        }
        try await ComponentCommand.run(kubeconfig: kubeconfigPath, userAgent: "keelson-agent", logLevel: logLevel, label: "keelson.agent") { (client: APIClient, _) -> [any Service] in
            do {
                return try AgentServices.make(client: client, flags: agent, dataDir: dataDir, clusterCIDR: clusterCidr, controlPlane: false)
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }
}
