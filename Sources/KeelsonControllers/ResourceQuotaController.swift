import Foundation
import KeelsonAPI
import KeelsonClient
import Logging
import Synchronization

/// Keeps ResourceQuotas' `status.hard` and `status.used`, as kube-controller-manager's resource quota controller
/// does: object counts (`pods`, `services`, `configmaps`, `secrets`, `persistentvolumeclaims`, `count/RESOURCE[.GROUP]`,
/// `services.nodeports`, `services.loadbalancers`) and compute and storage totals of the namespace's unfinished pods
/// and claims (`requests.cpu`, `limits.memory`, `requests.storage`, … and the bare `cpu`/`memory` forms). Pods,
/// Services and claims are followed through informers; other counts are listed at each sync, which happens on
/// changes and every five minutes.
public struct ResourceQuotaController: Sendable {
    public static let name = "resourcequota-controller"

    let client: any KubernetesClient
    let quotas: Informer
    let pods: Informer
    let services: Informer
    let claims: Informer
    let resync: Duration
    let logger: Logger
    private let discovered = DiscoveryCache()

    /// `quotas`, `pods`, `services` and `claims` must carry the `namespace` index.
    public init(client: any KubernetesClient, quotas: Informer, pods: Informer, services: Informer, claims: Informer,
        resync: Duration = .seconds(300), logger: Logger)
    {
        self.client = client
        self.quotas = quotas
        self.pods = pods
        self.services = services
        self.claims = claims
        self.resync = resync
        self.logger = logger
    }

    public func register(_ queue: WorkQueue<String>) {
        quotas.addHandler { event in
            switch event {
            case .added(let q), .updated(_, let q): queue.add(Informer.key(of: q))
            case .deleted: break
            }
        }
        for informer in [pods, services, claims] {
            informer.addHandler { event in
                let object: JSONValue
                switch event {
                case .added(let o), .updated(_, let o), .deleted(let o): object = o
                }
                guard let namespace = object.namespace else { return }
                for quota in quotas.byIndex(InformerIndex.namespace.name, namespace) { queue.add(Informer.key(of: quota)) }
            }
        }
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        guard let quota = quotas.get(key), let namespace = quota.namespace else { return .done }
        let hard = quota["spec"]?["hard"]?.objectValue ?? [:]
        let livePods = pods.byIndex(InformerIndex.namespace.name, namespace).filter { !PodState.isTerminal($0) }
        var podTotals: [String: [String: Quantity]] = [:]
        func podTotal(_ kind: String) -> [String: Quantity] {
            if let cached = podTotals[kind] { return cached }
            var sum: [String: Quantity] = [:]
            for pod in livePods { for (name, value) in PodResources.total(pod, kind) { sum[name] = (sum[name] ?? .zero) + value } }
            podTotals[kind] = sum
            return sum
        }
        var used: [String: JSONValue] = [:]
        for name in hard.keys {
            if let quantity = try await usage(of: name, namespace: namespace, livePods: livePods, podTotal: podTotal) {
                used[name] = .string(quantity.description)
            }
        }
        var status = quota["status"] ?? [:]
        status["hard"] = .object(hard)
        status["used"] = .object(used)
        _ = try await StatusWriter.write(status, to: quota, resource: .resourceQuotas, client: client)
        return .requeue(after: resync)
    }

    private func usage(of name: String, namespace: String, livePods: [JSONValue], podTotal: (String) -> [String: Quantity]) async throws -> Quantity? {
        let count = { (n: Int) in Quantity(milli: Int64(n) * 1000) }
        let namespaceServices = { services.byIndex(InformerIndex.namespace.name, namespace) }
        switch name {
        case "pods", "count/pods": return count(livePods.count)
        case "services", "count/services": return count(namespaceServices().count)
        case "services.nodeports":
            return count(namespaceServices().reduce(0) { total, svc in
                total + (svc["spec"]?["ports"]?.arrayValue ?? []).filter { $0["nodePort"]?.intValue != nil }.count
            })
        case "services.loadbalancers":
            return count(namespaceServices().filter { $0["spec"]?["type"]?.stringValue == "LoadBalancer" }.count)
        case "persistentvolumeclaims", "count/persistentvolumeclaims":
            return count(claims.byIndex(InformerIndex.namespace.name, namespace).count)
        case "requests.storage":
            return claims.byIndex(InformerIndex.namespace.name, namespace).reduce(Quantity.zero) { sum, claim in
                sum + (Quantity(json: claim["spec"]?["resources"]?["requests"]?["storage"]) ?? .zero)
            }
        case "configmaps", "secrets", "replicationcontrollers", "resourcequotas":
            return count(try await client.listAll(ResourceReference(group: "", version: "v1", resource: name, namespaced: true), namespace: namespace).items.count)
        default:
            break
        }
        if name.hasPrefix("count/") {
            let groupResource = name.dropFirst("count/".count)
            let parts = groupResource.split(separator: ".", maxSplits: 1)
            let resource = String(parts[0]), group = parts.count > 1 ? String(parts[1]) : ""
            guard let reference = try await discovered.reference(resource: resource, group: group, client: client) else { return nil }
            return count(try await client.listAll(reference, namespace: namespace).items.count)
        }
        // Compute resources: `requests.X`, `limits.X`, and bare `cpu`/`memory`/… meaning requests.
        if name.hasPrefix("limits.") { return podTotal("limits")[String(name.dropFirst("limits.".count))] ?? .zero }
        if name.hasPrefix("requests.") { return podTotal("requests")[String(name.dropFirst("requests.".count))] ?? .zero }
        if ["cpu", "memory", "ephemeral-storage"].contains(name) { return podTotal("requests")[name] ?? .zero }
        return nil
    }
}

/// The served resources, looked up once, for `count/RESOURCE.GROUP` quotas.
final class DiscoveryCache: Sendable {
    private let resources = Mutex<[DiscoveredResource]?>(nil)

    func reference(resource: String, group: String, client: any KubernetesClient) async throws -> ResourceReference? {
        var known = resources.withLock { $0 }
        if known == nil {
            known = try await client.discoverResources()
            resources.withLock { $0 = known }
        }
        return known?.first { $0.reference.resource == resource && $0.group == group && $0.reference.namespaced }?.reference
    }
}
