import Foundation

/// The rules of kube-proxy's iptables mode, written as `iptables-restore` input, for the chains Keelson owns
/// (`KEEL-…`, so a node that also runs kube-proxy keeps its `KUBE-…` chains).
///
/// nat: `KEEL-SERVICES` (from PREROUTING and OUTPUT) sends each cluster IP, external IP and load-balancer IP to
/// the service's chain and, last, local destinations to `KEEL-NODEPORTS`; `KEEL-SVC-…` picks an endpoint at
/// random with `statistic` probabilities (or the one a client was given before, with `recent`, for ClientIP
/// affinity); `KEEL-SEP-…` DNATs to one endpoint; `KEEL-EXT-…` is the way in from outside the cluster;
/// `KEEL-SVL-…` holds only this node's endpoints for the `Local` policies. Traffic that needs SNAT is marked in
/// `KEEL-MARK-MASQ` and masqueraded in `KEEL-POSTROUTING`.
/// filter: services without endpoints are REJECTed at once (clients fail fast instead of timing out), and
/// `KEEL-FORWARD` accepts marked service traffic.
///
/// A partial render (`changed`) rewrites the top-level chains and only the chains of the services that changed;
/// restored with `--noflush`, every other service's chains stay as they are, so one change costs one service's
/// rules plus the dispatch chains, not the whole table.
public struct IptablesRules: Sendable {
    public struct Options: Sendable, Hashable {
        /// The pod network: traffic from outside it to a cluster IP is masqueraded so replies come back here.
        public var clusterCIDR: String
        public var masqueradeMark = "0x4000"

        public init(clusterCIDR: String) {
            self.clusterCIDR = clusterCIDR
        }
    }

    public struct Output: Sendable {
        public var text: String
        /// Every per-service chain the full rule set has (to find stale ones after a change).
        public var serviceChains: Set<String>
        /// Rules written in this render.
        public var ruleCount: Int
    }

    public static let natChains = ["KEEL-SERVICES", "KEEL-NODEPORTS", "KEEL-POSTROUTING", "KEEL-MARK-MASQ"]
    public static let filterChains = ["KEEL-SERVICES", "KEEL-EXTERNAL-SERVICES", "KEEL-FORWARD"]

    /// - Parameters:
    ///   - changed: the services whose chains are rewritten; nil rewrites all of them.
    ///   - stale: chains from before that no service has any more; they are flushed and deleted.
    public static func render(_ services: [ProxiedService], options: Options, changed: Set<ProxiedService.Name>? = nil,
        stale: Set<String> = []) -> Output
    {
        var nat = RuleWriter()
        var filter = RuleWriter()
        var serviceChains: Set<String> = []
        let mark = "\(options.masqueradeMark)/\(options.masqueradeMark)"

        nat.rule("-A KEEL-POSTROUTING -m mark ! --mark \(mark) -j RETURN")
        nat.rule("-A KEEL-POSTROUTING -j MARK --xor-mark \(options.masqueradeMark)")
        nat.rule("-A KEEL-POSTROUTING -m comment --comment \"keelson service traffic requiring SNAT\" -j MASQUERADE --random-fully")
        nat.rule("-A KEEL-MARK-MASQ -j MARK --or-mark \(options.masqueradeMark)")
        filter.rule("-A KEEL-FORWARD -m comment --comment \"keelson forwarding rules\" -m mark --mark \(mark) -j ACCEPT")
        filter.rule("-A KEEL-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")

        for service in services.sorted(by: { $0.name < $1.name }) {
            let proto = service.name.protocol.lowercased()
            let match = "-p \(proto) -m \(proto)"
            let comment = "-m comment --comment \"\(service.name)"
            let cluster = service.usable(localOnly: false)
            let local = service.usable(localOnly: true)
            let internalEndpoints = service.internalLocal ? local : cluster
            // Each name is a SHA-256: computed once per service, not at every rule that names the chain.
            let svcChain = service.serviceChain, extChain = service.externalChain, svlChain = service.localChain
            let internalChain = service.internalLocal ? svlChain : svcChain
            var chains: [String] = []

            // Dispatch, always written.
            if let ip = service.clusterIP {
                if internalEndpoints.isEmpty {
                    let reason = service.internalLocal && !cluster.isEmpty ? "has no local endpoints" : "has no endpoints"
                    filter.rule("-A KEEL-SERVICES \(comment) \(reason)\" -d \(ip)/32 \(match) --dport \(service.port) -j REJECT")
                } else {
                    nat.rule("-A KEEL-SERVICES \(comment) cluster IP\" -d \(ip)/32 \(match) --dport \(service.port) -j \(internalChain)")
                }
            }
            let externalEndpoints = service.externalLocal ? local : cluster
            if service.hasExternal {
                for ip in service.externalIPs + service.loadBalancerIPs {
                    if externalEndpoints.isEmpty {
                        filter.rule("-A KEEL-SERVICES \(comment) has no endpoints\" -d \(ip)/32 \(match) --dport \(service.port) -j REJECT")
                    } else {
                        nat.rule("-A KEEL-SERVICES \(comment) external IP\" -d \(ip)/32 \(match) --dport \(service.port) -j \(extChain)")
                    }
                }
                if let nodePort = service.nodePort {
                    if externalEndpoints.isEmpty {
                        filter.rule("-A KEEL-EXTERNAL-SERVICES \(comment) has no endpoints\" -m addrtype --dst-type LOCAL \(match) --dport \(nodePort) -j REJECT")
                    } else {
                        nat.rule("-A KEEL-NODEPORTS \(comment)\" \(match) --dport \(nodePort) -j \(extChain)")
                    }
                }
            }

            // The service's own chains.
            if !cluster.isEmpty { chains.append(svcChain) }
            if (service.internalLocal || service.externalLocal) && !local.isEmpty { chains.append(svlChain) }
            if service.hasExternal && !externalEndpoints.isEmpty { chains.append(extChain) }
            let endpointsInUse = Set(cluster + local).sorted { ($0.ip, $0.port) < ($1.ip, $1.port) }
            let endpointChains = Dictionary(uniqueKeysWithValues: endpointsInUse.map { ($0, service.endpointChain($0)) })
            chains += endpointsInUse.map { endpointChains[$0]! }
            serviceChains.formUnion(chains)
            guard changed?.contains(service.name) ?? true else { continue }
            for chain in chains { nat.declare(chain) }

            if !cluster.isEmpty {
                if let ip = service.clusterIP {
                    nat.rule("-A \(svcChain) \(comment) cluster IP\" ! -s \(options.clusterCIDR) -d \(ip)/32 \(match) --dport \(service.port) -j KEEL-MARK-MASQ")
                }
                spread(service, cluster, endpointChains, from: svcChain, comment: comment, into: &nat)
            }
            if chains.contains(svlChain) {
                spread(service, local, endpointChains, from: svlChain, comment: comment, into: &nat)
            }
            if chains.contains(extChain) {
                if service.externalLocal {
                    // Pods reaching the external address go anywhere in the cluster; outside traffic keeps its
                    // source address and stays on this node.
                    if !cluster.isEmpty {
                        nat.rule("-A \(extChain) \(comment) pod traffic for external destinations\" -s \(options.clusterCIDR) -j \(svcChain)")
                        // The node itself (127.0.0.1 included) reaches every endpoint, masqueraded so replies find it.
                        nat.rule("-A \(extChain) \(comment) masquerade LOCAL traffic for external destinations\" -m addrtype --src-type LOCAL -j KEEL-MARK-MASQ")
                        nat.rule("-A \(extChain) \(comment) route LOCAL traffic for external destinations\" -m addrtype --src-type LOCAL -j \(svcChain)")
                    }
                    nat.rule("-A \(extChain) \(comment) local endpoints only\" -j \(svlChain)")
                } else {
                    nat.rule("-A \(extChain) \(comment) masquerade traffic for external destinations\" -j KEEL-MARK-MASQ")
                    nat.rule("-A \(extChain) -j \(svcChain)")
                }
            }
            for endpoint in endpointsInUse {
                let chain = endpointChains[endpoint]!
                // Hairpin: a pod reaching itself through its service must see the reply come from the service.
                nat.rule("-A \(chain) \(comment)\" -s \(endpoint.ip)/32 -j KEEL-MARK-MASQ")
                let affinity = service.affinitySeconds != nil ? " -m recent --name \(chain) --set" : ""
                nat.rule("-A \(chain) \(comment)\"\(affinity) \(match) -j DNAT --to-destination \(endpoint.ip):\(endpoint.port)")
            }
        }
        nat.rule("-A KEEL-SERVICES -m comment --comment \"keelson service nodeports; must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KEEL-NODEPORTS")

        let removed = stale.subtracting(serviceChains).sorted()
        for chain in removed { nat.declare(chain) }
        var text = "*filter\n"
        for chain in filterChains { text += ":\(chain) - [0:0]\n" }
        text += filter.rules
        text += "COMMIT\n*nat\n"
        for chain in natChains + nat.declared { text += ":\(chain) - [0:0]\n" }
        text += nat.rules
        for chain in removed { text += "-X \(chain)\n" }
        text += "COMMIT\n"
        return Output(text: text, serviceChains: serviceChains, ruleCount: nat.count + filter.count)
    }

    /// Random choice among `endpoints`: rule i matches with probability 1/(n−i), so each endpoint gets 1/n; with
    /// ClientIP affinity a client seen recently goes back to its endpoint first.
    private static func spread(_ service: ProxiedService, _ endpoints: [ProxiedService.Endpoint],
        _ endpointChains: [ProxiedService.Endpoint: String], from chain: String, comment: String, into nat: inout RuleWriter)
    {
        let sorted = endpoints.sorted { ($0.ip, $0.port) < ($1.ip, $1.port) }
        if let seconds = service.affinitySeconds {
            for endpoint in sorted {
                let target = endpointChains[endpoint]!
                nat.rule("-A \(chain) \(comment) -> \(endpoint.ip):\(endpoint.port)\" -m recent --name \(target) --rcheck --seconds \(seconds) --reap -j \(target)")
            }
        }
        for (index, endpoint) in sorted.enumerated() {
            let target = endpointChains[endpoint]!
            let remaining = sorted.count - index
            let probability = remaining > 1 ? " -m statistic --mode random --probability \(String(format: "%0.10f", 1.0 / Double(remaining)))" : ""
            nat.rule("-A \(chain) \(comment) -> \(endpoint.ip):\(endpoint.port)\"\(probability) -j \(target)")
        }
    }
}

/// Accumulates one table's chain declarations and rules.
struct RuleWriter {
    var declared: [String] = []
    var rules = ""
    var count = 0

    mutating func declare(_ chain: String) { declared.append(chain) }

    mutating func rule(_ line: String) {
        rules += line
        rules += "\n"
        count += 1
    }
}
