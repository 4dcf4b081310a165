import KeelsonAPI
import KeelsonClient
import Logging
import ServiceLifecycle

/// The scheduler as a service: waits for the API server, then, while it holds the `kube-system/kube-scheduler`
/// Lease (when leader election is on), runs the pod and node informers, the event recorder and the scheduling loop.
public struct SchedulerService: Service {
    let client: any KubernetesClient
    let leaderElection: LeaderElector.Configuration?
    let profiles: [SchedulingProfile]
    let logger: Logger

    public init(client: any KubernetesClient, leaderElection: LeaderElector.Configuration?, profiles: [SchedulingProfile] = [.defaultProfile()],
        logger: Logger)
    {
        self.client = client
        self.leaderElection = leaderElection
        self.profiles = profiles
        self.logger = logger
    }

    public func run() async throws {
        do {
            try await client.waitUntilReachable()
        } catch is CancellationError {
            return
        }
        if let leaderElection {
            try await LeaderElector(client: client, configuration: leaderElection, logger: logger).run { try await schedule() }
        } else {
            try await schedule()
        }
    }

    private func schedule() async throws {
        let pods = Informer(client: client, resource: .pods, logger: logger)
        let nodes = Informer(client: client, resource: .nodes, logger: logger)
        let events = EventRecorder(client: client, component: "default-scheduler", logger: logger)
        let cluster = ClusterObjects.watching(client, logger: logger)
        let scheduler = Scheduler(client: client, pods: pods, nodes: nodes, cluster: cluster, profiles: profiles, events: events, logger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            for informer in [pods, nodes] + cluster.informers {
                group.addTask { try await informer.run() }
            }
            group.addTask { try await events.run() }
            group.addTask { try await scheduler.run() }
        }
    }
}
