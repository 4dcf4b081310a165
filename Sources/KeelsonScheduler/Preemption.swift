import KeelsonAPI
import KeelsonClient

/// DefaultPreemption (PostFilter): when no node fits a pod, find the node where evicting pods of lower priority
/// would let it fit, disturbing as little as possible; nominate it and evict the victims gracefully. Their deletion
/// brings the pod back to the queue.
public struct DefaultPreemption: PostFilterPlugin {
    public let name = "DefaultPreemption"
    public init() {}

    struct Plan {
        var node: String
        var victims: [PodInfo]
        /// Victims whose eviction a PodDisruptionBudget does not allow.
        var budgetViolations: Int
    }

    public func postFilter(_ pod: PodInfo, _ diagnosis: Diagnosis, profile: SchedulingProfile, _ state: CycleState) -> PostFilterResult? {
        guard diagnosis.resolvableNodes > 0, let plan = plan(for: pod, profile: profile, handle: state.handle) else { return nil }
        let handle = state.handle
        return PostFilterResult(nominatedNode: plan.node) { await evict(for: pod, plan: plan, handle: handle) }
    }

    /// On each node, all lower-priority pods are set aside; if the pod then passes every filter, victims are given
    /// back — those protected by a PodDisruptionBudget first, then the rest, most important first — while it still
    /// fits. Among the nodes that work, the winner has the fewest budget violations, then the least important most
    /// important victim, then the smallest sum of victim priorities, then the fewest victims.
    func plan(for pod: PodInfo, profile: SchedulingProfile, handle: FrameworkHandle) -> Plan? {
        guard let cache = handle.cache else { return nil }
        let state = CycleState()
        state.handle = handle
        state.use(cache.snapshot())
        let snapshot = state.snapshot.nodes
        for plugin in profile.preFilters where !plugin.preFilter(pod, snapshot, state).isSuccess { return nil }
        let budgets = DisruptionBudgets(handle.cluster.podDisruptionBudgets?.list(namespace: nil) ?? [])
        var best: (plan: Plan, rank: [Int64])?
        for node in snapshot {
            let lower = cache.pods(on: node.name).filter { $0.priority < pod.priority }
            guard !lower.isEmpty else { continue }
            let trial = node.copy()
            for victim in lower { trial.remove(victim) }
            guard profile.filters.allSatisfy({ $0.filter(pod, trial, state).isSuccess }) else { continue }
            // Most important first: higher priority, then older.
            let ordered = lower.sorted { ($0.priority, $1.created) > ($1.priority, $0.created) }
            let (protected, unprotected) = budgets.partition(ordered)
            var victims: [PodInfo] = []
            var violations = 0
            for (group, violating) in [(protected, true), (unprotected, false)] {
                for candidate in group {
                    trial.add(candidate)
                    if !profile.filters.allSatisfy({ $0.filter(pod, trial, state).isSuccess }) {
                        trial.remove(candidate)
                        victims.append(candidate)
                        if violating { violations += 1 }
                    }
                }
            }
            let priorities = victims.map(\.priority)
            let rank: [Int64] = [Int64(violations), priorities.max() ?? Int64.min, priorities.reduce(0, +), Int64(victims.count)]
            if best == nil || rank.lexicographicallyPrecedes(best!.rank) {
                best = (Plan(node: node.name, victims: victims, budgetViolations: violations), rank)
            }
        }
        return best?.plan
    }

    /// Deletes the victims gracefully (the scheduler has nominated the node).
    func evict(for pod: PodInfo, plan: Plan, handle: FrameworkHandle) async {
        guard let client = handle.client else { return }
        for victim in plan.victims {
            // A victim already gone is what we wanted; other failures leave the pod to its next attempt.
            _ = try? await client.delete(.pods, namespace: victim.pod.namespace, name: victim.pod.name ?? "", uid: victim.pod.uid ?? "")
            handle.events?.record(victim.pod, apiVersion: "v1", kind: "Pod", .normal, reason: "Preempted",
                message: "Preempted by pod \(pod.pod.uid ?? "") on node \(plan.node)")
        }
    }
}

/// The PodDisruptionBudgets preemption weighs: how many more pods each still lets go.
struct DisruptionBudgets {
    struct Budget {
        var namespace: String
        var selector: LabelSelector
        var allowed: Int64
        /// Pods already being disrupted (`status.disruptedPods`) do not count against it again.
        var disrupted: Set<String>
    }

    var budgets: [Budget]

    init(_ objects: [JSONValue]) {
        budgets = objects.compactMap { pdb in
            // A budget with an empty selector protects nothing in policy/v1's eviction; preemption agrees.
            guard let selector = try? LabelSelector.from(pdb["spec"]?["selector"]), !selector.isEverything else { return nil }
            return Budget(namespace: pdb.namespace ?? "", selector: selector, allowed: pdb["status"]?["disruptionsAllowed"]?.intValue ?? 0,
                disrupted: Set((pdb["status"]?["disruptedPods"]?.objectValue ?? [:]).keys))
        }
    }

    /// Splits pods (in order) into those whose eviction would exceed a budget and those it would not, spending each
    /// budget's allowance on the pods as they come.
    func partition(_ pods: [PodInfo]) -> (violating: [PodInfo], fine: [PodInfo]) {
        var allowed = budgets.map(\.allowed)
        var violating: [PodInfo] = []
        var fine: [PodInfo] = []
        for pod in pods {
            var violates = false
            for (i, budget) in budgets.enumerated() where budget.namespace == pod.namespace && budget.selector.matches(pod.labels) {
                if budget.disrupted.contains(pod.pod.name ?? "") { continue }
                allowed[i] -= 1
                if allowed[i] < 0 { violates = true }
            }
            if violates { violating.append(pod) } else { fine.append(pod) }
        }
        return (violating, fine)
    }
}
