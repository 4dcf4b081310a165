import ArgumentParser

@main
struct Keelson: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "keelson",
        abstract: "A Kubernetes-compatible container orchestrator in one binary.",
        version: version,
        subcommands: [ServerCommand.self, AgentCommand.self, ControllerManagerCommand.self, SchedulerCommand.self, SimulateNodesCommand.self, TopCommand.self, SecretsEncryptCommand.self,
            EtcdSnapshotCommand.self, ProxyCommand.self]
    )
}
