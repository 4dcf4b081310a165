import KeelsonAPI

/// A pod as the scheduler reads it: parsed once when it enters the queue.
public struct PodInfo: Sendable {
    public let pod: JSONValue
    public let key: String
    public let requests: [String: Quantity]
    public let priority: Int64
    public let created: String
    public let hostPorts: [String]
    public let tolerations: [JSONValue]
    /// Whether the pod constrains nodes by selector or required affinity (most pods do not: a fast path).
    public let hasNodeConstraints: Bool
    /// `spec.nodeName` if the pod names a node.
    public let requestedNode: String?
    /// Non-zero requests, sorted by resource name (the order reasons are reported in).
    public let sortedRequests: [(name: String, quantity: Quantity)]
    public let namespace: String
    public let labels: [String: String]
    /// `podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution`: other pods must respect these too.
    public let requiredAntiAffinity: [JSONValue]
    /// Whether the pod has any pod affinity or anti-affinity, required or preferred.
    public let hasPodAffinity: Bool
    public let hasTopologySpread: Bool

    public init(_ pod: JSONValue) {
        self.pod = pod
        self.key = "\(pod.namespace ?? "")/\(pod.name ?? "")"
        self.requests = PodResources.total(pod)
        self.priority = pod["spec"]?["priority"]?.intValue ?? 0
        self.created = pod.creationTimestamp ?? ""
        var ports: [String] = []
        for container in pod["spec"]?["containers"]?.arrayValue ?? [] {
            for port in container["ports"]?.arrayValue ?? [] {
                guard let host = port["hostPort"]?.intValue, host > 0 else { continue }
                ports.append("\(port["protocol"]?.stringValue ?? "TCP")/\(port["hostIP"]?.stringValue ?? "0.0.0.0")/\(host)")
            }
        }
        self.hostPorts = ports
        self.tolerations = Taints.tolerations(of: pod)
        let spec = pod["spec"]
        self.namespace = pod.namespace ?? ""
        self.labels = pod.labels
        self.requiredAntiAffinity = spec?["affinity"]?["podAntiAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"]?.arrayValue ?? []
        self.hasPodAffinity = spec?["affinity"]?["podAffinity"] != nil || spec?["affinity"]?["podAntiAffinity"] != nil
        self.hasTopologySpread = !(spec?["topologySpreadConstraints"]?.arrayValue ?? []).isEmpty
        self.requestedNode = spec?["nodeName"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        self.sortedRequests = requests.filter { $0.value.milli > 0 }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        self.hasNodeConstraints = !(spec?["nodeSelector"]?.objectValue ?? [:]).isEmpty
            || spec?["affinity"]?["nodeAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"] != nil
    }

    public var spec: JSONValue { pod["spec"] ?? [:] }
    public var schedulerName: String { pod["spec"]?["schedulerName"]?.stringValue ?? "default-scheduler" }
}

/// A node and what is placed on it, as the scheduler's cache keeps them: the node's allocatable resources and the
/// summed requests of its pods (bound or assumed).
public struct NodeInfo: Sendable {
    public var node: JSONValue
    public let name: String
    public var allocatable: [String: Quantity]
    public var requested: [String: Quantity] = [:]
    public var podCount = 0
    public var usedPorts: [String: Int] = [:]
    public var pods: Set<String> = []
    /// Namespace and labels of each pod here, for spreading and affinity.
    public var podLabels: [String: (namespace: String, labels: [String: String])] = [:]
    /// The required anti-affinity terms of pods here that have some.
    public var podAntiAffinity: [String: (namespace: String, terms: [JSONValue])] = [:]
    /// Read once per node change rather than once per decision.
    public let labels: [String: String]
    public let taints: [JSONValue]
    public let unschedulable: Bool

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
        self.allocatable = allocatable
    }

    mutating func add(_ pod: PodInfo) {
        guard pods.insert(pod.key).inserted else { return }
        for (name, value) in pod.requests { requested[name] = (requested[name] ?? .zero) + value }
        podCount += 1
        podLabels[pod.key] = (pod.namespace, pod.labels)
        if !pod.requiredAntiAffinity.isEmpty { podAntiAffinity[pod.key] = (pod.namespace, pod.requiredAntiAffinity) }
        for port in pod.hostPorts { usedPorts[port, default: 0] += 1 }
    }

    mutating func remove(_ pod: PodInfo) {
        guard pods.remove(pod.key) != nil else { return }
        for (name, value) in pod.requests { requested[name] = (requested[name] ?? .zero) - value }
        podCount -= 1
        podLabels[pod.key] = nil
        podAntiAffinity[pod.key] = nil
        for port in pod.hostPorts {
            usedPorts[port, default: 1] -= 1
            if usedPorts[port] == 0 { usedPorts[port] = nil }
        }
    }
}
