import ArgumentParser
import Foundation
import KeelsonClient
import KeelsonKubelet
import Logging
import ServiceLifecycle

/// `keelson agent`: a node that joins a cluster — its own containerd, the kubelet and the kubelet API.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent",
        abstract: "Run a node agent: containerd, the kubelet and its API, joined to a Keelson server.")

    @Option(help: "(cluster) Server to connect to (e.g. https://10.0.0.1:6443); or use --kubeconfig")
    var server: String?

    @Option(help: "(cluster) Token to join the cluster with (the server's DATA_DIR/server/token)")
    var token: String?

    @Option(help: "(cluster) File holding the join token")
    var tokenFile: String?

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
        if server != nil && token == nil && tokenFile == nil { throw ValidationError("--server needs --token or --token-file to join") }
        try ComponentCommand.validateLogLevel(logLevel)
    }

    func run() async throws {
        let kubeconfigPath: String
        let agentDirectory = (dataDir as NSString).appendingPathComponent("agent")
        let nodeName = (agent.nodeName ?? ProcessInfo.processInfo.hostName).lowercased()
        if let kubeconfig {
            kubeconfigPath = kubeconfig
        } else {
            // The agent keeps its own kubeconfig for the server it joined, as k3s does, with the client certificate
            // it obtained with the join token.
            kubeconfigPath = (agentDirectory as NSString).appendingPathComponent("kubeconfig.yaml")
            let server = self.server ?? ""
            var joinToken = token ?? ""
            if let tokenFile {
                do {
                    joinToken = try String(contentsOfFile: tokenFile, encoding: .utf8)
                } catch {
                    throw ValidationError("--token-file \(tokenFile): \(error.localizedDescription)")
                }
            }
            let join = NodeJoin(server: server, token: joinToken, nodeName: nodeName,
                directory: (agentDirectory as NSString).appendingPathComponent("tls"))
            let credentials: NodeJoin.Credentials
            do {
                var logger = Logger(label: "keelson.agent")
                logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
                credentials = try await join.credentials(logger: logger)
            } catch {
                FileHandle.standardError.write(Data("keelson: cannot join \(server): \(error)\n".utf8))
                throw ExitCode(1)
            }
            try Kubeconfig.write(server: server, credentials: Kubeconfig.Credentials(certificateAuthorityPEM: credentials.serverCAPEM,
                clientCertificatePEM: credentials.certificatePEM, clientKeyPEM: credentials.keyPEM), to: kubeconfigPath, mode: 0o600)
        }
        // The kubelet's API serves HTTPS with a certificate the node asks the server for (its Node must report the
        // address), and admits clients of the server CA: the API server.
        let serverCAPEM: String
        do {
            guard let pem = try ClientConfiguration.kubeconfig(at: kubeconfigPath).certificateAuthorityPEM else {
                throw ValidationError("\(kubeconfigPath) names no certificate authority for the server")
            }
            serverCAPEM = pem
        } catch {
            throw ValidationError("\(error)")
        }
        let tlsDirectory = (agentDirectory as NSString).appendingPathComponent("tls")
        try await ComponentCommand.run(kubeconfig: kubeconfigPath, userAgent: "keelson-agent", logLevel: logLevel, label: "keelson.agent") { (client: APIClient, logger) -> [any Service] in
            let serving = NodeJoin(server: "", token: "", nodeName: nodeName, directory: tlsDirectory)
            let kubeletTLS: AgentServices.ServingTLS = { nodeIP in
                let issued = try await serving.servingCertificate(client: client, nodeIP: nodeIP, logger: logger)
                return KubeletServingTLS(certificatePEM: issued.certificatePEM, keyPEM: issued.keyPEM, clientCAPEM: serverCAPEM)
            }
            do {
                return try AgentServices.make(client: client, flags: agent, dataDir: dataDir, clusterCIDR: clusterCidr, kubeletTLS: kubeletTLS)
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }
}
