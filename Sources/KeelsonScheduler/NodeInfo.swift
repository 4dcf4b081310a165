import KeelsonAPI

/// A node and what is placed on it, as the scheduler's cache keeps them: the node's allocatable resources and the
/// summed requests of its pods (bound or assumed).
///
/// A class, so that a decision looking at thousands of nodes passes one reference per node rather than copying a
/// dozen fields. Instances in a snapshot are never changed: the cache changes a private `copy()` and then swaps it
/// in.
public final class NodeInfo: @unchecked Sendable {
    public let node: JSONValue
    public let name: String
    /// Read once per node change rather than once per decision.
    public let labels: [String: String]
    public let taints: [JSONValue]
    public let unschedulable: Bool
    public let allocatable: ResourceAmounts
    /// Image name → size in bytes, from `status.images`.
    public let images: [String: Int64]

    public private(set) var requested = ResourceAmounts()
    /// The pods' `scoringRequests` summed (CPU and memory only).
    public private(set) var scoringRequested = ResourceAmounts()
    public private(set) var podCount = 0
    public private(set) var usedPorts: [String: Int] = [:]
    public private(set) var pods: Set<String> = []
    /// Namespace and labels of each pod here, for spreading and affinity.
    public private(set) var podLabels: [String: (namespace: String, labels: [String: String])] = [:]
    /// The required anti-affinity terms of pods here that have some.
    public private(set) var podAntiAffinity: [String: [PodAffinityTerm]] = [:]
    /// Pods here per namespace and label (`countKey`): spreading and affinity count pods by one label value far
    /// more often than by anything else.
    public private(set) var labelCounts: [String: Int] = [:]

    public init(_ node: JSONValue) {
        self.node = node
        self.name = node.name ?? ""
        self.taints = Taints.taints(of: node)
        self.labels = node.labels
        self.unschedulable = node["spec"]?["unschedulable"]?.boolValue ?? false
        var allocatable: [String: Quantity] = [:]
        for (name, value) in (node["status"]?["allocatable"]?.objectValue ?? node["status"]?["capacity"]?.objectValue ?? [:]) {
            if let quantity = Quantity(json: value) { allocatable[name] = quantity }
        }
        self.allocatable = ResourceAmounts(allocatable)
        var images: [String: Int64] = [:]
        for image in node["status"]?["images"]?.arrayValue ?? [] {
            let size = image["sizeBytes"]?.intValue ?? 0
            for name in (image["names"]?.arrayValue ?? []).compactMap(\.stringValue) { images[name] = size }
        }
        self.images = images
    }

    /// The same placements on a new version of the Node object.
    func replacingNode(_ node: JSONValue) -> NodeInfo {
        let info = NodeInfo(node)
        info.takePlacements(from: self)
        return info
    }

    /// A copy to change (the original may be in a snapshot).
    func copy() -> NodeInfo {
        NodeInfo(copying: self)
    }

    private init(copying other: NodeInfo) {
        node = other.node
        name = other.name
        labels = other.labels
        taints = other.taints
        unschedulable = other.unschedulable
        allocatable = other.allocatable
        images = other.images
        takePlacements(from: other)
    }

    private func takePlacements(from other: NodeInfo) {
        requested = other.requested
        scoringRequested = other.scoringRequested
        podCount = other.podCount
        usedPorts = other.usedPorts
        pods = other.pods
        podLabels = other.podLabels
        podAntiAffinity = other.podAntiAffinity
        labelCounts = other.labelCounts
    }

    static func countKey(namespace: String, label: String, value: String) -> String { "\(namespace)\u{0}\(label)=\(value)" }

    /// The `labelCounts` key for pods of a namespace matched by a selector of one label value, else nil.
    static func countKey(namespace: String, _ selector: LabelSelector) -> String? {
        guard !selector.matchesNothing, selector.requirements.count == 1, let requirement = selector.requirements.first,
            requirement.op == .equals || requirement.op == .in, requirement.values.count == 1
        else { return nil }
        return countKey(namespace: namespace, label: requirement.key, value: requirement.values[0])
    }

    func add(_ pod: PodInfo) {
        guard pods.insert(pod.key).inserted else { return }
        requested += pod.requests
        scoringRequested += pod.scoringRequests
        podCount += 1
        podLabels[pod.key] = (pod.namespace, pod.labels)
        for (label, value) in pod.labels { labelCounts[Self.countKey(namespace: pod.namespace, label: label, value: value), default: 0] += 1 }
        if !pod.requiredAntiAffinity.isEmpty { podAntiAffinity[pod.key] = pod.requiredAntiAffinity }
        for port in pod.hostPorts { usedPorts[port, default: 0] += 1 }
    }

    func remove(_ pod: PodInfo) {
        guard pods.remove(pod.key) != nil else { return }
        requested -= pod.requests
        scoringRequested -= pod.scoringRequests
        podCount -= 1
        podLabels[pod.key] = nil
        for (label, value) in pod.labels {
            let key = Self.countKey(namespace: pod.namespace, label: label, value: value)
            labelCounts[key, default: 1] -= 1
            if labelCounts[key] == 0 { labelCounts[key] = nil }
        }
        podAntiAffinity[pod.key] = nil
        for port in pod.hostPorts {
            usedPorts[port, default: 1] -= 1
            if usedPorts[port] == 0 { usedPorts[port] = nil }
        }
    }
}
