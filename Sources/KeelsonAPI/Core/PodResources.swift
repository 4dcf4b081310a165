/// What a pod asks of a node, as Kubernetes counts it (`resourcehelper.PodRequests`): the sum over its containers,
/// or the largest init container if that is more (init containers run one at a time, before the others; restartable
/// "sidecar" init containers run alongside and add up), plus the pod's `overhead`.
public enum PodResources {
    /// `requests` (or `limits`) per resource name.
    public static func total(_ pod: JSONValue, _ kind: String = "requests") -> [String: Quantity] {
        let spec = pod["spec"] ?? [:]
        var sum: [String: Quantity] = [:]
        for container in spec["containers"]?.arrayValue ?? [] { add(&sum, container["resources"]?[kind]) }
        var sidecars: [String: Quantity] = [:]
        var initMax: [String: Quantity] = [:]
        for container in spec["initContainers"]?.arrayValue ?? [] {
            if container["restartPolicy"]?.stringValue == "Always" {
                add(&sidecars, container["resources"]?[kind])
                add(&sum, container["resources"]?[kind])
                continue
            }
            // A regular init container runs beside the sidecars started before it.
            var running = sidecars
            add(&running, container["resources"]?[kind])
            for (name, value) in running where value > (initMax[name] ?? .zero) { initMax[name] = value }
        }
        for (name, value) in initMax where value > (sum[name] ?? .zero) { sum[name] = value }
        add(&sum, spec["overhead"])
        return sum
    }

    static func add(_ sum: inout [String: Quantity], _ resources: JSONValue?) {
        for (name, value) in resources?.objectValue ?? [:] {
            guard let quantity = Quantity(json: value) else { continue }
            sum[name] = (sum[name] ?? .zero) + quantity
        }
    }
}
