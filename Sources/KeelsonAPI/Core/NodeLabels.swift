/// Which labels a node may give itself, as Kubernetes' NodeRestriction admission and the kubelet's `--node-labels`
/// check decide: labels in the `kubernetes.io` and `k8s.io` domains are reserved, except the kubelet's own
/// (hostname, os, arch, instance type, zone and region, and anything under `kubelet.kubernetes.io/` or
/// `node.kubernetes.io/`); `node-restriction.kubernetes.io/` is never a node's to set, so that an administrator's
/// label there can steer workloads to nodes that cannot have claimed it.
public enum NodeLabels {
    static let kubeletLabels: Set<String> = [
        "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os",
        "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type",
        "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
        "topology.kubernetes.io/zone", "topology.kubernetes.io/region", "node.kubernetes.io/instance-type",
    ]
    static let kubeletNamespaces = ["kubelet.kubernetes.io", "node.kubernetes.io"]

    private static func inDomain(_ domain: Substring, _ parent: String) -> Bool {
        domain == parent || domain.hasSuffix("." + parent)
    }

    /// Whether a node may set or change the label `key` on its own Node.
    public static func nodeMaySet(_ key: String) -> Bool {
        guard let slash = key.firstIndex(of: "/") else { return true }
        let domain = key[..<slash]
        if inDomain(domain, "node-restriction.kubernetes.io") { return false }
        guard inDomain(domain, "kubernetes.io") || inDomain(domain, "k8s.io") else { return true }
        return kubeletLabels.contains(key) || kubeletNamespaces.contains { inDomain(domain, $0) }
    }
}
