import KeelsonAPI

/// A pod as the scheduler reads it: parsed once when it enters the queue.
public struct PodInfo: Sendable {
    public let pod: JSONValue
    public let key: String
    public let requests: ResourceAmounts
    /// CPU and memory requests as resource scoring counts them: a container naming none asks for 100m and 200Mi
    /// (upstream's non-zero defaults), so best-effort pods spread instead of piling onto one node.
    public let scoringRequests: ResourceAmounts
    public let priority: Int64
    public let created: String
    public let hostPorts: [String]
    public let tolerations: [JSONValue]
    /// Whether the pod constrains nodes by selector or required affinity (most pods do not: a fast path).
    public let hasNodeConstraints: Bool
    /// `spec.nodeName` if the pod names a node.
    public let requestedNode: String?
    /// Images of the pod's containers (ImageLocality).
    public let images: [String]
    public let namespace: String
    public let labels: [String: String]
    /// Required pod affinity terms.
    public let requiredAffinity: [PodAffinityTerm]
    /// Required anti-affinity terms: other pods must respect these too, while this one is placed.
    public let requiredAntiAffinity: [PodAffinityTerm]
    /// Preferred affinity and anti-affinity terms (anti-affinity with negative weights).
    public let preferredAffinity: [PodAffinityTerm]
    /// Whether the pod has any pod affinity or anti-affinity, required or preferred.
    public let hasPodAffinity: Bool
    public let hasTopologySpread: Bool
    /// Whether the pod mounts PersistentVolumeClaims (directly or as generic ephemeral volumes).
    public let hasVolumeClaims: Bool
    /// For a pod without spread constraints: the selector of the cluster's default constraints (its Services' and
    /// controller's), filled in by the scheduler.
    public var defaultSpreadSelector: LabelSelector?

    static let nonZeroDefaults: [String: Quantity] = ["cpu": Quantity(milli: 100), "memory": Quantity(milli: 200 * 1024 * 1024 * 1000)]

    public init(_ pod: JSONValue) {
        self.pod = pod
        self.key = "\(pod.namespace ?? "")/\(pod.name ?? "")"
        self.requests = ResourceAmounts(PodResources.total(pod))
        let scoring = PodResources.total(pod, missing: Self.nonZeroDefaults)
        var amounts = ResourceAmounts()
        amounts.cpu = scoring["cpu"]?.milli ?? 0
        amounts.memory = scoring["memory"]?.milli ?? 0
        self.scoringRequests = amounts
        self.priority = pod["spec"]?["priority"]?.intValue ?? 0
        self.created = pod.creationTimestamp ?? ""
        var ports: [String] = []
        for container in pod["spec"]?["containers"]?.arrayValue ?? [] {
            for port in container["ports"]?.arrayValue ?? [] {
                guard let host = port["hostPort"]?.intValue, host > 0 else { continue }
                // An unset protocol is TCP and an unset host IP every address, as the API defaults them.
                let proto = port["protocol"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "TCP"
                let hostIP = port["hostIP"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "0.0.0.0"
                ports.append("\(proto)/\(hostIP)/\(host)")
            }
        }
        self.hostPorts = ports
        self.tolerations = Taints.tolerations(of: pod)
        let spec = pod["spec"]
        self.namespace = pod.namespace ?? ""
        self.labels = pod.labels
        (self.requiredAffinity, self.requiredAntiAffinity, self.preferredAffinity) = PodAffinityTerm.terms(of: spec, namespace: namespace)
        self.hasPodAffinity = spec?["affinity"]?["podAffinity"] != nil || spec?["affinity"]?["podAntiAffinity"] != nil
        self.hasTopologySpread = !(spec?["topologySpreadConstraints"]?.arrayValue ?? []).isEmpty
        self.hasVolumeClaims = (spec?["volumes"]?.arrayValue ?? []).contains { $0["persistentVolumeClaim"] != nil || $0["ephemeral"] != nil }
        self.requestedNode = spec?["nodeName"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        self.images = (spec?["containers"]?.arrayValue ?? []).compactMap { $0["image"]?.stringValue }
        self.hasNodeConstraints = !(spec?["nodeSelector"]?.objectValue ?? [:]).isEmpty
            || spec?["affinity"]?["nodeAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"] != nil
    }

    public var spec: JSONValue { pod["spec"] ?? [:] }
    public var schedulerName: String { pod["spec"]?["schedulerName"]?.stringValue ?? "default-scheduler" }
}
