import KeelsonAPI
import KeelsonClient
import Logging
import ServiceLifecycle

/// The controller manager: shared informers plus each controller's runner, in one service. Waits for the API
/// server to answer before starting, since it only ever talks to it through the REST API.
public struct ControllerManager: Service {
    let client: APIClient
    let logger: Logger

    public init(client: APIClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func run() async throws {
        try await waitForAPIServer()
        let namespaces = Informer(client: client, resource: .namespaces, logger: logger)
        let serviceAccounts = Informer(client: client, resource: .serviceAccounts, logger: logger)

        let namespaceController = NamespaceController(client: client, namespaces: namespaces, logger: logger)
        let namespaceQueue = WorkQueue<String>(name: NamespaceController.name)
        namespaceController.register(namespaceQueue)

        let serviceAccountController = ServiceAccountController(client: client, namespaces: namespaces,
            serviceAccounts: serviceAccounts, logger: logger)
        let serviceAccountQueue = WorkQueue<String>(name: ServiceAccountController.name)
        serviceAccountController.register(serviceAccountQueue)

        let services: [any Service] = [
            namespaces, serviceAccounts,
            ControllerRunner(name: NamespaceController.name, queue: namespaceQueue, waitFor: [namespaces], logger: logger,
                reconcile: namespaceController.reconcile),
            ControllerRunner(name: ServiceAccountController.name, queue: serviceAccountQueue,
                waitFor: [namespaces, serviceAccounts], logger: logger, reconcile: serviceAccountController.reconcile),
        ]
        try await withThrowingDiscardingTaskGroup { group in
            for service in services {
                group.addTask { try await service.run() }
            }
        }
    }

    private func waitForAPIServer() async throws {
        var delay = Duration.milliseconds(20)
        while true {
            do {
                _ = try await client.raw(.GET, "/version")
                return
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { throw CancellationError() }
                let wait = delay
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                delay = min(delay * 2, .seconds(1))
            }
        }
    }
}
