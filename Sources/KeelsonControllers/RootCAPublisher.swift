import KeelsonAPI
import KeelsonClient
import Logging

/// kube-controller-manager's `root-ca-cert-publisher`: every namespace has a ConfigMap `kube-root-ca.crt` holding the
/// CA that signs the API server's certificate (`ca.crt`), which pods' service account volumes carry so that
/// in-cluster clients can verify the server. Changed or deleted, it is put back.
public struct RootCAPublisher: Sendable {
    public static let name = "root-ca-cert-publisher"
    public static let configMapName = "kube-root-ca.crt"

    let client: any KubernetesClient
    let namespaces: Informer
    /// Only the `kube-root-ca.crt` ConfigMaps (a field-selected informer).
    let configMaps: Informer
    let caPEM: String
    let logger: Logger

    public init(client: any KubernetesClient, namespaces: Informer, configMaps: Informer, caPEM: String, logger: Logger) {
        self.client = client
        self.namespaces = namespaces
        self.configMaps = configMaps
        self.caPEM = caPEM
        self.logger = logger
    }

    public func register(_ queue: WorkQueue<String>) {
        namespaces.addHandler { event in
            switch event {
            case .added(let namespace), .updated(_, let namespace): queue.add(namespace.name ?? "")
            case .deleted: break
            }
        }
        configMaps.addHandler { event in
            switch event {
            case .added(let map), .updated(_, let map), .deleted(let map):
                if map.name == Self.configMapName, let namespace = map.namespace { queue.add(namespace) }
            }
        }
    }

    public func reconcile(_ namespace: String) async throws -> ReconcileResult {
        guard let object = namespaces.get(namespace: nil, name: namespace), object.deletionTimestamp == nil,
              object.value(at: ["status", "phase"])?.stringValue != "Terminating" else { return .done }
        let data: JSONValue = ["ca.crt": .string(caPEM)]
        if var existing = configMaps.get(namespace: namespace, name: Self.configMapName) {
            guard existing["data"] != data else { return .done }
            existing["data"] = data
            _ = try await client.update(.configMaps, namespace: namespace, existing, subresource: nil)
            return .done
        }
        do {
            _ = try await client.create(.configMaps, namespace: namespace, [
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": ["name": .string(Self.configMapName), "annotations": [
                    "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.",
                ]],
                "data": data,
            ])
        } catch let error as APIError where error.status.code == 409 {
            // Created meanwhile: the informer's event brings the namespace back if it needs an update.
        }
        return .done
    }
}
