import Foundation

/// The service proxy's nftables layout (`--proxy-mode=nftables`), built for this kernel's costs: every commit
/// validates the table's chains, and anonymous sets are found through the transaction list, so a chain per
/// service (kube-proxy's nftables layout) makes a change at 10,000 services cost seconds. Here the table's chains
/// are fixed; services are elements of named maps and sets, and a change is a handful of `add element` and
/// `delete element` commands.
///
/// Endpoints live in maps of one endpoint count N each (`cluster-N`, …), keyed by destination address, protocol,
/// port and a slot 0..<N; the map's one rule looks up `numgen random mod N` in that slot, and a destination that
/// is not in the map makes the lookup miss and the rule fall through to the next count. Maps of a new count are
/// added when a service first needs one. Which endpoints a key holds is decided here: a cluster IP takes the
/// internal list (`internalTrafficPolicy`), an external IP, load-balancer IP or node port the cluster list, and
/// under `externalTrafficPolicy: Local` clients from outside the cluster and the node take this node's endpoints
/// from the `external-N`/`nodeport-local-N` maps first (pods and the node itself keep the cluster list; the node
/// is masqueraded). Destinations without endpoints are in `no-endpoints` sets (REJECTed); `Local` ones without a
/// local endpoint drop outside traffic. Hairpin traffic (a pod reaching itself through a service) is masqueraded
/// by a set of endpoint-address pairs (this node's endpoints only: no other pod can be its own client here), traffic from outside the pod network to a cluster IP by the mark, as
/// kube-proxy does. `sessionAffinity: ClientIP` services have a chain of their own (few services use it): each
/// endpoint has a dynamic set of recent clients, checked before a new choice is made.
///
/// Node ports are served on the node's addresses and, as in the iptables mode, on 127.0.0.1 (with `route_localnet`
/// and kube-proxy's guard against outside packets for 127.0.0.0/8; kube-proxy's own nftables mode leaves
/// localhost out).
public enum NftablesRules {
    public static let table = "keelson"

    public struct Options: Sendable, Hashable {
        /// The pod network: traffic from outside it to a cluster IP is masqueraded so replies come back here.
        public var clusterCIDR: String
        public var masqueradeMark = "0x4000"

        public init(clusterCIDR: String) {
            self.clusterCIDR = clusterCIDR
        }
    }

    /// A kind of endpoint map; one map per kind and endpoint count.
    public enum MapKind: String, Sendable, CaseIterable {
        /// Service addresses (cluster, external and load-balancer IPs) → every usable endpoint.
        case cluster
        /// External and load-balancer IPs under `externalTrafficPolicy: Local`, for outside clients.
        case external
        /// Node ports → every usable endpoint.
        case nodePort = "nodeport"
        /// Node ports under `externalTrafficPolicy: Local`, for outside clients.
        case nodePortLocal = "nodeport-local"

        var byAddress: Bool { self == .cluster || self == .external }
        var chain: String {
            switch self {
            case .cluster: "cluster"
            case .external: "external-local"
            case .nodePort: "nodeports-cluster"
            case .nodePortLocal: "nodeports-local"
            }
        }
    }

    public struct Family: Hashable, Sendable, Comparable {
        public var kind: MapKind
        public var count: Int

        public var map: String { "\(kind.rawValue)-\(count)" }

        public static func < (a: Family, b: Family) -> Bool { (a.kind.rawValue, a.count) < (b.kind.rawValue, b.count) }

        /// The map (with `elements` already in it, which nft reads faster in the block than as `add element`
        /// commands) and the rule that picks from it, as commands of a transaction.
        func commands(elements: [Element] = []) -> [String] {
            let key = kind.byAddress ? "ip daddr . meta l4proto . th dport" : "meta l4proto . th dport"
            let initial = elements.isEmpty ? ""
                : "\nelements = { " + elements.map { "\($0.key) : \($0.value ?? "")" }.joined(separator: ",\n") + " }"
            return [
                // A `typeof` map whose data names a transport port is accepted only in the block syntax.
                "table ip \(NftablesRules.table) {\nmap \(map) {\ntypeof \(key) . numgen random mod \(count) : ip daddr . th dport\(initial)\n}\n}",
                "add rule ip \(NftablesRules.table) \(kind.chain) dnat ip to \(key) . numgen random mod \(count) map @\(map)",
            ]
        }
    }

    /// One element of a named set or map (`value` for maps).
    public struct Element: Hashable, Sendable {
        public var set: String
        public var key: String
        public var value: String?
    }

    /// A `sessionAffinity: ClientIP` service port's chain, its per-endpoint sets of recent clients, and the
    /// dispatch entries that lead to it.
    public struct AffinityChain: Hashable, Sendable {
        public var name: String
        /// The service port's protocol, lower case: a DNAT to a port needs it matched first.
        public var proto: String
        public var endpoints: [ProxiedService.Endpoint]
        public var seconds: Int
        /// Elements of the `affinity` (by address) and `affinity-nodeports` verdict maps.
        public var dispatch: [Element]

        func setName(_ index: Int) -> String { "\(name)-\(index)" }

        func create() -> [String] {
            var commands = ["add chain ip \(NftablesRules.table) \(name)"]
            for index in endpoints.indices {
                commands.append("add set ip \(NftablesRules.table) \(setName(index)) { type ipv4_addr ; flags dynamic,timeout ; timeout \(seconds)s ; }")
            }
            for (index, endpoint) in endpoints.enumerated() {
                commands.append("add rule ip \(NftablesRules.table) \(name) meta l4proto \(proto) ip saddr @\(setName(index)) update @\(setName(index)) { ip saddr } "
                    + "dnat ip to \(endpoint.ip):\(endpoint.port)")
            }
            // A new client: endpoint i with probability 1/(n−i), so each gets 1/n.
            for (index, endpoint) in endpoints.enumerated() {
                let remaining = endpoints.count - index
                let choice = remaining > 1 ? "numgen random mod \(remaining) == 0 " : ""
                commands.append("add rule ip \(NftablesRules.table) \(name) meta l4proto \(proto) \(choice)update @\(setName(index)) { ip saddr } "
                    + "dnat ip to \(endpoint.ip):\(endpoint.port)")
            }
            return commands
        }

        func delete() -> [String] {
            ["delete chain ip \(NftablesRules.table) \(name)"] + endpoints.indices.map { "delete set ip \(NftablesRules.table) \(setName($0))" }
        }
    }

    /// What one service port puts into the table.
    public struct ServiceObjects: Hashable, Sendable {
        public var elements: [Element] = []
        public var affinity: [AffinityChain] = []
        /// The endpoint maps its elements go into.
        public var families: Set<Family> = []
        /// Addresses of endpoints that may be on this node, for the hairpin set (shared between services, so
        /// counted by the proxier): only a pod on this node can reach itself through a service here.
        public var endpointAddresses: Set<String> = []
    }

    /// The objects of one service port.
    public static func objects(_ service: ProxiedService) -> ServiceObjects {
        var objects = ServiceObjects()
        let proto = service.name.protocol.lowercased()
        let cluster = sorted(service.usable(localOnly: false))
        let local = sorted(service.usable(localOnly: true))
        let internalList = service.internalLocal ? local : cluster
        objects.endpointAddresses = Set((cluster + local).filter { $0.isLocal || $0.nodeUnknown }.map(\.ip))

        func add(_ set: String, _ key: String, _ value: String? = nil) { objects.elements.append(Element(set: set, key: key, value: value)) }
        func spread(_ kind: MapKind, _ key: String, _ endpoints: [ProxiedService.Endpoint]) {
            let family = Family(kind: kind, count: endpoints.count)
            objects.families.insert(family)
            for (slot, endpoint) in endpoints.enumerated() { add(family.map, "\(key) . \(slot)", "\(endpoint.ip) . \(endpoint.port)") }
        }
        let affinityName = service.affinitySeconds.map { _ in ProxiedService.chain("aff-", "\(service.name)/\(service.name.protocol)").lowercased() }
        /// The chain of one affinity entry, and the element of `dispatchMap` that leads `key` to it.
        func affinity(_ suffix: String, _ endpoints: [ProxiedService.Endpoint], dispatchMap: String, key: String) {
            guard let name = affinityName.map({ $0 + suffix }), let seconds = service.affinitySeconds else { return }
            objects.affinity.append(AffinityChain(name: name, proto: proto, endpoints: endpoints, seconds: seconds,
                dispatch: [Element(set: dispatchMap, key: key, value: "goto \(name)")]))
        }

        if let ip = service.clusterIP {
            let key = "\(ip) . \(proto) . \(service.port)"
            if internalList.isEmpty {
                add("no-endpoints", key)
            } else {
                add("cluster-ips", key)
                if service.affinitySeconds != nil {
                    affinity("-c", internalList, dispatchMap: "affinity", key: key)
                } else {
                    spread(.cluster, key, internalList)
                }
            }
        }
        let externalOnly = service.externalLocal ? local : cluster
        for (index, ip) in (service.externalIPs + service.loadBalancerIPs).enumerated() {
            let key = "\(ip) . \(proto) . \(service.port)"
            if cluster.isEmpty {
                add("no-endpoints", key)
                continue
            }
            if service.affinitySeconds != nil {
                if externalOnly.isEmpty {
                    add("external-drop", key)
                } else {
                    affinity("-e\(index)", externalOnly, dispatchMap: "affinity", key: key)
                }
                if !service.externalLocal { add("external-masq", key) }
                continue
            }
            spread(.cluster, key, cluster)
            if service.externalLocal {
                add("local-external", key)
                if local.isEmpty { add("external-drop", key) } else { spread(.external, key, local) }
            } else {
                add("external-masq", key)
            }
        }
        if let nodePort = service.nodePort {
            let key = "\(proto) . \(nodePort)"
            if cluster.isEmpty {
                add("no-endpoint-nodeports", key)
            } else if service.affinitySeconds != nil {
                if externalOnly.isEmpty {
                    add("nodeport-drop", key)
                } else {
                    affinity("-n", externalOnly, dispatchMap: "affinity-nodeports", key: key)
                }
                if !service.externalLocal { add("nodeport-masq", key) }
            } else {
                spread(.nodePort, key, cluster)
                if service.externalLocal {
                    add("local-nodeports", key)
                    if local.isEmpty { add("nodeport-drop", key) } else { spread(.nodePortLocal, key, local) }
                } else {
                    add("nodeport-masq", key)
                }
            }
        }
        return objects
    }

    private static func sorted(_ endpoints: [ProxiedService.Endpoint]) -> [ProxiedService.Endpoint] {
        endpoints.sorted { ($0.ip, $0.port) < ($1.ip, $1.port) }
    }

    /// The table without any service: its sets, the fixed chains and their rules. Loaded as one transaction
    /// that first removes any table of the same name (a full sync).
    public static func baseTable(options: Options) -> [String] {
        let t = "ip \(table)"
        let mark = options.masqueradeMark
        let masq = "meta mark set meta mark | \(mark)"
        let address = "ip daddr . meta l4proto . th dport"
        let port = "meta l4proto . th dport"
        let outside = "ip saddr != \(options.clusterCIDR) fib saddr type != local"
        var commands = ["add table \(t)", "delete table \(t)", "add table \(t)"]
        for (name, type) in [("cluster-ips", "ipv4_addr . inet_proto . inet_service"), ("external-masq", "ipv4_addr . inet_proto . inet_service"),
                             ("local-external", "ipv4_addr . inet_proto . inet_service"), ("external-drop", "ipv4_addr . inet_proto . inet_service"),
                             ("no-endpoints", "ipv4_addr . inet_proto . inet_service"), ("nodeport-masq", "inet_proto . inet_service"),
                             ("local-nodeports", "inet_proto . inet_service"), ("nodeport-drop", "inet_proto . inet_service"),
                             ("no-endpoint-nodeports", "inet_proto . inet_service"), ("hairpin", "ipv4_addr . ipv4_addr")] {
            commands.append("add set \(t) \(name) { type \(type) ; }")
        }
        commands.append("add map \(t) affinity { type ipv4_addr . inet_proto . inet_service : verdict ; }")
        commands.append("add map \(t) affinity-nodeports { type inet_proto . inet_service : verdict ; }")
        for chain in ["services", "external-local", "cluster", "nodeports", "nodeports-local", "nodeports-cluster"] {
            commands.append("add chain \(t) \(chain)")
        }
        commands += [
            "add chain \(t) nat-prerouting { type nat hook prerouting priority dstnat ; policy accept ; }",
            "add chain \(t) nat-output { type nat hook output priority -100 ; policy accept ; }",
            "add chain \(t) nat-postrouting { type nat hook postrouting priority srcnat ; policy accept ; }",
            "add chain \(t) filter-input { type filter hook input priority -110 ; policy accept ; }",
            "add chain \(t) filter-forward { type filter hook forward priority -110 ; policy accept ; }",
            "add chain \(t) filter-output { type filter hook output priority -110 ; policy accept ; }",
            "add rule \(t) nat-prerouting jump services",
            "add rule \(t) nat-output jump services",
            "add rule \(t) services \(address) @cluster-ips ip saddr != \(options.clusterCIDR) \(masq)",
            "add rule \(t) services \(address) @external-masq \(masq)",
            "add rule \(t) services \(address) vmap @affinity",
            "add rule \(t) services \(outside) jump external-local",
            "add rule \(t) services fib saddr type local \(address) @local-external \(masq)",
            "add rule \(t) services jump cluster",
            "add rule \(t) services fib daddr type local jump nodeports",
            "add rule \(t) external-local \(address) @external-drop drop",
            "add rule \(t) nodeports \(port) @nodeport-masq \(masq)",
            "add rule \(t) nodeports \(port) vmap @affinity-nodeports",
            "add rule \(t) nodeports \(outside) jump nodeports-local",
            "add rule \(t) nodeports fib saddr type local \(port) @local-nodeports \(masq)",
            "add rule \(t) nodeports jump nodeports-cluster",
            "add rule \(t) nodeports-local \(port) @nodeport-drop drop",
            "add rule \(t) nat-postrouting meta mark & \(mark) == \(mark) meta mark set meta mark ^ \(mark) masquerade fully-random",
            // A pod that reaches itself through a service must see the reply come from the service's address.
            "add rule \(t) nat-postrouting ct status dnat ip saddr . ip daddr @hairpin masquerade",
            // route_localnet lets 127.0.0.1:NODEPORT be DNATed to a pod; packets from elsewhere for 127.0.0.0/8 are
            // dropped unless they are replies or DNATed (CVE-2020-8558).
            "add rule \(t) filter-input ip daddr 127.0.0.0/8 ip saddr != 127.0.0.0/8 ct state != { established, related } ct status & dnat == 0 drop",
            // Destinations without endpoints are refused at once, so clients fail fast instead of timing out.
            "add rule \(t) filter-input ct state new \(address) @no-endpoints reject",
            "add rule \(t) filter-input ct state new fib daddr type local \(port) @no-endpoint-nodeports reject",
            "add rule \(t) filter-forward ct state new \(address) @no-endpoints reject",
            "add rule \(t) filter-output ct state new \(address) @no-endpoints reject",
            "add rule \(t) filter-output ct state new fib daddr type local \(port) @no-endpoint-nodeports reject",
        ]
        return commands
    }

    /// `add element`/`delete element` commands, one per set (the kernel takes a set's elements in one call).
    static func elementCommands(_ verb: String, _ elements: [Element]) -> [String] {
        var bySet: [String: [String]] = [:]
        for element in elements {
            bySet[element.set, default: []].append(verb == "add" ? element.key + (element.value.map { " : \($0)" } ?? "") : element.key)
        }
        return bySet.keys.sorted().flatMap { set -> [String] in
            // Very large batches are split so that no single command line grows without bound.
            stride(from: 0, to: bySet[set]!.count, by: 10_000).map { start in
                let slice = bySet[set]![start..<min(start + 10_000, bySet[set]!.count)]
                return "\(verb) element ip \(table) \(set) { \(slice.joined(separator: ", ")) }"
            }
        }
    }
}
