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
        /// The required anti-affinity terms of placed pods, which every decision must respect: term → the nodes of
        /// the pods that have it, with counts.
        var antiAffinity: [PodAffinityTerm: [String: Int]] = [:]

        /// Pods per namespace and label value (`NodeInfo.countKey`) → the nodes they are on, with counts: spreading
        /// and affinity visit only the nodes holding pods they count.
        var podsByLabel: [String: [String: Int]] = [:]
        /// Topology key → its values over all nodes, with the number of nodes of each; rebuilt after node changes.
        var domains: [String: [String: Int]] = [:]

        mutating func count(_ pod: PodInfo, on node: String, _ delta: Int) {
            for (label, value) in pod.labels {
                let key = NodeInfo.countKey(namespace: pod.namespace, label: label, value: value)
                podsByLabel[key, default: [:]][node, default: 0] += delta
                if podsByLabel[key]?[node] == 0 { podsByLabel[key]?[node] = nil }
                if podsByLabel[key]?.isEmpty == true { podsByLabel[key] = nil }
            }
            for term in Set(pod.requiredAntiAffinity) {
                antiAffinity[term, default: [:]][node, default: 0] += delta
                if antiAffinity[term]?[node] == 0 { antiAffinity[term]?[node] = nil }
                if antiAffinity[term]?.isEmpty == true { antiAffinity[term] = nil }
            }
        }

        /// Changes a node's info on a copy, so snapshots already taken keep what they saw.
        mutating func change(_ node: String, _ update: (NodeInfo) -> Void) {
            guard let i = index[node] else { return }
            let copy = nodes[i].copy()
            update(copy)
            nodes[i] = copy
        }
    }

    private let state = Mutex(State())

    public init() {}

    /// What one decision looks at: the nodes as they are now, found by name, and the anti-affinity of placed pods.
    /// Later changes do not show in a snapshot.
    public struct Snapshot: Sendable {
        public let nodes: [NodeInfo]
        public let index: [String: Int]
        public let placedAntiAffinity: [PodAffinityTerm: [String: Int]]
        public let podsByLabel: [String: [String: Int]]
        let cache: SchedulerCache?

        /// The values of a topology key over all nodes (each with its node count).
        public func domains(of key: String) -> [String: Int] {
            cache?.domains(of: key) ?? nodes.reduce(into: [:]) { domains, node in
                if let value = node.labels[key] { domains[value, default: 0] += 1 }
            }
        }
    }

    public func snapshot() -> Snapshot {
        state.withLock { Snapshot(nodes: $0.nodes, index: $0.index, placedAntiAffinity: $0.antiAffinity, podsByLabel: $0.podsByLabel, cache: self) }
    }

    func domains(of key: String) -> [String: Int] {
        state.withLock { s in
            if let known = s.domains[key] { return known }
            var domains: [String: Int] = [:]
            for node in s.nodes { if let value = node.labels[key] { domains[value, default: 0] += 1 } }
            s.domains[key] = domains
            return domains
        }
    }

    public var nodeCount: Int { state.withLock { $0.nodes.count } }

    public func setNode(_ node: JSONValue) {
        guard let name = node.name else { return }
        state.withLock { s in
            if let i = s.index[name] {
                let previous = s.nodes[i]
                s.nodes[i] = previous.replacingNode(node)
                if previous.labels != s.nodes[i].labels { s.domains = [:] }
            } else {
                s.domains = [:]
                let info = NodeInfo(node)
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
            s.domains = [:]
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
                s.change(previous.node) { $0.remove(previous.pod) }
                s.count(previous.pod, on: previous.node, -1)
            }
            s.placements[pod.key] = (node, pod, assumed)
            s.count(pod, on: node, 1)
            s.change(node) { $0.add(pod) }
        }
    }

    /// Removes a pod (deleted, finished, or an assumed one whose binding failed).
    public func remove(key: String) {
        state.withLock { s in
            guard let placement = s.placements.removeValue(forKey: key) else { return }
            s.count(placement.pod, on: placement.node, -1)
            s.change(placement.node) { $0.remove(placement.pod) }
        }
    }

    /// The pods counted on one node (bound or assumed), for preemption.
    public func pods(on node: String) -> [PodInfo] {
        state.withLock { s in s.placements.values.filter { $0.node == node }.map(\.pod) }
    }

    public func isPlaced(_ key: String) -> Bool { state.withLock { $0.placements[key] != nil } }
}
