import ArgumentParser
import Foundation
import KeelsonAPIServer
import KeelsonClient
import KeelsonControllers
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
        let store: any Store
        let closeStore: @Sendable () async throws -> Void
        do {
            (store, closeStore) = try config.datastore.open(logger: Logger(label: "keelson.store"))
        } catch {
            FileHandle.standardError.write(Data("keelson: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let host = config.bindAddress
        let kubeconfigPath = config.kubeconfigPath
        let kubeconfigMode = config.kubeconfigMode
        var apiConfiguration = APIServerConfiguration(host: host, port: config.port)
        apiConfiguration.serviceRange = config.serviceRange
        apiConfiguration.nodePortRange = config.nodePortRange
        apiConfiguration.eventTTL = config.eventTTL
        apiConfiguration.clusterDNS = agent.clusterDns
        apiConfiguration.defaultTolerationSeconds = DefaultTolerationSeconds(notReadySeconds: config.defaultNotReadyTolerationSeconds,
            unreachableSeconds: config.defaultUnreachableTolerationSeconds)
        let apiServer = APIServer(
            configuration: apiConfiguration, store: store, logger: Logger(label: "keelson.apiserver"),
            onListening: { port in
                let address = host.contains(":") ? "[\(host)]" : host
                do {
                    try Kubeconfig.write(server: "http://\(address):\(port)", to: kubeconfigPath, mode: kubeconfigMode)
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
        // In-process components still talk to the API server over its REST API, as in Kubernetes; each has its
        // own client (and connection pool), as separate processes would.
        var clients: [APIClient] = []
        func loopbackClient(_ userAgent: String) -> APIClient {
            let loopback = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
            let address = loopback.contains(":") ? "[\(loopback)]" : loopback
            let client = APIClient(configuration: ClientConfiguration(server: "http://\(address):\(config.port)", userAgent: userAgent))
            clients.append(client)
            return client
        }
        if config.runControllerManager {
            var controllers = ControllerManager.Configuration(
                leaderElection: .init(name: ControllerManager.leaseName, identity: LeaderElector.defaultIdentity()))
            controllers.clusterRange = config.clusterRange
            controllers.nodeLifecycle.gracePeriod = config.nodeMonitorGracePeriod
            services.append(.init(service: ControllerManager(client: loopbackClient("keelson-controller-manager"),
                logger: Logger(label: "keelson.controllers"), configuration: controllers)))
        }
        if config.runScheduler {
            services.append(.init(service: SchedulerService(client: loopbackClient("keelson-scheduler"),
                leaderElection: .init(name: Scheduler.leaseName, identity: LeaderElector.defaultIdentity()),
                profiles: config.schedulerProfiles, logger: Logger(label: "keelson.scheduler"))))
        }
        if !flags.disableAgent {
            do {
                for service in try AgentServices.make(client: loopbackClient("keelson-agent"), flags: agent, dataDir: config.dataDir,
                    clusterCIDR: flags.clusterCidr, controlPlane: true) {
                    services.append(.init(service: service))
                }
            } catch {
                for client in clients { try? await client.shutdown() }
                try? await closeStore()
                FileHandle.standardError.write(Data("keelson: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            // The HTTP client must be shut down on every path, or its deinit traps.
            for client in clients { try? await client.shutdown() }
            try? await closeStore()
            FileHandle.standardError.write(Data("keelson: \(error)\n".utf8))
            throw ExitCode(1)
        }
        for client in clients { try await client.shutdown() }
        try await closeStore()
    }
}
