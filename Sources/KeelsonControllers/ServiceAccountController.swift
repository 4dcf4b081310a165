import KeelsonAPI
import KeelsonClient
import Logging

/// Keeps a `default` ServiceAccount in every active namespace, as kube-controller-manager's serviceaccount
/// controller does: created with the namespace, recreated if deleted.
public struct ServiceAccountController: Sendable {
    public static let name = "serviceaccount-controller"
    static let accountName = "default"

    let client: any KubernetesClient
    let namespaces: Informer
    let serviceAccounts: Informer
    let logger: Logger

    public init(client: any KubernetesClient, namespaces: Informer, serviceAccounts: Informer, logger: Logger) {
        self.client = client
        self.namespaces = namespaces
        self.serviceAccounts = serviceAccounts
        self.logger = logger
    }

    /// Keys are namespace names: a new namespace, or the loss of its `default` account, needs a look.
    public func register(_ queue: WorkQueue<String>) {
        namespaces.addHandler { event in
            switch event {
            case .added(let ns), .updated(_, let ns): queue.add(ns.name ?? "")
            case .deleted: break
            }
        }
        serviceAccounts.addHandler { event in
            if case .deleted(let sa) = event, sa.name == Self.accountName, let namespace = sa.namespace { queue.add(namespace) }
        }
    }

    public func reconcile(_ namespace: String) async throws -> ReconcileResult {
        guard let ns = namespaces.get(namespace), ns.deletionTimestamp == nil,
            ns.value(at: ["status", "phase"])?.stringValue != "Terminating"
        else { return .done }
        if serviceAccounts.get(namespace: namespace, name: Self.accountName) != nil { return .done }
        do {
            try await client.typed(CoreV1.ServiceAccount.self).create(CoreV1.ServiceAccount(name: Self.accountName, namespace: namespace))
        } catch let error as APIError where error.isAlreadyExists {
            return .done
        } catch let error as APIError where error.code == 403 || error.isNotFound {
            return .done  // the namespace started terminating or went away meanwhile
        }
        return .done
    }
}
