import KeelsonAPI
import KeelsonClient

/// What the Endpoints and EndpointSlice controllers both compute from a Service and its pods: which pods back it,
/// and the port each Service port reaches on each pod (`podutil.FindPort`).
enum ServiceEndpoints {
    /// The Service's selector; nil for a Service without one, whose endpoints are managed by someone else.
    static func selector(of svc: JSONValue) -> LabelSelector? {
        guard let labels = svc["spec"]?["selector"]?.objectValue, !labels.isEmpty else { return nil }
        return try? LabelSelector.from(["matchLabels": .object(labels)])
    }

    static func backs(_ svc: JSONValue) -> Bool {
        svc["spec"]?["type"]?.stringValue != "ExternalName" && selector(of: svc) != nil
    }

    /// The pods a Service's selector picks in its namespace.
    static func pods(of svc: JSONValue, from pods: Informer) -> [JSONValue] {
        guard let selector = selector(of: svc), let namespace = svc.namespace else { return [] }
        return pods.byIndex(InformerIndex.namespace.name, namespace).filter { selector.matches($0.labels) }
    }

    /// The keys of the Services in `pod`'s namespace that select it.
    static func services(selecting pod: JSONValue, from services: Informer) -> [String] {
        guard let namespace = pod.namespace else { return [] }
        return services.byIndex(InformerIndex.namespace.name, namespace).compactMap { svc in
            guard let selector = selector(of: svc), selector.matches(pod.labels) else { return nil }
            return Informer.key(of: svc)
        }
    }

    static func podIP(_ pod: JSONValue) -> String? {
        guard let ip = pod["status"]?["podIP"]?.stringValue, !ip.isEmpty else { return nil }
        return ip
    }

    /// The port on `pod` a Service port's `targetPort` names: a number as is, a name looked up among the pod's
    /// container ports of the same protocol. Nil when the name is not found.
    static func targetPort(_ servicePort: JSONValue, on pod: JSONValue) -> Int64? {
        let target = servicePort["targetPort"] ?? servicePort["port"] ?? .null
        if let number = target.intValue { return number }
        guard let name = target.stringValue else { return servicePort["port"]?.intValue }
        if let number = Int64(name) { return number }
        let proto = servicePort["protocol"]?.stringValue ?? "TCP"
        for container in pod["spec"]?["containers"]?.arrayValue ?? [] {
            for port in container["ports"]?.arrayValue ?? []
            where port["name"]?.stringValue == name && (port["protocol"]?.stringValue ?? "TCP") == proto {
                return port["containerPort"]?.intValue
            }
        }
        return nil
    }

    /// The endpoint ports of one pod for every Service port, in the Service's order, leaving out named ports the
    /// pod does not have.
    static func ports(of svc: JSONValue, on pod: JSONValue) -> [JSONValue] {
        (svc["spec"]?["ports"]?.arrayValue ?? []).compactMap { servicePort in
            guard let port = targetPort(servicePort, on: pod) else { return nil }
            var endpointPort: JSONValue = ["port": .integer(port), "protocol": servicePort["protocol"] ?? "TCP"]
            if let name = servicePort["name"]?.stringValue, !name.isEmpty { endpointPort["name"] = .string(name) }
            if let appProtocol = servicePort["appProtocol"] { endpointPort["appProtocol"] = appProtocol }
            return endpointPort
        }
    }

    static func targetRef(_ pod: JSONValue) -> JSONValue {
        ["kind": "Pod", "namespace": .string(pod.namespace ?? ""), "name": .string(pod.name ?? ""), "uid": .string(pod.uid ?? "")]
    }

    /// A StatefulSet-style pod's DNS hostname under the Service (`spec.hostname` with `spec.subdomain` = Service).
    static func hostname(_ pod: JSONValue, service: JSONValue) -> String? {
        guard let hostname = pod["spec"]?["hostname"]?.stringValue, !hostname.isEmpty,
            pod["spec"]?["subdomain"]?.stringValue == service.name
        else { return nil }
        return hostname
    }

    static func publishesNotReady(_ svc: JSONValue) -> Bool { svc["spec"]?["publishNotReadyAddresses"]?.boolValue ?? false }
}
