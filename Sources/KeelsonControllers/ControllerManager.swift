import KeelsonAPI
import KeelsonClient
import Logging
import ServiceLifecycle

/// The controller manager: shared informers, the event recorder and each controller's runner, in one service.
/// Waits for the API server to answer before starting, since it only ever talks to it through the REST API.
public struct ControllerManager: Service {
    let client: any KubernetesClient
    let logger: Logger

    public init(client: any KubernetesClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func run() async throws {
        try await waitForAPIServer()
        let informers = SharedInformers(client: client, logger: logger)
        let events = EventRecorder(client: client, component: "keelson-controller-manager", logger: logger)
        var runners: [ControllerRunner] = []
        func add(_ name: String, workers: Int = 2, waitFor: [Informer], register: (WorkQueue<String>) -> Void,
            reconcile: @escaping @Sendable (String) async throws -> ReconcileResult)
        {
            let queue = WorkQueue<String>(name: name)
            register(queue)
            runners.append(ControllerRunner(name: name, queue: queue, workers: workers, waitFor: waitFor, logger: logger, reconcile: reconcile))
        }

        let namespace = NamespaceController(client: client, namespaces: informers.namespaces, logger: logger)
        add(NamespaceController.name, waitFor: [informers.namespaces], register: namespace.register, reconcile: namespace.reconcile)

        let serviceAccount = ServiceAccountController(client: client, namespaces: informers.namespaces,
            serviceAccounts: informers.serviceAccounts, logger: logger)
        add(ServiceAccountController.name, waitFor: [informers.namespaces, informers.serviceAccounts],
            register: serviceAccount.register, reconcile: serviceAccount.reconcile)

        let replicaSet = ReplicaSetController(client: client, replicaSets: informers.replicaSets, pods: informers.pods,
            events: events, logger: logger)
        add(ReplicaSetController.name, workers: 5, waitFor: [informers.replicaSets, informers.pods],
            register: replicaSet.register, reconcile: replicaSet.reconcile)

        let deployment = DeploymentController(client: client, deployments: informers.deployments, replicaSets: informers.replicaSets,
            pods: informers.pods, events: events, logger: logger)
        add(DeploymentController.name, workers: 5, waitFor: [informers.deployments, informers.replicaSets, informers.pods],
            register: deployment.register, reconcile: deployment.reconcile)

        let services: [any Service] = informers.all + [events] + runners
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

/// One informer per resource, shared by every controller that reads it (client-go's shared informer factory), with
/// the indexes the controllers look things up by.
struct SharedInformers {
    let namespaces: Informer
    let serviceAccounts: Informer
    let pods: Informer
    let replicaSets: Informer
    let deployments: Informer

    init(client: any KubernetesClient, logger: Logger) {
        namespaces = Informer(client: client, resource: .namespaces, logger: logger)
        serviceAccounts = Informer(client: client, resource: .serviceAccounts, logger: logger)
        pods = Informer(client: client, resource: .pods, logger: logger)
        pods.addIndex(.ownerUID)
        replicaSets = Informer(client: client, resource: .replicaSets, logger: logger)
        replicaSets.addIndex(.ownerUID)
        deployments = Informer(client: client, resource: .deployments, logger: logger)
    }

    var all: [Informer] { [namespaces, serviceAccounts, pods, replicaSets, deployments] }
}
