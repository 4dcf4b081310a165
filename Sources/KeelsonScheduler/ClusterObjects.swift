import KeelsonAPI
import KeelsonClient
import Logging

/// What plugins read besides pods and nodes — kube-scheduler's framework handle to its informers: Services,
/// ReplicaSets and StatefulSets (default spreading), PodDisruptionBudgets (preemption), and claims, volumes and
/// storage classes (volume binding). Each informer is optional so tests and lean profiles can leave it out; a plugin
/// that needs a missing one acts as if the cluster had none of those objects.
public struct ClusterObjects: Sendable {
    public var services: Informer?
    public var replicaSets: Informer?
    public var statefulSets: Informer?
    public var podDisruptionBudgets: Informer?
    public var persistentVolumeClaims: Informer?
    public var persistentVolumes: Informer?
    public var storageClasses: Informer?

    public init(services: Informer? = nil, replicaSets: Informer? = nil, statefulSets: Informer? = nil, podDisruptionBudgets: Informer? = nil,
        persistentVolumeClaims: Informer? = nil, persistentVolumes: Informer? = nil, storageClasses: Informer? = nil)
    {
        self.services = services
        self.replicaSets = replicaSets
        self.statefulSets = statefulSets
        self.podDisruptionBudgets = podDisruptionBudgets
        self.persistentVolumeClaims = persistentVolumeClaims
        self.persistentVolumes = persistentVolumes
        self.storageClasses = storageClasses
    }

    /// All of them, watched through `client`.
    public static func watching(_ client: any KubernetesClient, logger: Logger) -> ClusterObjects {
        let make = { (resource: ResourceReference) -> Informer in
            let informer = Informer(client: client, resource: resource, logger: logger)
            if resource.namespaced { informer.addIndex(.namespace) }
            return informer
        }
        return ClusterObjects(services: make(.services), replicaSets: make(.replicaSets), statefulSets: make(.statefulSets),
            podDisruptionBudgets: make(.podDisruptionBudgets), persistentVolumeClaims: make(.persistentVolumeClaims),
            persistentVolumes: make(.persistentVolumes), storageClasses: make(.storageClasses))
    }

    public var informers: [Informer] {
        [services, replicaSets, statefulSets, podDisruptionBudgets, persistentVolumeClaims, persistentVolumes, storageClasses].compactMap { $0 }
    }

    /// The selector default spreading uses for a pod without constraints of its own (kube-scheduler's
    /// `DefaultSelector`): the selectors of the Services in its namespace that select it, merged, plus its controlling
    /// ReplicaSet's or StatefulSet's selector. nil when nothing selects the pod.
    func defaultSpreadSelector(for pod: PodInfo) -> LabelSelector? {
        var labels: [String: String] = [:]
        for service in services?.list(namespace: pod.namespace) ?? [] {
            guard let selector = service["spec"]?["selector"]?.objectValue, !selector.isEmpty else { continue }
            let wanted = selector.compactMapValues(\.stringValue)
            if wanted.allSatisfy({ pod.labels[$0.key] == $0.value }) { labels.merge(wanted) { a, _ in a } }
        }
        var requirements = labels.sorted { $0.key < $1.key }.map { LabelSelector.Requirement(key: $0.key, op: .equals, values: [$0.value]) }
        if let owner = pod.pod.controllerRef, owner.apiVersion == "apps/v1" {
            let informer = owner.kind == "ReplicaSet" ? replicaSets : owner.kind == "StatefulSet" ? statefulSets : nil
            if let controller = informer?.get(namespace: pod.namespace, name: owner.name), controller.uid == owner.uid,
                let selector = try? LabelSelector.from(controller["spec"]?["selector"])
            {
                requirements += selector.requirements
            }
        }
        return requirements.isEmpty ? nil : LabelSelector(requirements: requirements)
    }
}
