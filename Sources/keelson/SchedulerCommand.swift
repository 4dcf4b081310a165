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
        try ComponentCommand.validateLogLevel(logLevel)
    }

    func run() async throws {
        var profiles = [SchedulingProfile.defaultProfile()]
        if let config {
            do {
                profiles = try SchedulerConfiguration.profiles(from: YAMLFile.load(config))
            } catch {
                throw ValidationError("--config \(config): \(error)")
            }
        }
        try await ComponentCommand.run(kubeconfig: kubeconfig, userAgent: "keelson-scheduler", logLevel: logLevel, label: "keelson.scheduler") {
            client, logger in
            let election: LeaderElector.Configuration? = leaderElect ? .init(name: Scheduler.leaseName, identity: LeaderElector.defaultIdentity()) : nil
            return SchedulerService(client: client, leaderElection: election, profiles: profiles, logger: logger)
        }
    }
}
