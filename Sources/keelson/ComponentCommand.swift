import ArgumentParser
import KeelsonClient
import Logging
import ServiceLifecycle

/// What `keelson controller-manager`, `scheduler` and `simulate-nodes` share: logging at the chosen level, a client
/// from the kubeconfig, and one service run until SIGTERM or SIGINT, the client shut down on every path.
enum ComponentCommand {
    static func run(kubeconfig: String, userAgent: String, logLevel: String, label: String,
        service: (APIClient, Logger) throws -> any Service) async throws
    {
        try await run(kubeconfig: kubeconfig, userAgent: userAgent, logLevel: logLevel, label: label) { client, logger in
            [try service(client, logger)]
        }
    }

    static func run(kubeconfig: String, userAgent: String, logLevel: String, label: String,
        services: (APIClient, Logger) throws -> [any Service]) async throws
    {
        let level = Logger.Level(rawValue: logLevel) ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: label)
        let configuration: ClientConfiguration
        do {
            configuration = try ClientConfiguration.kubeconfig(at: kubeconfig, userAgent: userAgent)
        } catch {
            throw ValidationError("--kubeconfig \(kubeconfig): \(error)")
        }
        let client = APIClient(configuration: configuration)
        do {
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(
                services: try services(client, logger).map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    static func validateLogLevel(_ level: String) throws {
        guard Logger.Level(rawValue: level) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }
}
