import KeelsonAPI
import KeelsonClient
import Logging
import ServiceLifecycle

/// The controller manager: shared informers, the event recorder and each controller's runner, in one service.
/// Waits for the API server to answer before starting, since it only ever talks to it through the REST API.
///
/// With `leaderElection`, only the holder of the `kube-system/kube-controller-manager` Lease runs controllers, so
/// several control planes can share a store; the others wait and take over within the lease duration.
public struct ControllerManager: Service {
    public static let leaseName = "kube-controller-manager"

    /// The settings kube-controller-manager takes as flags.
    public struct Configuration: Sendable {
        public var leaderElection: LeaderElector.Configuration?
        /// Where nodes' pod networks come from (`--cluster-cidr`), in `/nodeCIDRMaskSize` blocks.
        public var clusterRange = IPv4Range("10.42.0.0/16")!
        public var nodeCIDRMaskSize = 24
        public var nodeLifecycle = NodeLifecycleController.Configuration()
        /// Finished pods kept before the oldest are deleted (`--terminated-pod-gc-threshold`).
        public var terminatedPodThreshold = 12_500
        /// Signs approved certificate requests; without one (a controller manager without the CA's key) requests
        /// wait for another signer.
        public var certificateSigner: CertificateSigner?
        /// The CA of the API server's certificate, published in every namespace as `kube-root-ca.crt`; nil publishes
        /// nothing.
        public var rootCAPEM: String?

        public init(leaderElection: LeaderElector.Configuration? = nil) {
            self.leaderElection = leaderElection
        }
    }

    let client: any KubernetesClient
    let logger: Logger
    let configuration: Configuration

    public init(client: any KubernetesClient, logger: Logger, configuration: Configuration = Configuration()) {
        self.client = client
        self.logger = logger
        self.configuration = configuration
    }

    public func run() async throws {
        do {
            try await client.waitUntilReachable()
            if let leaderElection = configuration.leaderElection {
                try await LeaderElector(client: client, configuration: leaderElection, logger: logger).run { try await runControllers() }
            } else {
                try await runControllers()
            }
        } catch is CancellationError where Task.isShuttingDownGracefully || Task.isCancelled {
            // Stopped before or while starting (waiting for the server, discovering its resources): a clean stop,
            // not a failure of the process.
        }
    }

    private func runControllers() async throws {
        var informers = SharedInformers(client: client, logger: logger)
        let namespaces = informers.informer(.namespaces), serviceAccounts = informers.informer(.serviceAccounts)
        let pods = informers.informer(.pods), replicaSets = informers.informer(.replicaSets), deployments = informers.informer(.deployments)
        let services = informers.informer(.services), endpoints = informers.informer(.endpoints)
        let endpointSlices = informers.informer(.endpointSlices), jobs = informers.informer(.jobs)
        let cronJobs = informers.informer(.cronJobs), nodes = informers.informer(.nodes), leases = informers.informer(.leases)
        pods.addIndex(.nodeName)
        let daemonSets = informers.informer(.daemonSets), revisions = informers.informer(.controllerRevisions)
        revisions.addIndex(.ownerUID)
        let statefulSets = informers.informer(.statefulSets), claims = informers.informer(.persistentVolumeClaims)
        let budgets = informers.informer(.podDisruptionBudgets)
        budgets.addIndex(.namespace)
        let quotas = informers.informer(.resourceQuotas)
        quotas.addIndex(.namespace)
        claims.addIndex(.namespace)
        jobs.addIndex(.ownerUID)
        pods.addIndex(.ownerUID)
        pods.addIndex(.namespace)
        replicaSets.addIndex(.ownerUID)
        services.addIndex(.namespace)
        endpointSlices.addIndex(EndpointSliceController.serviceIndex)
        let events = EventRecorder(client: client, component: "keelson-controller-manager", logger: logger)
        var runners: [ControllerRunner] = []
        func add(_ name: String, workers: Int = 2, waitFor: [Informer], register: (WorkQueue<String>) -> Void,
            reconcile: @escaping @Sendable (String) async throws -> ReconcileResult)
        {
            let queue = WorkQueue<String>(name: name)
            register(queue)
            runners.append(ControllerRunner(name: name, queue: queue, workers: workers, waitFor: waitFor, logger: logger, reconcile: reconcile))
        }

        let namespace = NamespaceController(client: client, namespaces: namespaces, logger: logger)
        add(NamespaceController.name, waitFor: [namespaces], register: namespace.register, reconcile: namespace.reconcile)

        let serviceAccount = ServiceAccountController(client: client, namespaces: namespaces,
            serviceAccounts: serviceAccounts, logger: logger)
        add(ServiceAccountController.name, waitFor: [namespaces, serviceAccounts],
            register: serviceAccount.register, reconcile: serviceAccount.reconcile)

        let replicaSet = ReplicaSetController(client: client, replicaSets: replicaSets, pods: pods,
            events: events, logger: logger)
        add(ReplicaSetController.name, workers: 5, waitFor: [replicaSets, pods],
            register: replicaSet.register, reconcile: replicaSet.reconcile)

        let deployment = DeploymentController(client: client, deployments: deployments, replicaSets: replicaSets,
            pods: pods, events: events, logger: logger)
        add(DeploymentController.name, workers: 5, waitFor: [deployments, replicaSets, pods],
            register: deployment.register, reconcile: deployment.reconcile)

        let endpointsController = EndpointsController(client: client, services: services, pods: pods, endpoints: endpoints, logger: logger)
        add(EndpointsController.name, workers: 5, waitFor: [services, pods, endpoints],
            register: endpointsController.register, reconcile: endpointsController.reconcile)

        let sliceController = EndpointSliceController(client: client, services: services, pods: pods, slices: endpointSlices, logger: logger)
        add(EndpointSliceController.name, workers: 5, waitFor: [services, pods, endpointSlices],
            register: sliceController.register, reconcile: sliceController.reconcile)

        let job = JobController(client: client, jobs: jobs, pods: pods, events: events, logger: logger)
        add(JobController.name, workers: 5, waitFor: [jobs, pods], register: job.register, reconcile: job.reconcile)

        let cronJob = CronJobController(client: client, cronJobs: cronJobs, jobs: jobs, events: events, logger: logger)
        add(CronJobController.name, workers: 2, waitFor: [cronJobs, jobs], register: cronJob.register, reconcile: cronJob.reconcile)

        let lifecycle = NodeLifecycleController(client: client, nodes: nodes, leases: leases, pods: pods, events: events,
            configuration: configuration.nodeLifecycle, logger: logger)
        add(NodeLifecycleController.name, workers: 4, waitFor: [nodes, leases, pods], register: lifecycle.register, reconcile: lifecycle.reconcile)

        let ipam = NodeIPAMController(client: client, nodes: nodes, clusterRange: configuration.clusterRange,
            maskSize: configuration.nodeCIDRMaskSize, logger: logger)
        add(NodeIPAMController.name, workers: 1, waitFor: [nodes], register: ipam.register, reconcile: ipam.reconcile)

        let podGC = PodGCController(client: client, pods: pods, nodes: nodes, terminatedPodThreshold: configuration.terminatedPodThreshold,
            logger: logger)
        add(PodGCController.name, workers: 1, waitFor: [pods, nodes], register: podGC.register, reconcile: podGC.reconcile)

        let daemonSet = DaemonSetController(client: client, daemonSets: daemonSets, nodes: nodes, pods: pods, revisions: revisions,
            events: events, logger: logger)
        add(DaemonSetController.name, workers: 2, waitFor: [daemonSets, nodes, pods, revisions], register: daemonSet.register,
            reconcile: daemonSet.reconcile)

        let statefulSet = StatefulSetController(client: client, statefulSets: statefulSets, pods: pods, claims: claims,
            revisions: revisions, events: events, logger: logger)
        add(StatefulSetController.name, workers: 2, waitFor: [statefulSets, pods, claims, revisions], register: statefulSet.register,
            reconcile: statefulSet.reconcile)

        let disruption = DisruptionController(client: client, budgets: budgets, pods: pods, replicaSets: replicaSets,
            deployments: deployments, statefulSets: statefulSets, logger: logger)
        add(DisruptionController.name, workers: 2, waitFor: [budgets, pods, replicaSets, deployments, statefulSets],
            register: disruption.register, reconcile: disruption.reconcile)

        let quota = ResourceQuotaController(client: client, quotas: quotas, pods: pods, services: services, claims: claims, logger: logger)
        add(ResourceQuotaController.name, workers: 2, waitFor: [quotas, pods, services, claims], register: quota.register,
            reconcile: quota.reconcile)

        let serviceLB = ServiceLBController(client: client, services: services, nodes: nodes, logger: logger)
        add(ServiceLBController.name, workers: 1, waitFor: [services, nodes], register: serviceLB.register, reconcile: serviceLB.reconcile)

        let clusterRoles = informers.informer(.clusterRoles)
        let aggregation = ClusterRoleAggregationController(client: client, roles: clusterRoles, logger: logger)
        add(ClusterRoleAggregationController.name, workers: 1, waitFor: [clusterRoles], register: aggregation.register,
            reconcile: aggregation.reconcile)

        if let signer = configuration.certificateSigner {
            let requests = informers.informer(.certificateSigningRequests)
            let signing = CertificateSigningController(client: client, requests: requests, signer: signer, logger: logger)
            add(CertificateSigningController.name, workers: 1, waitFor: [requests], register: signing.register, reconcile: signing.reconcile)
        }

        if let rootCAPEM = configuration.rootCAPEM {
            let rootCAs = informers.selected(.configMaps, fieldSelector: "metadata.name=\(RootCAPublisher.configMapName)")
            let publisher = RootCAPublisher(client: client, namespaces: namespaces, configMaps: rootCAs, caPEM: rootCAPEM, logger: logger)
            add(RootCAPublisher.name, workers: 1, waitFor: [namespaces, rootCAs], register: publisher.register, reconcile: publisher.reconcile)
        }

        var monitored: [(DiscoveredResource, Informer)] = []
        for resource in try await discoverWithRetry() where GarbageCollector.monitorable(resource) {
            // Resources no controller reads in full are watched for their metadata only.
            let informer = informers.informer(resource.reference, transform: Informer.metadataOnly)
            informer.addIndex(.ownerUID)
            monitored.append((resource, informer))
        }
        let collector = GarbageCollector(client: client, resources: monitored, logger: logger)
        add(GarbageCollector.name, workers: 4, waitFor: collector.allInformers, register: collector.register, reconcile: collector.reconcile)
        let monitors = GarbageCollectorMonitors(client: client, collector: collector,
            definitions: informers.informer(GarbageCollectorMonitors.definitionsResource, transform: Informer.metadataOnly), logger: logger)

        let all: [any Service] = informers.all + [events, monitors] + runners
        try await withThrowingDiscardingTaskGroup { group in
            for service in all {
                group.addTask { try await service.run() }
            }
        }
    }

    private func discoverWithRetry() async throws -> [DiscoveredResource] {
        while true {
            do {
                return try await client.discoverResources()
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { throw CancellationError() }
                logger.debug("discovery failed; retrying", metadata: ["error": "\(error)"])
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
        }
    }
}

/// One informer per resource, shared by every controller that reads it (client-go's shared informer factory), with
/// the indexes the controllers look things up by.
struct SharedInformers {
    let client: any KubernetesClient
    let logger: Logger
    private(set) var byResource: [ResourceReference: Informer] = [:]

    init(client: any KubernetesClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// The informer of a resource; `transform` applies only if this call creates it (a full informer already
    /// shared by a controller serves the garbage collector too).
    mutating func informer(_ resource: ResourceReference, transform: (@Sendable (JSONValue) -> JSONValue)? = nil) -> Informer {
        if let existing = byResource[resource] { return existing }
        let informer = Informer(client: client, resource: resource, transform: transform, logger: logger)
        byResource[resource] = informer
        return informer
    }

    /// Informers of a part of a resource (by field selector), not shared.
    private(set) var selected: [Informer] = []

    mutating func selected(_ resource: ResourceReference, fieldSelector: String) -> Informer {
        let informer = Informer(client: client, resource: resource, options: ListOptions(fieldSelector: fieldSelector), logger: logger)
        selected.append(informer)
        return informer
    }

    var all: [Informer] { Array(byResource.values) + selected }
}
