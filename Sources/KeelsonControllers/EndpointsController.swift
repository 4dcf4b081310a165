import Foundation
import KeelsonAPI
import KeelsonClient
import Logging

/// Keeps a core/v1 Endpoints object per selecting Service, listing the IPs of the pods behind it, as
/// kube-controller-manager's endpoints controller does: ready pods under `addresses`, others under
/// `notReadyAddresses` (all under `addresses` with `publishNotReadyAddresses`), pods being deleted or finished left
/// out, named target ports resolved per pod, and subsets grouped by identical port lists. Services without a
/// selector keep whatever Endpoints their owner writes.
public struct EndpointsController: Sendable {
    public static let name = "endpoints-controller"

    let client: any KubernetesClient
    let services: Informer
    let pods: Informer
    let endpoints: Informer
    let logger: Logger

    /// `services` and `pods` must carry the `namespace` index.
    public init(client: any KubernetesClient, services: Informer, pods: Informer, endpoints: Informer, logger: Logger) {
        self.client = client
        self.services = services
        self.pods = pods
        self.endpoints = endpoints
        self.logger = logger
    }

    public func register(_ queue: WorkQueue<String>) {
        services.addHandler { event in
            switch event {
            case .added(let svc), .updated(_, let svc), .deleted(let svc): queue.add(Informer.key(of: svc))
            }
        }
        pods.addHandler { event in
            switch event {
            case .added(let pod), .deleted(let pod):
                for key in ServiceEndpoints.services(selecting: pod, from: services) { queue.add(key) }
            case .updated(let old, let new):
                // Only what endpoints show matters: IP, readiness, labels, deletion, node, hostname, ports.
                guard Self.endpointRelevant(old) != Self.endpointRelevant(new) else { return }
                let keys = Set(ServiceEndpoints.services(selecting: old, from: services) + ServiceEndpoints.services(selecting: new, from: services))
                for key in keys { queue.add(key) }
            }
        }
        endpoints.addHandler { event in
            // Someone else changed or deleted what this controller writes: put it back.
            if case .deleted(let ep) = event { queue.add(Informer.key(of: ep)) }
        }
    }

    static func endpointRelevant(_ pod: JSONValue) -> JSONValue {
        ["ip": pod["status"]?["podIP"] ?? .null, "ready": .bool(PodState.isReady(pod)), "phase": .string(PodState.phase(pod)),
         "labels": pod["metadata"]?["labels"] ?? .null, "deleting": .bool(pod.deletionTimestamp != nil),
         "node": pod["spec"]?["nodeName"] ?? .null, "hostname": pod["spec"]?["hostname"] ?? .null,
         "subdomain": pod["spec"]?["subdomain"] ?? .null, "containers": pod["spec"]?["containers"] ?? .null]
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        let (namespace, name) = Informer.split(key: key)
        guard let svc = services.get(key) else {
            do {
                try await client.delete(.endpoints, namespace: namespace, name: name)
            } catch let error as APIError where error.isNotFound {}
            return .done
        }
        guard ServiceEndpoints.backs(svc) else { return .done }
        let subsets = Self.subsets(for: svc, pods: ServiceEndpoints.pods(of: svc, from: pods))
        var labels = svc["metadata"]?["labels"]?.objectValue ?? [:]
        if svc["spec"]?["clusterIP"]?.stringValue == "None" { labels["service.kubernetes.io/headless"] = "" }

        let existing = endpoints.get(key)
        if let existing, (existing["subsets"] ?? .array([])) == subsets, (existing["metadata"]?["labels"]?.objectValue ?? [:]) == labels {
            return .done
        }
        var object: JSONValue = existing ?? ["apiVersion": "v1", "kind": "Endpoints", "metadata": ["name": .string(name)]]
        object.setMetadataField("labels", labels.isEmpty ? nil : .object(labels))
        var annotations = object["metadata"]?["annotations"]?.objectValue ?? [:]
        annotations["endpoints.kubernetes.io/last-change-trigger-time"] = .string(Timestamp.format(Date()))
        object.setMetadataField("annotations", .object(annotations))
        object["subsets"] = subsets.arrayValue?.isEmpty == true ? nil : subsets
        do {
            if existing == nil {
                try await client.create(.endpoints, namespace: namespace, object)
            } else {
                try await client.update(.endpoints, namespace: namespace, object)
            }
        } catch let error as APIError where error.isAlreadyExists || error.isConflict {
            // The cache is behind; the informer's event brings the key back.
            throw error
        }
        return .done
    }

    /// The subsets of an Endpoints object: addresses grouped by identical port lists, sorted for stable output.
    static func subsets(for svc: JSONValue, pods: [JSONValue]) -> JSONValue {
        let publishNotReady = ServiceEndpoints.publishesNotReady(svc)
        var groups: [JSONValue: (ready: [JSONValue], notReady: [JSONValue])] = [:]
        for pod in pods {
            guard let ip = ServiceEndpoints.podIP(pod), !PodState.isTerminal(pod) else { continue }
            if pod.deletionTimestamp != nil && !publishNotReady { continue }
            var address: JSONValue = ["ip": .string(ip), "targetRef": ServiceEndpoints.targetRef(pod)]
            if let node = pod["spec"]?["nodeName"]?.stringValue, !node.isEmpty { address["nodeName"] = .string(node) }
            if let hostname = ServiceEndpoints.hostname(pod, service: svc) { address["hostname"] = .string(hostname) }
            let ports = JSONValue.array(ServiceEndpoints.ports(of: svc, on: pod))
            if publishNotReady || PodState.isReady(pod) {
                groups[ports, default: ([], [])].ready.append(address)
            } else {
                groups[ports, default: ([], [])].notReady.append(address)
            }
        }
        let byIP = { (a: JSONValue, b: JSONValue) in (a["ip"]?.stringValue ?? "") < (b["ip"]?.stringValue ?? "") }
        let subsets: [JSONValue] = groups.map { ports, addresses in
            var subset: JSONValue = [:]
            if !addresses.ready.isEmpty { subset["addresses"] = .array(addresses.ready.sorted(by: byIP)) }
            if !addresses.notReady.isEmpty { subset["notReadyAddresses"] = .array(addresses.notReady.sorted(by: byIP)) }
            if ports.arrayValue?.isEmpty == false { subset["ports"] = ports }
            return subset
        }
        return .array(subsets.sorted { $0.encodedString() < $1.encodedString() })
    }
}
