import KeelsonAPI

/// Turns Services and EndpointSlices, as the API serves them, into the service ports the proxier programs.
public enum ServiceSnapshot {
    /// - Parameter nodeName: this proxy's node, for the `Local` traffic policies.
    public static func build(services: [JSONValue], slices: [JSONValue], nodeName: String) -> [ProxiedService] {
        let slicesByService = Self.slicesByService(slices.filter { ($0["addressType"]?.stringValue ?? "IPv4") == "IPv4" })
        var result: [ProxiedService] = []
        for service in services {
            let spec = service["spec"]
            let type = spec?["type"]?.stringValue ?? "ClusterIP"
            let clusterIP = spec?["clusterIP"]?.stringValue
            guard type != "ExternalName",
                  service["metadata"]?["annotations"]?[ServiceAnnotations.nodeLocal]?.stringValue != "true" else { continue }
            let proxiedIP = clusterIP.flatMap { $0.isEmpty || $0 == "None" ? nil : $0 }
            let externalIPs = (spec?["externalIPs"]?.arrayValue ?? []).compactMap(\.stringValue)
            let loadBalancerIPs = type == "LoadBalancer"
                ? (service["status"]?["loadBalancer"]?["ingress"]?.arrayValue ?? []).compactMap { $0["ip"]?.stringValue } : []
            // Headless services are DNS's business, not the proxy's.
            guard proxiedIP != nil else { continue }
            let affinity: Int? = spec?["sessionAffinity"]?.stringValue == "ClientIP"
                ? Int(spec?["sessionAffinityConfig"]?["clientIP"]?["timeoutSeconds"]?.intValue ?? 10800) : nil
            let namespace = service.namespace ?? ""
            let name = service.name ?? ""
            let slices = slicesByService["\(namespace)/\(name)"] ?? []
            for port in spec?["ports"]?.arrayValue ?? [] {
                guard let number = port["port"]?.intValue else { continue }
                let portName = port["name"]?.stringValue ?? ""
                let proto = port["protocol"]?.stringValue ?? "TCP"
                let nodePort = (type == "NodePort" || type == "LoadBalancer") ? port["nodePort"]?.intValue.map(Int.init) : nil
                result.append(ProxiedService(
                    name: .init(namespace: namespace, service: name, port: portName, protocol: proto),
                    clusterIP: proxiedIP, port: Int(number), nodePort: nodePort, externalIPs: externalIPs, loadBalancerIPs: loadBalancerIPs,
                    affinitySeconds: affinity, internalLocal: spec?["internalTrafficPolicy"]?.stringValue == "Local",
                    externalLocal: spec?["externalTrafficPolicy"]?.stringValue == "Local",
                    endpoints: endpoints(slices, portName: portName, protocol: proto, nodeName: nodeName)))
            }
        }
        return result
    }

    /// EndpointSlices by the Service they belong to (`NAMESPACE/NAME`, from the `kubernetes.io/service-name` label).
    static func slicesByService(_ slices: [JSONValue]) -> [String: [JSONValue]] {
        var result: [String: [JSONValue]] = [:]
        for slice in slices {
            guard let service = slice["metadata"]?["labels"]?["kubernetes.io/service-name"]?.stringValue else { continue }
            result["\(slice.namespace ?? "")/\(service)", default: []].append(slice)
        }
        return result
    }

    private static func endpoints(_ slices: [JSONValue], portName: String, protocol proto: String, nodeName: String) -> [ProxiedService.Endpoint] {
        var seen: Set<String> = []
        var result: [ProxiedService.Endpoint] = []
        for slice in slices {
            guard let port = (slice["ports"]?.arrayValue ?? []).first(where: {
                ($0["name"]?.stringValue ?? "") == portName && ($0["protocol"]?.stringValue ?? "TCP") == proto
            })?["port"]?.intValue else { continue }
            for endpoint in slice["endpoints"]?.arrayValue ?? [] {
                let conditions = endpoint["conditions"]
                // Unset conditions mean ready and serving, as the EndpointSlice API defines them.
                let ready = conditions?["ready"]?.boolValue ?? true
                let serving = conditions?["serving"]?.boolValue ?? ready
                let terminating = conditions?["terminating"]?.boolValue ?? false
                let local = endpoint["nodeName"]?.stringValue == nodeName
                let nodeUnknown = endpoint["nodeName"]?.stringValue == nil
                for address in (endpoint["addresses"]?.arrayValue ?? []).compactMap(\.stringValue) where seen.insert("\(address):\(port)").inserted {
                    result.append(.init(ip: address, port: Int(port), ready: ready, serving: serving, terminating: terminating, isLocal: local,
                        nodeUnknown: nodeUnknown))
                }
            }
        }
        return result
    }
}
