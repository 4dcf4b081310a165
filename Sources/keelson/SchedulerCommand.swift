import ArgumentParser
import Foundation
import KeelsonClient
import KeelsonScheduler
import Logging
import ServiceLifecycle

/// `keelson scheduler`: the scheduler on its own, against any API server a kubeconfig names, with leader election
/// so several can run for availability.
struct SchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scheduler", abstract: "Run the scheduler against an API server.")

    @Option(help: "Path to the kubeconfig naming the API server and credentials")
    var kubeconfig: String

    @Option(help: "A KubeSchedulerConfiguration file: profiles, plugins and score weights")
    var config: String?

    @Flag(inversion: .prefixedNo, help: "Elect a leader through the kube-system/kube-scheduler Lease")
    var leaderElect = true

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical")
    var logLevel: String = "warning"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical") }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "keelson.scheduler")
        let configuration: ClientConfiguration
        do {
            configuration = try ClientConfiguration.kubeconfig(at: kubeconfig, userAgent: "keelson-scheduler")
        } catch {
            throw ValidationError("--kubeconfig \(kubeconfig): \(error)")
        }
        var profiles = [SchedulingProfile.defaultProfile()]
        if let config {
            do {
                profiles = try SchedulerConfiguration.profiles(from: YAMLFile.load(config))
            } catch {
                throw ValidationError("--config \(config): \(error)")
            }
        }
        let client = APIClient(configuration: configuration)
        let election: LeaderElector.Configuration? = leaderElect ? .init(name: Scheduler.leaseName, identity: LeaderElector.defaultIdentity()) : nil
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: SchedulerService(client: client, leaderElection: election, profiles: profiles, logger: logger))],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}
