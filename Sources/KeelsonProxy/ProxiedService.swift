import Crypto
import Foundation

/// One port of one Service, with the endpoints behind it, as the proxier programs it: everything the rules need
/// and nothing else, so two snapshots compare equal exactly when their rules would be the same.
public struct ProxiedService: Sendable, Hashable {
    public struct Name: Sendable, Hashable, Comparable, CustomStringConvertible {
        public var namespace: String
        public var service: String
        /// The port's name ("" for a Service's single unnamed port).
        public var port: String
        public var `protocol`: String

        public init(namespace: String, service: String, port: String, protocol: String) {
            self.namespace = namespace
            self.service = service
            self.port = port
            self.protocol = `protocol`
        }

        /// `ns/svc:port`, as kube-proxy names a service port in its comments.
        public var description: String { "\(namespace)/\(service)" + (port.isEmpty ? "" : ":\(port)") }

        public static func < (a: Name, b: Name) -> Bool {
            (a.namespace, a.service, a.port, a.protocol) < (b.namespace, b.service, b.port, b.protocol)
        }
    }

    public struct Endpoint: Sendable, Hashable {
        public var ip: String
        public var port: Int
        public var ready: Bool
        public var serving: Bool
        public var terminating: Bool
        /// On this proxy's node (for the `Local` traffic policies).
        public var isLocal: Bool
        /// Its EndpointSlice names no node: it may be on this one (a pod reaching itself through its service is
        /// only possible on the pod's own node, so hairpin handling needs only local endpoints and these).
        public var nodeUnknown: Bool

        public init(ip: String, port: Int, ready: Bool = true, serving: Bool = true, terminating: Bool = false, isLocal: Bool = false,
                    nodeUnknown: Bool = false) {
            self.ip = ip
            self.port = port
            self.ready = ready
            self.serving = serving
            self.terminating = terminating
            self.isLocal = isLocal
            self.nodeUnknown = nodeUnknown
        }
    }

    public var name: Name
    public var clusterIP: String?
    public var port: Int
    public var nodePort: Int?
    public var externalIPs: [String]
    public var loadBalancerIPs: [String]
    /// `sessionAffinity: ClientIP`'s timeout in seconds; nil without affinity.
    public var affinitySeconds: Int?
    public var internalLocal: Bool
    public var externalLocal: Bool
    public var endpoints: [Endpoint]

    public init(name: Name, clusterIP: String?, port: Int, nodePort: Int? = nil, externalIPs: [String] = [], loadBalancerIPs: [String] = [],
        affinitySeconds: Int? = nil, internalLocal: Bool = false, externalLocal: Bool = false, endpoints: [Endpoint] = [])
    {
        self.name = name
        self.clusterIP = clusterIP
        self.port = port
        self.nodePort = nodePort
        self.externalIPs = externalIPs
        self.loadBalancerIPs = loadBalancerIPs
        self.affinitySeconds = affinitySeconds
        self.internalLocal = internalLocal
        self.externalLocal = externalLocal
        self.endpoints = endpoints
    }

    var hasExternal: Bool { nodePort != nil || !externalIPs.isEmpty || !loadBalancerIPs.isEmpty }

    /// The endpoints traffic goes to: the ready ones; when none is ready, the serving ones that are terminating
    /// (so connections still drain to a pod on its way out rather than fail); optionally only this node's.
    func usable(localOnly: Bool) -> [Endpoint] {
        let candidates = localOnly ? endpoints.filter(\.isLocal) : endpoints
        let ready = candidates.filter(\.ready)
        if !ready.isEmpty { return ready }
        return candidates.filter { $0.serving && $0.terminating }
    }

    /// Chain names as kube-proxy makes them: a prefix and 16 characters of the base32 SHA-256 of what the chain
    /// is for, so they are stable across restarts and within iptables' 28-character limit.
    static func chain(_ prefix: String, _ text: String) -> String {
        prefix + String(base32(Array(SHA256.hash(data: Array(text.utf8)))).prefix(16))
    }

    var serviceChain: String { Self.chain("KEEL-SVC-", "\(name)/\(name.protocol)") }
    var externalChain: String { Self.chain("KEEL-EXT-", "\(name)/\(name.protocol)") }
    var localChain: String { Self.chain("KEEL-SVL-", "\(name)/\(name.protocol)") }
    func endpointChain(_ endpoint: Endpoint) -> String { Self.chain("KEEL-SEP-", "\(name)/\(name.protocol)/\(endpoint.ip):\(endpoint.port)") }

    private static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var output = ""
        var buffer = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                output.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
            buffer &= (1 << bits) - 1
        }
        if bits > 0 { output.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return output
    }
}
