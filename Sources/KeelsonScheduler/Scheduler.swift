import Foundation
import KeelsonAPI
import KeelsonClient
import Logging
import ServiceLifecycle
import Synchronization

/// kube-scheduler: takes pending pods one at a time from the scheduling queue, filters the nodes of its cache
/// through the profile's plugins (stopping once enough feasible nodes are found, as `percentageOfNodesToScore`
/// does), scores the feasible ones, assumes the pod on the best and binds it through `pods/binding` without waiting.
/// A pod no node fits gets `PodScheduled=False` (reason `Unschedulable`) and a `FailedScheduling` event whose message
/// counts the reasons per node as Kubernetes words it, and waits for a cluster event.
public final class Scheduler: Sendable {
    public static let leaseName = "kube-scheduler"

    let client: any KubernetesClient
    let pods: Informer
    let nodes: Informer
    let profiles: [String: SchedulingProfile]
    let cluster: ClusterObjects
    let handle: FrameworkHandle
    let cache = SchedulerCache()
    let queue: SchedulingQueue
    let events: EventRecorder?
    let logger: Logger
    /// Where the next search for feasible nodes starts, so nodes take turns being looked at first.
    private let nextStart = Atomic<Int>(0)

    public init(client: any KubernetesClient, pods: Informer, nodes: Informer, cluster: ClusterObjects = ClusterObjects(),
        profiles: [SchedulingProfile] = [.defaultProfile()], events: EventRecorder?, logger: Logger)
    {
        self.client = client
        self.pods = pods
        self.nodes = nodes
        self.cluster = cluster
        self.handle = FrameworkHandle(client: client, cluster: cluster, cache: cache, events: events)
        // The queue is shared, so its order comes from the first profile (kube-scheduler insists they agree).
        self.queue = SchedulingQueue(sort: profiles.first?.queueSort ?? PrioritySort())
        self.profiles = Dictionary(uniqueKeysWithValues: profiles.map { ($0.schedulerName, $0) })
        self.events = events
        self.logger = logger
        register()
    }

    private func register() {
        nodes.addHandler { [cache, queue] event in
            switch event {
            case .added(let node):
                cache.setNode(node)
                queue.moveAllUnschedulable()
            case .updated(let old, let new):
                // Only what plugins read matters; heartbeats and conditions do not (thousands of nodes send them).
                let fits = old["spec"] != new["spec"] || old["metadata"]?["labels"] != new["metadata"]?["labels"]
                    || old["status"]?["allocatable"] != new["status"]?["allocatable"]
                if fits || old["status"]?["images"] != new["status"]?["images"] { cache.setNode(new) }
                if fits { queue.moveAllUnschedulable() }
            case .deleted(let node):
                cache.removeNode(node.name ?? "")
            }
        }
        pods.addHandler { [cache, queue, profiles, waiting = handle.waitingPods] event in
            switch event {
            case .added(let pod), .updated(_, let pod):
                let key = "\(pod.namespace ?? "")/\(pod.name ?? "")"
                if let node = pod["spec"]?["nodeName"]?.stringValue, !node.isEmpty {
                    cache.addBound(pod)
                    queue.remove(key)
                } else if pod.deletionTimestamp == nil, let profile = profiles[pod["spec"]?["schedulerName"]?.stringValue ?? "default-scheduler"],
                    !cache.isPlaced(key)
                {
                    let info = PodInfo(pod)
                    // PreEnqueue: a gated pod waits outside the queue; its update that lifts the gates brings it in.
                    if profile.preEnqueues.allSatisfy({ $0.preEnqueue(info).isSuccess }) { queue.add(info) } else { queue.remove(key) }
                }
            case .deleted(let pod):
                let key = "\(pod.namespace ?? "")/\(pod.name ?? "")"
                waiting.reject(key, plugin: "", reason: "the pod was deleted")
                cache.remove(key: key)
                queue.remove(key)
                queue.moveAllUnschedulable()
            }
        }
        // A claim, volume or storage class appearing or changing may let a pod waiting for its volumes fit.
        for informer in [cluster.persistentVolumeClaims, cluster.persistentVolumes, cluster.storageClasses].compactMap({ $0 }) {
            informer.addHandler { [queue] event in
                if case .deleted = event { return }
                queue.moveAllUnschedulable()
            }
        }
    }

    /// Schedules until shut down. The informers must be running.
    public func run() async throws {
        for informer in [pods, nodes] + cluster.informers { try await informer.waitUntilSynced() }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.flushLoop() }
                while let pod = await queue.pop() {
                    await scheduleOne(pod, group: &group)
                }
            }
        } onGracefulShutdown: {
            self.queue.close()
            self.handle.waitingPods.rejectAll(reason: "the scheduler is shutting down")
        }
    }

    private func flushLoop() async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(30)) }
            queue.flushStaleUnschedulable()
            if queue.counts.active == 0 && Task.isShuttingDownGracefully { return }
        }
    }

    // MARK: One cycle

    /// Takes one pod from the queue and schedules it, waiting for its binding or report: for tests.
    func runOnce() async -> Bool {
        guard let pod = await queue.pop() else { return false }
        await withDiscardingTaskGroup { group in await scheduleOne(pod, group: &group) }
        return true
    }

    func scheduleOne(_ podInfo: PodInfo, group: inout DiscardingTaskGroup) async {
        // The cache may have moved on since the pod was queued.
        let (namespace, name) = Informer.split(key: podInfo.key)
        guard let current = pods.get(namespace: namespace, name: name), current.uid == podInfo.pod.uid,
            (current["spec"]?["nodeName"]?.stringValue ?? "").isEmpty, current.deletionTimestamp == nil
        else { return }
        let pod = PodInfo(current)
        guard let profile = profiles[pod.schedulerName] else { return }
        let state = CycleState()
        switch decide(pod, profile: profile, state: state) {
        case .success(let node):
            // Reserve and Permit run in the scheduling cycle; a refusal undoes every reservation.
            var refused: PluginStatus?
            var reserved: [any ReservePlugin] = []
            for plugin in profile.reservers {
                let status = plugin.reserve(pod, node: node, state)
                if !status.isSuccess { refused = status; break }
                reserved.append(plugin)
            }
            var waitFor: Set<String> = []
            var timeout = Duration.seconds(15 * 60)
            if refused == nil {
                permits: for plugin in profile.permits {
                    switch plugin.permit(pod, node: node, state) {
                    case .allow: continue
                    case .reject(let status): refused = status; break permits
                    case .wait(let limit):
                        waitFor.insert(plugin.name)
                        timeout = min(timeout, limit)
                    }
                }
            }
            if let refused {
                for plugin in reserved.reversed() { plugin.unreserve(pod, node: node, state) }
                logger.debug("pod refused at reserve/permit", metadata: ["pod": "\(pod.key)", "reasons": "\(refused.reasons)"])
                queue.retryAfterBackoff(pod)
                return
            }
            cache.assume(pod, on: node)
            if !waitFor.isEmpty { handle.waitingPods.add(pod.key, node: node, plugins: waitFor) }
            group.addTask { [waiting = !waitFor.isEmpty] in
                if waiting, case .rejected(let plugin, let reason) = await self.handle.waitingPods.wait(for: pod.key, timeout: timeout) {
                    self.logger.debug("pod rejected at permit", metadata: ["pod": "\(pod.key)", "plugin": "\(plugin)", "reason": "\(reason)"])
                    self.forget(pod, on: node, profile: profile, state: state)
                    self.queue.retryAfterBackoff(pod)
                    return
                }
                await self.bind(pod, to: node, profile: profile, state: state)
            }
        case .failure(let diagnosis):
            queue.markUnschedulable(pod)
            var outcome: PostFilterResult?
            for plugin in profile.postFilters {
                outcome = plugin.postFilter(pod, diagnosis, profile: profile, state)
                if outcome != nil { break }
            }
            group.addTask { [outcome] in
                await self.reportUnschedulable(pod, diagnosis)
                guard let outcome else { return }
                _ = try? await self.client.patch(.pods, namespace: pod.pod.namespace, name: pod.pod.name ?? "",
                    ["status": ["nominatedNodeName": .string(outcome.nominatedNode)]], type: .merge, subresource: "status")
                await outcome.followUp()
            }
        }
    }

    /// Filter and score: the chosen node's name, or why there is none.
    func decide(_ pod: PodInfo, profile: SchedulingProfile, state: CycleState = CycleState()) -> Result<String, Diagnosis> {
        var pod = pod
        if !pod.hasTopologySpread && pod.defaultSpreadSelector == nil { pod.defaultSpreadSelector = cluster.defaultSpreadSelector(for: pod) }
        state.handle = handle
        var diagnosis = Diagnosis()
        state.use(cache.snapshot())
        let snapshot = state.snapshot.nodes
        diagnosis.nodeCount = snapshot.count
        for plugin in profile.preFilters {
            let status = plugin.preFilter(pod, snapshot, state)
            if !status.isSuccess {
                diagnosis.preFilterMessage = status.reasons.joined(separator: ", ")
                // A pod refused before any node is looked at cannot be helped by evicting anything on one.
                if status.code == .unschedulableAndUnresolvable { diagnosis.unresolvableNodes = snapshot.count }
                return .failure(diagnosis)
            }
        }
        guard !snapshot.isEmpty else { return .failure(diagnosis) }
        let wanted = Self.feasibleNodesToFind(snapshot.count)
        let start = nextStart.load(ordering: .relaxed) % snapshot.count
        var feasible: [Int] = []
        var examined = 0
        search: for step in 0..<snapshot.count {
            let i = (start + step) % snapshot.count
            examined += 1
            for plugin in profile.filters {
                let status = plugin.filter(pod, snapshot[i], state)
                if !status.isSuccess {
                    for reason in status.reasons { diagnosis.reasons[reason, default: 0] += 1 }
                    if status.code == .unschedulableAndUnresolvable { diagnosis.unresolvableNodes += 1 } else { diagnosis.resolvableNodes += 1 }
                    continue search
                }
            }
            feasible.append(i)
            if feasible.count >= wanted { break }
        }
        nextStart.store((start + examined) % snapshot.count, ordering: .relaxed)
        guard !feasible.isEmpty else { return .failure(diagnosis) }
        if feasible.count == 1 { return .success(snapshot[feasible[0]].name) }

        let feasibleNodes = feasible.map { snapshot[$0] }
        for plugin in profile.preScores {
            let status = plugin.preScore(pod, feasibleNodes, state)
            guard status.isSuccess else {
                for reason in status.reasons { diagnosis.reasons[reason, default: 0] += feasible.count }
                diagnosis.unresolvableNodes += feasible.count
                return .failure(diagnosis)
            }
        }
        var totals = [Int64](repeating: 0, count: feasible.count)
        for (plugin, weight) in profile.scorers {
            var scores = feasible.map { plugin.score(pod, snapshot[$0], state) }
            plugin.normalize(&scores)
            for i in scores.indices { totals[i] += scores[i] * weight }
        }
        // The best total; ties broken at random so equal nodes share the load (reservoir sampling).
        var best = 0, ties = 1
        for i in 1..<totals.count {
            if totals[i] > totals[best] {
                best = i
                ties = 1
            } else if totals[i] == totals[best] {
                ties += 1
                if Int.random(in: 0..<ties) == 0 { best = i }
            }
        }
        return .success(snapshot[feasible[best]].name)
    }

    /// `percentageOfNodesToScore`'s adaptive default: all of a small cluster, then a shrinking share (50% minus
    /// 1% per 125 nodes, at least 5%), never fewer than 100 nodes.
    static func feasibleNodesToFind(_ nodes: Int) -> Int {
        if nodes < 100 { return nodes }
        let percentage = max(5, 50 - nodes / 125)
        return max(100, nodes * percentage / 100)
    }

    // MARK: Binding and reporting

    /// The binding cycle, off the scheduling loop: PreBind, the first Bind that does not skip, PostBind; a failure
    /// unreserves, forgets the assumed pod and retries it after its back-off.
    func bind(_ pod: PodInfo, to node: String, profile: SchedulingProfile, state: CycleState) async {
        do {
            for plugin in profile.preBinds {
                let status = await plugin.preBind(pod, node: node, state)
                guard status.isSuccess else { throw BindingRefused(reasons: status.reasons) }
            }
            var bound = false
            for binder in profile.binders where !bound {
                bound = try await binder.bind(pod, node: node, state, client: client)
            }
            guard bound else { throw BindingRefused(reasons: ["no binder bound the pod"]) }
            for plugin in profile.postBinds { plugin.postBind(pod, node: node, state) }
            events?.record(pod.pod, apiVersion: "v1", kind: "Pod", .normal, reason: "Scheduled",
                message: "Successfully assigned \(pod.key) to \(node)")
        } catch let error as APIError where error.isNotFound {
            forget(pod, on: node, profile: profile, state: state)
        } catch {
            logger.debug("binding failed", metadata: ["pod": "\(pod.key)", "node": "\(node)", "error": "\(error)"])
            forget(pod, on: node, profile: profile, state: state)
            queue.retryAfterBackoff(pod)
        }
    }

    /// Undoes a decision that will not be bound: reservations released, the assumed pod forgotten.
    private func forget(_ pod: PodInfo, on node: String, profile: SchedulingProfile, state: CycleState) {
        for plugin in profile.reservers.reversed() { plugin.unreserve(pod, node: node, state) }
        cache.remove(key: pod.key)
    }

    struct BindingRefused: Error {
        var reasons: [String]
    }

    /// `0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated taint {k: v}. preemption: …`, reasons
    /// sorted as Kubernetes sorts them.
    static func message(_ diagnosis: Diagnosis) -> String {
        if let preFilter = diagnosis.preFilterMessage {
            let preemption = diagnosis.unresolvableNodes > 0
                ? " preemption: 0/\(diagnosis.nodeCount) nodes are available: \(diagnosis.unresolvableNodes) Preemption is not helpful for scheduling."
                : ""
            return "0/\(diagnosis.nodeCount) nodes are available: \(preFilter).\(preemption)"
        }
        if diagnosis.nodeCount == 0 { return "no nodes available to schedule pods" }
        let reasons = diagnosis.reasons.map { "\($0.value) \($0.key)" }.sorted()
        var preemption: [String] = []
        if diagnosis.resolvableNodes > 0 { preemption.append("\(diagnosis.resolvableNodes) No preemption victims found for incoming pod") }
        if diagnosis.unresolvableNodes > 0 { preemption.append("\(diagnosis.unresolvableNodes) Preemption is not helpful for scheduling") }
        return "0/\(diagnosis.nodeCount) nodes are available: \(reasons.joined(separator: ", ")). preemption: 0/\(diagnosis.nodeCount) nodes are available: \(preemption.sorted().joined(separator: ", "))."
    }

    func reportUnschedulable(_ pod: PodInfo, _ diagnosis: Diagnosis) async {
        let message = Self.message(diagnosis)
        events?.record(pod.pod, apiVersion: "v1", kind: "Pod", .warning, reason: "FailedScheduling", message: message)
        let conditions = pod.pod["status"]?["conditions"]?.arrayValue ?? []
        if conditions.contains(where: { $0["type"] == "PodScheduled" && $0["status"] == "False" && $0["message"]?.stringValue == message }) { return }
        // A strategic merge patch merges conditions by type: only this one is written, and those others set meanwhile
        // (which this pod's cached copy may not have yet) are kept. A merge patch would replace the whole list.
        let condition: JSONValue = ["type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": .string(message),
                                    "lastProbeTime": .null, "lastTransitionTime": .string(Timestamp.format(Date()))]
        _ = try? await client.patch(.pods, namespace: pod.pod.namespace, name: pod.pod.name ?? "",
            ["status": ["conditions": [condition]]], type: .strategic, subresource: "status")
    }
}
