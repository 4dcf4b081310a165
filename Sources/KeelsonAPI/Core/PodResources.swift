/// What a pod asks of a node, as Kubernetes counts it (`resourcehelper.PodRequests`): the sum over its containers,
/// or the largest init container if that is more (init containers run one at a time, before the others; restartable
/// "sidecar" init containers run alongside and add up), plus the pod's `overhead`.
public enum PodResources {
    /// `requests` (or `limits`) per resource name. `missing` stands in for a resource a container does not name
    /// (the scheduler's scoring counts a container without a CPU or memory request as asking for a little).
    public static func total(_ pod: JSONValue, _ kind: String = "requests", missing: [String: Quantity] = [:]) -> [String: Quantity] {
        let spec = pod["spec"] ?? [:]
        var sum: [String: Quantity] = [:]
        func addContainer(_ sum: inout [String: Quantity], _ container: JSONValue) {
            let resources = container["resources"]?[kind]
            add(&sum, resources)
            for (name, value) in missing where resources?[name] == nil { sum[name] = (sum[name] ?? .zero) + value }
        }
        for container in spec["containers"]?.arrayValue ?? [] { addContainer(&sum, container) }
        var sidecars: [String: Quantity] = [:]
        var initMax: [String: Quantity] = [:]
        for container in spec["initContainers"]?.arrayValue ?? [] {
            if container["restartPolicy"]?.stringValue == "Always" {
                addContainer(&sidecars, container)
                addContainer(&sum, container)
                continue
            }
            // A regular init container runs beside the sidecars started before it.
            var running = sidecars
            addContainer(&running, container)
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
