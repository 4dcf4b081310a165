import ArgumentParser
import Foundation
import KeelsonAPI
import KeelsonAPIServer
import KeelsonClient
import KeelsonControllers
import KeelsonKubelet
import KeelsonScheduler
import KeelsonStore
import Logging
import ServiceLifecycle

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the control plane (API server, store, scheduler, controller manager) and, unless --disable-agent, a node agent."
    )

    @OptionGroup var flags: ServerFlags
    @OptionGroup var agent: AgentFlags

    func run() async throws {
        let config: ServerConfiguration
        do {
            config = try ServerConfiguration(flags)
        } catch {
            throw ValidationError("\(error)")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = config.logLevel
            return handler
        }
        let logger = Logger(label: "keelson")
        var store: any Store
        let closeStore: @Sendable () async throws -> Void
        do {
            (store, closeStore) = try config.datastore.open(logger: Logger(label: "keelson.store"))
        } catch {
            FileHandle.standardError.write(Data("keelson: \(error)\n".utf8))
            throw ExitCode(1)
        }
        var secretsEncryption: SecretsEncryption?
        do {
            secretsEncryption = try Self.secretsEncryption(enabled: flags.secretsEncryption, dataDir: config.dataDir, store: store, logger: logger)
        } catch {
            try? await closeStore()
            FileHandle.standardError.write(Data("keelson: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if let secretsEncryption { store = secretsEncryption.store }
        let auditLog: AuditLog?
        do {
            auditLog = try Self.auditLog(flags)
        } catch {
            try? await closeStore()
            FileHandle.standardError.write(Data("keelson: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let host = config.bindAddress
        let kubeconfigPath = config.kubeconfigPath
        let kubeconfigMode = config.kubeconfigMode
        let nodeName = (agent.nodeName ?? ProcessInfo.processInfo.hostName).lowercased()
        let pki: ClusterPKI
        let security: APIServerSecurity
        do {
            (pki, security) = try ServerSecurity.make(config: config, flags: flags, agent: agent, nodeName: nodeName)
        } catch {
            try? await closeStore()
            FileHandle.standardError.write(Data("keelson: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let adminCredentials = Kubeconfig.Credentials(certificateAuthorityPEM: try pki.serverCAPEM,
            clientCertificatePEM: try pki.admin.certificatePEM, clientKeyPEM: pki.admin.keyPEM)
        var apiConfiguration = APIServerConfiguration(host: host, port: config.port)
        apiConfiguration.serviceRange = config.serviceRange
        apiConfiguration.nodePortRange = config.nodePortRange
        apiConfiguration.eventTTL = config.eventTTL
        apiConfiguration.watchCache = flags.watchCache
        apiConfiguration.clusterDNS = agent.clusterDns
        apiConfiguration.security = security
        apiConfiguration.secretsEncryption = secretsEncryption
        apiConfiguration.auditLog = auditLog
        apiConfiguration.defaultTolerationSeconds = DefaultTolerationSeconds(notReadySeconds: config.defaultNotReadyTolerationSeconds,
            unreachableSeconds: config.defaultUnreachableTolerationSeconds)
        let apiServer = APIServer(
            configuration: apiConfiguration, store: store, logger: Logger(label: "keelson.apiserver"), httpLogger: Self.httpLogger(config.logLevel),
            onListening: { port in
                let address = host.contains(":") ? "[\(host)]" : host
                do {
                    // A wildcard bind is reached on loopback, which the serving certificate names (as k3s writes it).
                    try Kubeconfig.write(server: "https://\(Self.loopback(host)):\(port)", credentials: adminCredentials, to: kubeconfigPath,
                        mode: kubeconfigMode)
                    FileHandle.standardError.write(Data("keelson: API server listening on \(address):\(port); kubeconfig written to \(kubeconfigPath)\n".utf8))
                } catch {
                    FileHandle.standardError.write(Data("keelson: cannot write kubeconfig \(kubeconfigPath): \(error)\n".utf8))
                }
            })
        // Listed store-side first: shutdown runs in reverse, so clients stop before the server they talk to.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: Compactor(store: store, logger: Logger(label: "keelson.compactor"))),
            .init(service: ExpirySweeper(store: store, logger: Logger(label: "keelson.expiry"))),
            .init(service: apiServer),
        ]
        // In-process components still talk to the API server through its REST API, as in Kubernetes, each as its
        // own user (the one its client certificate would name): every request goes through the same routing,
        // authorization, admission and audit, handed over in this process rather than through TLS on loopback.
        func loopbackClient(_ userAgent: String, user: String, groups: [String] = []) -> APIClient {
            APIClient(configuration: ClientConfiguration(server: "https://\(Self.loopback(host)):\(config.port)", userAgent: userAgent),
                transport: InProcessTransport(server: apiServer, user: UserInfo(name: user, groups: groups)))
        }
        func addComponents() throws {
            if config.runControllerManager {
                var controllers = ControllerManager.Configuration(
                    leaderElection: .init(name: ControllerManager.leaseName, identity: LeaderElector.defaultIdentity()))
                controllers.clusterRange = config.clusterRange
                controllers.nodeLifecycle.gracePeriod = config.nodeMonitorGracePeriod
                controllers.rootCAPEM = try pki.serverCAPEM
                controllers.certificateSigner = ServerSecurity.signer(pki.clientCA, servingCA: pki.serverCA)
                services.append(.init(service: ControllerManager(client: loopbackClient("keelson-controller-manager", user: "system:kube-controller-manager"),
                    logger: Logger(label: "keelson.controllers"), configuration: controllers)))
            }
            if config.runScheduler {
                services.append(.init(service: SchedulerService(client: loopbackClient("keelson-scheduler", user: "system:kube-scheduler"),
                    leaderElection: .init(name: Scheduler.leaseName, identity: LeaderElector.defaultIdentity()),
                    profiles: config.schedulerProfiles, logger: Logger(label: "keelson.scheduler"))))
            }
            if !flags.disableAgent {
                let client = loopbackClient("keelson-agent", user: "system:node:\(nodeName)", groups: ["system:nodes"])
                // The node of a server gets its kubelet serving certificate straight from the PKI.
                let serverCAPEM = try pki.serverCAPEM
                let kubeletTLS: AgentServices.ServingTLS = { [pki, nodeName] nodeIP in
                    let issued = try pki.issueKubeletServing(nodeName: nodeName, ipAddresses: [nodeIP])
                    return KubeletServingTLS(certificatePEM: try issued.certificatePEM, keyPEM: issued.keyPEM, clientCAPEM: serverCAPEM)
                }
                for service in try AgentServices.make(client: client, flags: agent, dataDir: config.dataDir,
                    clusterCIDR: flags.clusterCidr, kubeletTLS: kubeletTLS) {
                    services.append(.init(service: service))
                }
                services.append(.init(service: ControlPlaneNodeLabeler(
                    client: loopbackClient("keelson-server", user: "system:kube-controller-manager"), nodeName: nodeName,
                    logger: Logger(label: "keelson.labels"))))
            }
        }
        do {
            try addComponents()
        } catch {
            try? await closeStore()
            FileHandle.standardError.write(Data("keelson: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            try? await closeStore()
            FileHandle.standardError.write(Data("keelson: \(error)\n".utf8))
            throw ExitCode(1)
        }
        try await closeStore()
    }
}

extension ServerCommand {
    /// The HTTP server's own log: each connection that fails (a client that gives up its TLS handshake, a scanner)
    /// would be an error line; kube-apiserver mentions them only when asked for detail, and so does Keelson.
    static func httpLogger(_ level: Logger.Level) -> Logger {
        var logger = Logger(label: "keelson.apiserver.http")
        logger.logLevel = level <= .debug ? level : .critical
        return logger
    }

    /// The encrypting store over `store` when `--secrets-encryption` is given or was given before: once Secrets
    /// are stored encrypted, a start without the flag still needs the keys to read them, so the keys' file
    /// keeps encryption on (with a warning) rather than leaving those Secrets unreadable.
    static func secretsEncryption(enabled: Bool, dataDir: String, store: any Store, logger: Logger) throws -> SecretsEncryption? {
        let path = (dataDir as NSString).appendingPathComponent("server/cred/encryption-config.json")
        let exists = FileManager.default.fileExists(atPath: path)
        guard enabled || exists else { return nil }
        if !enabled {
            logger.warning("secrets encryption stays on: its keys' file exists", metadata: ["file": "\(path)"])
        }
        let configuration = try EncryptionConfiguration.loadOrCreate(path: path)
        return SecretsEncryption(store: EncryptingStore(base: store, configuration: configuration), configurationPath: path)
    }

    static func auditLog(_ flags: ServerFlags) throws -> AuditLog? {
        guard let path = flags.auditLogPath else {
            if flags.auditPolicyFile != nil { throw ValidationError("--audit-policy-file needs --audit-log-path") }
            return nil
        }
        var policy = AuditPolicy.metadataForAll
        if let file = flags.auditPolicyFile {
            let document: JSONValue
            do {
                document = try YAMLFile.load(file)
            } catch {
                throw ValidationError("--audit-policy-file \(file): \(error)")
            }
            policy = try AuditPolicy(document: document, source: file)
        }
        let configuration = AuditLog.Configuration(path: path, policy: policy,
            maxBytes: flags.auditLogMaxsize > 0 ? flags.auditLogMaxsize * 1024 * 1024 : nil, maxBackups: max(0, flags.auditLogMaxbackup))
        return try AuditLog(configuration: configuration, logger: Logger(label: "keelson.audit"))
    }

    /// Where a local client reaches a server bound to `host`, bracketed for a URL.
    static func loopback(_ host: String) -> String {
        let address = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
        return address.contains(":") ? "[\(address)]" : address
    }
}
