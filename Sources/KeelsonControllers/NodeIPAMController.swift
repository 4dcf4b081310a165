import KeelsonAPI
import KeelsonClient
import Logging
import Synchronization

/// Gives every Node a pod network out of the cluster CIDR (`spec.podCIDR` and `spec.podCIDRs`), as
/// kube-controller-manager's node IPAM controller does with `--allocate-node-cidrs`: /24 blocks of 10.42.0.0/16 by
/// default, the lowest free one first, never two nodes the same. What is in use is read from the Nodes themselves,
/// so a restart needs no separate record; blocks handed out but not yet seen in the cache are remembered.
public struct NodeIPAMController: Sendable {
    public static let name = "node-ipam-controller"

    let client: any KubernetesClient
    let nodes: Informer
    let clusterRange: IPv4Range
    let maskSize: Int
    let logger: Logger
    private let pending = PendingBlocks()

    /// - Parameter maskSize: the prefix length of each node's block (24).
    public init(client: any KubernetesClient, nodes: Informer, clusterRange: IPv4Range, maskSize: Int = 24, logger: Logger) {
        self.client = client
        self.nodes = nodes
        self.clusterRange = clusterRange
        self.maskSize = maskSize
        self.logger = logger
    }

    public func register(_ queue: WorkQueue<String>) {
        nodes.addHandler { event in
            switch event {
            case .added(let node), .updated(_, let node):
                if node["spec"]?["podCIDR"] == nil { queue.add(node.name ?? "") } else { pending.forget(node.name ?? "") }
            case .deleted(let node):
                pending.forget(node.name ?? "")
            }
        }
    }

    public func reconcile(_ name: String) async throws -> ReconcileResult {
        guard let node = nodes.get(name), node["spec"]?["podCIDR"] == nil else { return .done }
        let blockCount = 1 << max(0, maskSize - clusterRange.prefixLength)
        var used = Set(nodes.list().compactMap { $0["spec"]?["podCIDR"]?.stringValue })
        used.formUnion(pending.all(except: name))
        let block = pending.block(for: name) ?? (0..<blockCount).lazy.map { self.cidr(index: $0) }.first { !used.contains($0) }
        guard let block else {
            logger.warning("the cluster CIDR has no free block for a node", metadata: ["node": "\(name)"])
            return .requeue(after: .seconds(30))
        }
        pending.reserve(block, for: name)
        do {
            try await client.patch(.nodes, name: name, ["spec": ["podCIDR": .string(block), "podCIDRs": [.string(block)]]])
        } catch let error as APIError where error.isNotFound {
            pending.forget(name)
        }
        return .done
    }

    func cidr(index: Int) -> String {
        "\(IPv4Range.format(clusterRange.base + UInt32(index) << UInt32(32 - maskSize)))/\(maskSize)"
    }
}

/// Blocks handed to nodes whose update the informer has not shown yet.
final class PendingBlocks: Sendable {
    private let blocks = Mutex([String: String]())
    func reserve(_ block: String, for node: String) { blocks.withLock { $0[node] = block } }
    func block(for node: String) -> String? { blocks.withLock { $0[node] } }
    func forget(_ node: String) { _ = blocks.withLock { $0.removeValue(forKey: node) } }
    func all(except node: String) -> Set<String> { blocks.withLock { Set($0.filter { $0.key != node }.values) } }
}
