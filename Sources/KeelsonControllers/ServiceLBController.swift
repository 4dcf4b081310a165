import KeelsonAPI
import KeelsonClient
import Logging

/// The built-in load balancer, as k3s's ServiceLB does it without its per-node pods: a `LoadBalancer` Service that
/// names no `loadBalancerClass` gets the addresses of the Ready, schedulable nodes (ExternalIP, else InternalIP) as
/// its `status.loadBalancer.ingress`, and the service proxy of every node answers on those addresses at the
/// service's ports. Two such Services cannot share a port of a node: the younger one stays pending (no ingress)
/// until the port is free, as k3s leaves its pods unschedulable.
public struct ServiceLBController: Sendable {
    public static let name = "service-lb-controller"

    let client: any KubernetesClient
    let services: Informer
    let nodes: Informer
    let logger: Logger

    public init(client: any KubernetesClient, services: Informer, nodes: Informer, logger: Logger) {
        self.client = client
        self.services = services
        self.nodes = nodes
        self.logger = logger
    }

    public func register(_ queue: WorkQueue<String>) {
        let services = self.services
        // Any change can move a port from one Service to another or change the nodes: all are looked at again,
        // and there are few of them.
        let enqueueAll: @Sendable () -> Void = {
            for service in services.list() where Self.isManaged(service) { queue.add(Self.key(service)) }
        }
        services.addHandler { event in
            switch event {
            case .added(let service), .deleted(let service):
                if Self.isManaged(service) { enqueueAll() }
            case .updated(let old, let new):
                if Self.isManaged(old) || Self.isManaged(new) { enqueueAll() }
            }
        }
        nodes.addHandler { event in
            switch event {
            case .added, .deleted: enqueueAll()
            case .updated(let old, let new):
                if Self.addresses(of: [old]) != Self.addresses(of: [new]) { enqueueAll() }
            }
        }
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        let (namespace, name) = Informer.split(key: key)
        guard let service = services.get(namespace: namespace, name: name), Self.isManaged(service) else { return .done }
        let ingress = holdsItsPorts(service) ? Self.addresses(of: nodes.list()) : []
        var status = service["status"] ?? [:]
        status["loadBalancer"] = ingress.isEmpty ? [:] : ["ingress": .array(ingress.map { ["ip": .string($0), "ipMode": "VIP"] })]
        _ = try await StatusWriter.write(status, to: service, resource: .services, client: client)
        return .done
    }

    static func isManaged(_ service: JSONValue) -> Bool {
        service["spec"]?["type"]?.stringValue == "LoadBalancer" && (service["spec"]?["loadBalancerClass"]?.stringValue ?? "").isEmpty
    }

    static func key(_ service: JSONValue) -> String { "\(service.namespace ?? "")/\(service.name ?? "")" }

    /// The addresses the nodes publish: Ready and schedulable ones, ExternalIP before InternalIP, sorted.
    static func addresses(of nodes: [JSONValue]) -> [String] {
        var result: [String] = []
        for node in nodes {
            let ready = node["status"]?["conditions"]?.arrayValue?.contains { $0["type"] == "Ready" && $0["status"] == "True" } == true
            guard ready, node["spec"]?["unschedulable"]?.boolValue != true else { continue }
            let addresses = node["status"]?["addresses"]?.arrayValue ?? []
            let pick = addresses.first { $0["type"] == "ExternalIP" } ?? addresses.first { $0["type"] == "InternalIP" }
            if let address = pick?["address"]?.stringValue { result.append(address) }
        }
        return result.sorted()
    }

    /// True unless an older managed Service already has one of its ports (the same number and protocol).
    func holdsItsPorts(_ service: JSONValue) -> Bool {
        let wanted = Self.ports(service)
        let mine = Self.age(service)
        return !services.list().contains { other in
            Self.isManaged(other) && other.uid != service.uid && Self.age(other) < mine && !Self.ports(other).isDisjoint(with: wanted)
        }
    }

    static func ports(_ service: JSONValue) -> Set<String> {
        Set((service["spec"]?["ports"]?.arrayValue ?? []).compactMap { port in
            port["port"]?.intValue.map { "\(port["protocol"]?.stringValue ?? "TCP")/\($0)" }
        })
    }

    /// Creation time, then namespace and name: a strict order even for Services created within one second.
    static func age(_ service: JSONValue) -> String {
        "\(service["metadata"]?["creationTimestamp"]?.stringValue ?? "")|\(key(service))"
    }
}
