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
    let cache = SchedulerCache()
    let queue = SchedulingQueue()
    let events: EventRecorder?
    let logger: Logger
    /// Where the next search for feasible nodes starts, so nodes take turns being looked at first.
    private let nextStart = Atomic<Int>(0)

    public init(client: any KubernetesClient, pods: Informer, nodes: Informer, profiles: [SchedulingProfile] = [.defaultProfile()],
        events: EventRecorder?, logger: Logger)
    {
        self.client = client
        self.pods = pods
        self.nodes = nodes
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
                cache.setNode(new)
                // Only what can make a pod fit matters; heartbeats do not.
                if old["spec"] != new["spec"] || old["metadata"]?["labels"] != new["metadata"]?["labels"]
                    || old["status"]?["allocatable"] != new["status"]?["allocatable"]
                {
                    queue.moveAllUnschedulable()
                }
            case .deleted(let node):
                cache.removeNode(node.name ?? "")
            }
        }
        pods.addHandler { [cache, queue, profiles] event in
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
                cache.remove(key: key)
                queue.remove(key)
                queue.moveAllUnschedulable()
            }
        }
    }

    /// Schedules until shut down. The informers must be running.
    public func run() async throws {
        for informer in [pods, nodes] { try await informer.waitUntilSynced() }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.flushLoop() }
                while let pod = await queue.pop() {
                    await scheduleOne(pod, group: &group)
                }
            }
        } onGracefulShutdown: {
            self.queue.close()
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
            if refused == nil {
                for plugin in profile.permits {
                    let status = plugin.permit(pod, node: node, state)
                    if !status.isSuccess { refused = status; break }
                }
            }
            if let refused {
                for plugin in reserved.reversed() { plugin.unreserve(pod, node: node, state) }
                logger.debug("pod refused at reserve/permit", metadata: ["pod": "\(pod.key)", "reasons": "\(refused.reasons)"])
                queue.retryAfterBackoff(pod)
                return
            }
            cache.assume(pod, on: node)
            group.addTask { await self.bind(pod, to: node, profile: profile, state: state) }
        case .failure(let diagnosis):
            queue.markUnschedulable(pod)
            let preemption = diagnosis.resolvableNodes > 0 ? preemptionPlan(for: pod, profile: profile) : nil
            group.addTask {
                await self.reportUnschedulable(pod, diagnosis)
                if let preemption { await self.preempt(for: pod, plan: preemption) }
            }
        }
    }

    /// Why no node fit: each node's reasons, and how many nodes there were.
    struct Diagnosis: Error {
        var reasons: [String: Int] = [:]
        var resolvableNodes = 0
        var unresolvableNodes = 0
        var nodeCount = 0
        var preFilterMessage: String?
    }

    /// Filter and score: the chosen node's name, or why there is none.
    func decide(_ pod: PodInfo, profile: SchedulingProfile, state: CycleState = CycleState()) -> Result<String, Diagnosis> {
        var diagnosis = Diagnosis()
        let snapshot = cache.snapshot()
        diagnosis.nodeCount = snapshot.count
        state.existingAntiAffinity = cache.hasAntiAffinityPods
        for plugin in profile.preFilters {
            let status = plugin.preFilter(pod, snapshot, state)
            if !status.isSuccess {
                diagnosis.preFilterMessage = status.reasons.joined(separator: ", ")
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

    // MARK: Preemption (DefaultPreemption)

    struct PreemptionPlan {
        var node: String
        var victims: [PodInfo]
    }

    /// Where evicting lower-priority pods would let `pod` fit: on each node, all lower-priority pods are set aside,
    /// and if the pod then passes every filter, victims are given back highest priority first while it still fits,
    /// leaving the fewest and least important victims. The node whose most important victim matters least (then
    /// fewest victims) wins.
    func preemptionPlan(for pod: PodInfo, profile: SchedulingProfile) -> PreemptionPlan? {
        let state = CycleState()
        let snapshot = cache.snapshot()
        state.existingAntiAffinity = cache.hasAntiAffinityPods
        for plugin in profile.preFilters where !plugin.preFilter(pod, snapshot, state).isSuccess { return nil }
        var best: (plan: PreemptionPlan, score: (Int64, Int))?
        for node in snapshot {
            let lower = cache.pods(on: node.name).filter { $0.priority < pod.priority }
            guard !lower.isEmpty else { continue }
            var trial = node
            for victim in lower { trial.remove(victim) }
            guard profile.filters.allSatisfy({ $0.filter(pod, trial, state).isSuccess }) else { continue }
            var victims: [PodInfo] = []
            for candidate in lower.sorted(by: { $0.priority > $1.priority }) {
                trial.add(candidate)
                if !profile.filters.allSatisfy({ $0.filter(pod, trial, state).isSuccess }) {
                    trial.remove(candidate)
                    victims.append(candidate)
                }
            }
            let score = (victims.map(\.priority).max() ?? Int64.min, victims.count)
            if best == nil || score < best!.score { best = (PreemptionPlan(node: node.name, victims: victims), score) }
        }
        return best?.plan
    }

    /// Nominates the node for the pod (`status.nominatedNodeName`) and deletes the victims gracefully; their
    /// deletion brings the pod back to the queue.
    func preempt(for pod: PodInfo, plan: PreemptionPlan) async {
        _ = try? await client.patch(.pods, namespace: pod.pod.namespace, name: pod.pod.name ?? "",
            ["status": ["nominatedNodeName": .string(plan.node)]], type: .merge, subresource: "status")
        for victim in plan.victims {
            do {
                try await client.delete(.pods, namespace: victim.pod.namespace, name: victim.pod.name ?? "", uid: victim.pod.uid ?? "")
                events?.record(victim.pod, apiVersion: "v1", kind: "Pod", .normal, reason: "Preempted",
                    message: "Preempted by pod \(pod.pod.uid ?? "") on node \(plan.node)")
            } catch {
                logger.debug("preemption victim not deleted", metadata: ["pod": "\(victim.key)", "error": "\(error)"])
            }
        }
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
            for plugin in profile.reservers.reversed() { plugin.unreserve(pod, node: node, state) }
            cache.remove(key: pod.key)
        } catch {
            logger.debug("binding failed", metadata: ["pod": "\(pod.key)", "node": "\(node)", "error": "\(error)"])
            for plugin in profile.reservers.reversed() { plugin.unreserve(pod, node: node, state) }
            cache.remove(key: pod.key)
            queue.retryAfterBackoff(pod)
        }
    }

    struct BindingRefused: Error {
        var reasons: [String]
    }

    /// `0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated taint {k: v}. preemption: …`, reasons
    /// sorted as Kubernetes sorts them.
    static func message(_ diagnosis: Diagnosis) -> String {
        if let preFilter = diagnosis.preFilterMessage {
            return "0/\(diagnosis.nodeCount) nodes are available: \(preFilter)."
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
        var conditions = pod.pod["status"]?["conditions"]?.arrayValue ?? []
        if conditions.contains(where: { $0["type"] == "PodScheduled" && $0["status"] == "False" && $0["message"]?.stringValue == message }) { return }
        conditions.removeAll { $0["type"] == "PodScheduled" }
        conditions.append(["type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": .string(message),
                           "lastProbeTime": .null, "lastTransitionTime": .string(Timestamp.format(Date()))])
        _ = try? await client.patch(.pods, namespace: pod.pod.namespace, name: pod.pod.name ?? "",
            ["status": ["conditions": .array(conditions)]], type: .merge, subresource: "status")
    }
}
