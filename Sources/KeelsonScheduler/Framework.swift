import KeelsonAPI
import KeelsonClient

/// The outcome of a plugin at one extension point, as the scheduler framework's `Status`: success, or why not.
public struct PluginStatus: Sendable, Equatable {
    public enum Code: Sendable, Equatable {
        case success
        /// The pod does not fit this node now; preemption or a cluster change may help.
        case unschedulable
        /// The pod can never fit this node (wrong name, unmatched affinity): preemption will not help.
        case unschedulableAndUnresolvable
        case error
    }

    public var code: Code
    /// The reasons, worded as Kubernetes words them, counted per node in FailedScheduling messages.
    public var reasons: [String]

    public static let success = PluginStatus(code: .success, reasons: [])
    public static func unschedulable(_ reasons: String...) -> PluginStatus { PluginStatus(code: .unschedulable, reasons: reasons) }
    public static func unresolvable(_ reasons: String...) -> PluginStatus { PluginStatus(code: .unschedulableAndUnresolvable, reasons: reasons) }

    public var isSuccess: Bool { code == .success }
}

/// A plugin of the scheduling framework; each implements the extension points it needs.
public protocol SchedulerPlugin: Sendable {
    var name: String { get }
}

/// PreEnqueue: whether a pending pod may enter the scheduling queue at all.
public protocol PreEnqueuePlugin: SchedulerPlugin {
    func preEnqueue(_ pod: PodInfo) -> PluginStatus
}

/// QueueSort: the order of the active queue — whether `a` goes before `b`. One per scheduler: every profile
/// shares the queue.
public protocol QueueSortPlugin: SchedulerPlugin {
    func less(_ a: QueuedPod, _ b: QueuedPod) -> Bool
}

/// PrioritySort: higher priority first, then older pods, then the one queued first.
public struct PrioritySort: QueueSortPlugin {
    public let name = "PrioritySort"
    public init() {}

    public func less(_ a: QueuedPod, _ b: QueuedPod) -> Bool {
        if a.pod.priority != b.pod.priority { return a.pod.priority > b.pod.priority }
        if a.pod.created != b.pod.created { return a.pod.created < b.pod.created }
        return a.sequence < b.sequence
    }
}

/// PreFilter: computes per-pod state once per cycle from all nodes, or rejects the pod outright.
public protocol PreFilterPlugin: SchedulerPlugin {
    func preFilter(_ pod: PodInfo, _ nodes: [NodeInfo], _ state: CycleState) -> PluginStatus
}

/// Filter: whether the pod may run on one node.
public protocol FilterPlugin: SchedulerPlugin {
    func filter(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> PluginStatus
}

/// Why no node fit a pod: each reason with the number of nodes giving it, and how many nodes preemption could or
/// could not help with.
public struct Diagnosis: Error, Sendable {
    public var reasons: [String: Int] = [:]
    public var resolvableNodes = 0
    public var unresolvableNodes = 0
    public var nodeCount = 0
    /// Set when a PreFilter refused the pod before any node was looked at.
    public var preFilterMessage: String?
}

/// PostFilter: runs when no node fits, to make one fit later (DefaultPreemption). The first plugin with a result
/// ends the phase.
public protocol PostFilterPlugin: SchedulerPlugin {
    func postFilter(_ pod: PodInfo, _ diagnosis: Diagnosis, profile: SchedulingProfile, _ state: CycleState) -> PostFilterResult?
}

public struct PostFilterResult: Sendable {
    /// The node the pod is nominated for (`status.nominatedNodeName`).
    public var nominatedNode: String
    /// What must happen off the scheduling loop (evicting victims), after the pod's failure is reported.
    public var followUp: @Sendable () async -> Void

    public init(nominatedNode: String, followUp: @escaping @Sendable () async -> Void) {
        self.nominatedNode = nominatedNode
        self.followUp = followUp
    }
}

/// PreScore: per-cycle work for scoring, over the feasible nodes only (skipped when one node is feasible).
public protocol PreScorePlugin: SchedulerPlugin {
    func preScore(_ pod: PodInfo, _ feasible: [NodeInfo], _ state: CycleState) -> PluginStatus
}

/// Score: how good one feasible node is, in 0…100 after normalisation.
public protocol ScorePlugin: SchedulerPlugin {
    func score(_ pod: PodInfo, _ node: NodeInfo, _ state: CycleState) -> Int64
    /// Rescales the raw scores of all feasible nodes into 0…100; the default leaves them as they are.
    func normalize(_ scores: inout [Int64])
}

extension ScorePlugin {
    public func normalize(_ scores: inout [Int64]) {}
}

/// Data computed once per scheduling cycle and shared by that cycle's plugins. Each plugin keeps its per-cycle
/// state as an object of its own class, found by that class (a pointer-sized key: Filter reads it for every node).
public final class CycleState: @unchecked Sendable {
    // A cycle runs on one task at a time; the class only carries values between its plugins.
    private var values: [ObjectIdentifier: AnyObject] = [:]
    /// The cycle's snapshot of the cluster (nodes and placed pods' anti-affinity).
    public var snapshot = SchedulerCache.Snapshot(nodes: [], index: [:], placedAntiAffinity: [:], podsByLabel: [:], cache: nil)
    /// Whether any placed pod has required anti-affinity: when none has, pods without affinity terms skip
    /// InterPodAffinity entirely (a stored field: it is read for every node of every decision).
    public private(set) var existingAntiAffinity = false

    func use(_ snapshot: SchedulerCache.Snapshot) {
        self.snapshot = snapshot
        existingAntiAffinity = !snapshot.placedAntiAffinity.isEmpty
    }
    /// What the scheduler lends its plugins.
    public var handle = FrameworkHandle()

    public init() {}

    public func read<T: AnyObject>(_ type: T.Type) -> T? { values[ObjectIdentifier(type)] as? T }
    public func write<T: AnyObject>(_ value: T) { values[ObjectIdentifier(T.self)] = value }
}

/// A profile: the plugins and score weights used for pods naming it in `spec.schedulerName`.
public struct SchedulingProfile: Sendable {
    public var schedulerName: String
    public var preFilters: [any PreFilterPlugin]
    public var filters: [any FilterPlugin]
    public var scorers: [(plugin: any ScorePlugin, weight: Int64)]
    public var queueSort: any QueueSortPlugin = PrioritySort()
    public var preScores: [any PreScorePlugin] = []
    public var postFilters: [any PostFilterPlugin] = [DefaultPreemption()]
    public var preEnqueues: [any PreEnqueuePlugin] = [SchedulingGatesPlugin()]
    public var reservers: [any ReservePlugin] = []
    public var permits: [any PermitPlugin] = []
    public var preBinds: [any PreBindPlugin] = []
    public var binders: [any BindPlugin] = [DefaultBinder()]
    public var postBinds: [any PostBindPlugin] = []

    public init(schedulerName: String, preFilters: [any PreFilterPlugin], filters: [any FilterPlugin],
        scorers: [(plugin: any ScorePlugin, weight: Int64)])
    {
        self.schedulerName = schedulerName
        self.preFilters = preFilters
        self.filters = filters
        self.scorers = scorers
    }

    /// kube-scheduler's default plugins and weights (those implemented so far).
    public static func defaultProfile(name: String = "default-scheduler") -> SchedulingProfile {
        let fit = NodeResourcesFit()
        let affinity = NodeAffinityPlugin()
        let taints = TaintTolerationPlugin()
        let spread = PodTopologySpreadPlugin()
        let podAffinity = InterPodAffinityPlugin()
        let volumes = VolumeBindingPlugin()
        var profile = SchedulingProfile(schedulerName: name, preFilters: [fit, volumes, spread, podAffinity],
            filters: [NodeUnschedulablePlugin(), NodeNamePlugin(), taints, affinity, NodePortsPlugin(), fit, volumes, spread, podAffinity],
            scorers: [(taints, 3), (affinity, 2), (spread, 2), (podAffinity, 2), (fit, 1), (BalancedAllocation(), 1), (ImageLocalityPlugin(), 1)])
        profile.preScores = [podAffinity]
        profile.reservers = [volumes]
        profile.preBinds = [volumes]
        return profile
    }
}

/// Reserve: claims what the pod will use on its node (volumes, devices) before binding; `unreserve` undoes it and
/// must be idempotent, since it runs whenever a later step fails.
public protocol ReservePlugin: SchedulerPlugin {
    func reserve(_ pod: PodInfo, node: String, _ state: CycleState) -> PluginStatus
    func unreserve(_ pod: PodInfo, node: String, _ state: CycleState)
}

/// Permit: the last word before binding — allow, reject (the pod goes back to the queue), or make the pod wait
/// (holding its reservation) until the plugin allows or rejects it through `FrameworkHandle.waitingPods`, or the
/// timeout rejects it; gang scheduling is built this way.
public protocol PermitPlugin: SchedulerPlugin {
    func permit(_ pod: PodInfo, node: String, _ state: CycleState) -> PermitDecision
}

public enum PermitDecision: Sendable, Equatable {
    case allow
    case reject(PluginStatus)
    case wait(timeout: Duration)
}

/// The scheduler's framework handle: the client plugins write with, the cluster objects they read, and the pods
/// waiting at Permit.
public struct FrameworkHandle: Sendable {
    public var client: (any KubernetesClient)?
    public var cluster: ClusterObjects
    public var waitingPods: WaitingPods
    /// The nodes and the pods placed on them.
    public var cache: SchedulerCache?
    public var events: EventRecorder?

    public init(client: (any KubernetesClient)? = nil, cluster: ClusterObjects = ClusterObjects(), waitingPods: WaitingPods = WaitingPods(),
        cache: SchedulerCache? = nil, events: EventRecorder? = nil)
    {
        self.client = client
        self.cluster = cluster
        self.waitingPods = waitingPods
        self.cache = cache
        self.events = events
    }
}

/// PreBind: work that must finish before the binding (provisioning a volume); runs off the scheduling loop.
public protocol PreBindPlugin: SchedulerPlugin {
    func preBind(_ pod: PodInfo, node: String, _ state: CycleState) async -> PluginStatus
}

/// Bind: writes the decision. The first binder that does not skip binds.
public protocol BindPlugin: SchedulerPlugin {
    /// Returns false to skip (let the next binder bind); throws when binding failed.
    func bind(_ pod: PodInfo, node: String, _ state: CycleState, client: any KubernetesClient) async throws -> Bool
}

/// PostBind: informational, after a successful binding.
public protocol PostBindPlugin: SchedulerPlugin {
    func postBind(_ pod: PodInfo, node: String, _ state: CycleState)
}

/// DefaultBinder: the `pods/binding` subresource.
public struct DefaultBinder: BindPlugin {
    public let name = "DefaultBinder"
    public init() {}

    public func bind(_ pod: PodInfo, node: String, _ state: CycleState, client: any KubernetesClient) async throws -> Bool {
        let binding: JSONValue = ["apiVersion": "v1", "kind": "Binding",
                                  "metadata": ["name": .string(pod.pod.name ?? ""), "uid": .string(pod.pod.uid ?? "")],
                                  "target": ["apiVersion": "v1", "kind": "Node", "name": .string(node)]]
        try await client.create(.pods, namespace: pod.pod.namespace, binding, subresource: "binding")
        return true
    }
}
