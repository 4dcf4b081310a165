import Foundation
import KeelsonAPI
import KeelsonClient
import Logging

/// Keeps the `discovery.k8s.io/v1` EndpointSlices of each selecting Service, as kube-controller-manager's
/// endpointslice controller does: one endpoint per pod with an IP (conditions ready, serving and terminating, so
/// proxies can fall back to terminating endpoints), endpoints grouped into slices by their resolved port list, at
/// most `maxEndpointsPerSlice` per slice, labelled `kubernetes.io/service-name` and
/// `endpointslice.kubernetes.io/managed-by`, owned by the Service. Existing slices are reused in name order so a
/// small change touches one slice, and slices nobody needs are deleted.
public struct EndpointSliceController: Sendable {
    public static let name = "endpointslice-controller"
    static let managedBy = "endpointslice-controller.k8s.io"
    static let serviceNameLabel = "kubernetes.io/service-name"
    static let managedByLabel = "endpointslice.kubernetes.io/managed-by"

    /// Slices by owning Service's key, for the informer of EndpointSlices.
    public static let serviceIndex = InformerIndex(name: "service") { slice in
        guard let service = slice.labels[serviceNameLabel], let namespace = slice.namespace else { return [] }
        return ["\(namespace)/\(service)"]
    }

    let client: any KubernetesClient
    let services: Informer
    let pods: Informer
    let slices: Informer
    let maxEndpointsPerSlice: Int
    /// Slices created but not yet seen by the informer, so a quick second sync does not create them again.
    let expectations = ControllerExpectations()
    let logger: Logger

    /// `services` and `pods` must carry the `namespace` index, `slices` the `serviceIndex`.
    public init(client: any KubernetesClient, services: Informer, pods: Informer, slices: Informer, logger: Logger,
        maxEndpointsPerSlice: Int = 100)
    {
        self.client = client
        self.services = services
        self.pods = pods
        self.slices = slices
        self.logger = logger
        self.maxEndpointsPerSlice = maxEndpointsPerSlice
    }

    public func register(_ queue: WorkQueue<String>) {
        services.addHandler { event in
            switch event {
            case .added(let svc), .updated(_, let svc): queue.add(Informer.key(of: svc))
            case .deleted: break  // the garbage collector deletes the slices the Service owns
            }
        }
        pods.addHandler { event in
            switch event {
            case .added(let pod), .deleted(let pod):
                for key in ServiceEndpoints.services(selecting: pod, from: services) { queue.add(key) }
            case .updated(let old, let new):
                guard EndpointsController.endpointRelevant(old) != EndpointsController.endpointRelevant(new) else { return }
                let keys = Set(ServiceEndpoints.services(selecting: old, from: services) + ServiceEndpoints.services(selecting: new, from: services))
                for key in keys { queue.add(key) }
            }
        }
        slices.addHandler { event in
            // A managed slice changed or deleted by someone else is put back.
            switch event {
            case .updated(_, let slice), .deleted(let slice):
                if slice.labels[Self.managedByLabel] == Self.managedBy, let service = slice.labels[Self.serviceNameLabel],
                    let namespace = slice.namespace
                {
                    queue.add("\(namespace)/\(service)")
                }
            case .added(let slice):
                if let service = slice.labels[Self.serviceNameLabel], let namespace = slice.namespace {
                    expectations.creationObserved("\(namespace)/\(service)")
                }
            }
        }
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        guard let svc = services.get(key), svc.deletionTimestamp == nil, ServiceEndpoints.backs(svc) else {
            expectations.delete(key)
            return .done
        }
        guard expectations.satisfied(key) else { return .requeue(after: .milliseconds(100)) }
        let existing = slices.byIndex(Self.serviceIndex.name, key)
            .filter { $0.labels[Self.managedByLabel] == Self.managedBy && $0.deletionTimestamp == nil }
        let desired = desiredSlices(for: svc, pods: ServiceEndpoints.pods(of: svc, from: pods))

        // Reuse existing slices with the same port list, oldest name first; the rest are created or deleted.
        var unused = existing.sorted { ($0.name ?? "") < ($1.name ?? "") }
        var creates: [JSONValue] = []
        for slice in desired {
            if let index = unused.firstIndex(where: { $0["ports"] == slice["ports"] }) {
                let current = unused.remove(at: index)
                var updated = current
                updated["endpoints"] = slice["endpoints"]
                updated["ports"] = slice["ports"]
                updated.setMetadataField("labels", slice["metadata"]?["labels"])
                if updated != current {
                    try await client.update(.endpointSlices, namespace: svc.namespace, updated)
                }
            } else {
                creates.append(slice)
            }
        }
        if !creates.isEmpty {
            expectations.expect(key, adds: creates.count)
            for (index, slice) in creates.enumerated() {
                do {
                    try await client.create(.endpointSlices, namespace: svc.namespace, slice)
                } catch {
                    expectations.lowerAdds(key, by: creates.count - index)
                    throw error
                }
            }
        }
        for slice in unused {
            do {
                try await client.delete(.endpointSlices, namespace: slice.namespace, name: slice.name ?? "", uid: slice.uid ?? "")
            } catch let error as APIError where error.isNotFound || error.isConflict {}
        }
        return .done
    }

    /// A slice's port always carries a name, empty for an unnamed Service port: its Go type has a pointer there
    /// that kubectl dereferences without a check.
    static func slicePorts(_ ports: [JSONValue]) -> [JSONValue] {
        ports.map { port in
            var port = port
            if port["name"] == nil { port["name"] = "" }
            return port
        }
    }

    /// The slices a Service should have: endpoints grouped by port list, chunked, in stable order. A Service with
    /// no endpoints keeps one empty slice, as upstream does, so consumers can tell "no endpoints" from "not synced".
    func desiredSlices(for svc: JSONValue, pods: [JSONValue]) -> [JSONValue] {
        let publishNotReady = ServiceEndpoints.publishesNotReady(svc)
        var groups: [JSONValue: [JSONValue]] = [:]
        for pod in pods.sorted(by: { ($0.name ?? "") < ($1.name ?? "") }) {
            guard let ip = ServiceEndpoints.podIP(pod), !PodState.isTerminal(pod) else { continue }
            let terminating = pod.deletionTimestamp != nil
            let ready = PodState.isReady(pod)
            var endpoint: JSONValue = [
                "addresses": [.string(ip)],
                "conditions": ["ready": .bool(publishNotReady || (ready && !terminating)), "serving": .bool(publishNotReady || ready),
                               "terminating": .bool(terminating)],
                "targetRef": ServiceEndpoints.targetRef(pod),
            ]
            if let node = pod["spec"]?["nodeName"]?.stringValue, !node.isEmpty { endpoint["nodeName"] = .string(node) }
            if let hostname = ServiceEndpoints.hostname(pod, service: svc) { endpoint["hostname"] = .string(hostname) }
            groups[.array(Self.slicePorts(ServiceEndpoints.ports(of: svc, on: pod))), default: []].append(endpoint)
        }
        if groups.isEmpty {
            let ports = Self.slicePorts(ServiceEndpoints.ports(of: svc, on: [:]))
            groups[.array(ports)] = []
        }
        var labels = svc["metadata"]?["labels"]?.objectValue ?? [:]
        labels[Self.serviceNameLabel] = .string(svc.name ?? "")
        labels[Self.managedByLabel] = .string(Self.managedBy)
        if svc["spec"]?["clusterIP"]?.stringValue == "None" { labels["service.kubernetes.io/headless"] = "" }
        let owner = OwnerReference(apiVersion: "v1", kind: "Service", name: svc.name ?? "", uid: svc.uid ?? "", controller: true,
            blockOwnerDeletion: true)
        var result: [JSONValue] = []
        for (ports, endpoints) in groups.sorted(by: { $0.key.encodedString() < $1.key.encodedString() }) {
            let chunks = endpoints.isEmpty ? [[]] : stride(from: 0, to: endpoints.count, by: maxEndpointsPerSlice).map {
                Array(endpoints[$0..<min($0 + maxEndpointsPerSlice, endpoints.count)])
            }
            for chunk in chunks {
                var slice: JSONValue = [
                    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": ["generateName": .string("\(svc.name ?? "")-"), "labels": .object(labels)],
                    "addressType": "IPv4", "endpoints": .array(chunk), "ports": ports,
                ]
                slice.ownerReferences = [owner]
                result.append(slice)
            }
        }
        return result
    }
}
