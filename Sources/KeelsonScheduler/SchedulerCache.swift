import KeelsonAPI
import Synchronization

/// The scheduler's view of the cluster: every node with the pods bound or assumed on it. A pod is *assumed* on its
/// chosen node the moment the decision is made, so the next decision already counts it, without waiting for the
/// binding to come back through the watch; the watch then confirms it, or a failed binding forgets it.
public final class SchedulerCache: Sendable {
    private struct State {
        var nodes: [NodeInfo] = []
        var index: [String: Int] = [:]
        /// Where each pod counts, and its parsed form.
        var placements: [String: (node: String, pod: PodInfo, assumed: Bool)] = [:]
        /// Placed pods with required anti-affinity terms, which every decision must respect.
        var antiAffinityPods = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// The nodes as they are now; a copy the caller may read freely.
    public func snapshot() -> [NodeInfo] { state.withLock { $0.nodes } }

    public var nodeCount: Int { state.withLock { $0.nodes.count } }

    public func setNode(_ node: JSONValue) {
        guard let name = node.name else { return }
        state.withLock { s in
            if let i = s.index[name] {
                var info = NodeInfo(node)
                info.requested = s.nodes[i].requested
                info.podCount = s.nodes[i].podCount
                info.usedPorts = s.nodes[i].usedPorts
                info.pods = s.nodes[i].pods
                info.podLabels = s.nodes[i].podLabels
                info.podAntiAffinity = s.nodes[i].podAntiAffinity
                s.nodes[i] = info
            } else {
                var info = NodeInfo(node)
                // Pods seen before their node (a watch race) count from the start.
                for (_, placement) in s.placements where placement.node == name { info.add(placement.pod) }
                s.index[name] = s.nodes.count
                s.nodes.append(info)
            }
        }
    }

    public func removeNode(_ name: String) {
        state.withLock { s in
            guard let i = s.index.removeValue(forKey: name) else { return }
            let last = s.nodes.count - 1
            if i != last {
                s.nodes.swapAt(i, last)
                s.index[s.nodes[i].name] = i
            }
            s.nodes.removeLast()
        }
    }

    /// Counts a pod the decision placed on `node`, before its binding is confirmed.
    public func assume(_ pod: PodInfo, on node: String) {
        place(pod, on: node, assumed: true)
    }

    /// A bound pod seen through the watch (confirming an assumed one, or one bound elsewhere).
    public func addBound(_ pod: JSONValue) {
        guard let node = pod["spec"]?["nodeName"]?.stringValue, !node.isEmpty else { return }
        let phase = pod["status"]?["phase"]?.stringValue
        if phase == "Succeeded" || phase == "Failed" {
            remove(key: "\(pod.namespace ?? "")/\(pod.name ?? "")")  // finished pods free their resources
            return
        }
        place(PodInfo(pod), on: node, assumed: false)
    }

    private func place(_ pod: PodInfo, on node: String, assumed: Bool) {
        state.withLock { s in
            if let previous = s.placements[pod.key] {
                if previous.node == node {
                    s.placements[pod.key] = (node, previous.pod, assumed && previous.assumed)
                    return
                }
                if let i = s.index[previous.node] { s.nodes[i].remove(previous.pod) }
            }
            if let previous = s.placements[pod.key], !previous.pod.requiredAntiAffinity.isEmpty { s.antiAffinityPods -= 1 }
            s.placements[pod.key] = (node, pod, assumed)
            if !pod.requiredAntiAffinity.isEmpty { s.antiAffinityPods += 1 }
            if let i = s.index[node] { s.nodes[i].add(pod) }
        }
    }

    /// Removes a pod (deleted, finished, or an assumed one whose binding failed).
    public func remove(key: String) {
        state.withLock { s in
            guard let placement = s.placements.removeValue(forKey: key) else { return }
            if !placement.pod.requiredAntiAffinity.isEmpty { s.antiAffinityPods -= 1 }
            if let i = s.index[placement.node] { s.nodes[i].remove(placement.pod) }
        }
    }

    /// The pods counted on one node (bound or assumed), for preemption.
    public func pods(on node: String) -> [PodInfo] {
        state.withLock { s in s.placements.values.filter { $0.node == node }.map(\.pod) }
    }

    /// Whether any placed pod has required anti-affinity (most clusters: none, and decisions can skip looking).
    public var hasAntiAffinityPods: Bool { state.withLock { $0.antiAffinityPods > 0 } }

    public func isPlaced(_ key: String) -> Bool { state.withLock { $0.placements[key] != nil } }
}
