import KeelsonAPI
import KeelsonStore
import Logging
import ServiceLifecycle
import Synchronization

/// Kubernetes' Node authorizer: a kubelet (`system:node:NAME` in `system:nodes`) may read a Secret, ConfigMap,
/// PersistentVolumeClaim or PersistentVolume, and ask for a service account's token, only when a pod bound to its
/// node uses it — so a node taken over does not hand its attacker every secret of the cluster. Everything else a
/// node does is decided by RBAC (`system:node`). The graph of pods → what they use is kept from watches of the pods
/// and claims in the store.
public final class NodeAuthorizer: Service, Sendable {
    public enum Decision: Sendable, Equatable {
        case allow
        case deny(String)
        /// Not a node, or not a request this authorizer rules on: RBAC decides.
        case noOpinion
    }

    static let nodeGroup = "system:nodes"
    static let nodePrefix = "system:node:"
    /// What only the graph grants to nodes, by resource, with the verbs involved.
    static let guarded: [String: Set<String>] = [
        "secrets": ["get", "list", "watch"], "configmaps": ["get", "list", "watch"],
        "persistentvolumeclaims": ["get", "list", "watch"], "persistentvolumes": ["get", "list", "watch"],
    ]

    /// What one pod uses, as `resource/namespace/name` (persistent volumes are reached through their claims,
    /// resolved at decision time).
    struct PodUses: Sendable {
        var node: String
        var objects: Set<String>
    }

    private let store: any Store
    private let logger: Logger
    private let podsPrefix: String
    private let claimsPrefix: String
    private let pods = Mutex<[String: PodUses]>([:])
    /// Per node, how many of its pods use each object (a count, so one pod leaving keeps another's use).
    private let uses = Mutex<[String: [String: Int]]>([:])
    /// Claim `namespace/name` → the PersistentVolume bound to it.
    private let volumes = Mutex<[String: String]>([:])

    public init(store: any Store, podsPrefix: String = "/registry/pods/", claimsPrefix: String = "/registry/persistentvolumeclaims/",
        logger: Logger)
    {
        self.store = store
        self.podsPrefix = podsPrefix
        self.claimsPrefix = claimsPrefix
        self.logger = logger
    }

    public func authorize(_ request: AuthorizationAttributes) -> Decision {
        guard request.isResourceRequest, request.user.groups.contains(Self.nodeGroup), request.user.name.hasPrefix(Self.nodePrefix) else {
            return .noOpinion
        }
        let node = String(request.user.name.dropFirst(Self.nodePrefix.count))
        let denial = "no relationship found between node '\(node)' and this object"
        if request.apiGroup == "" && request.resource == "serviceaccounts" && request.subresource == "token" {
            guard request.verb == "create" else { return .noOpinion }
            return uses(node: node, "serviceaccounts/\(request.namespace)/\(request.name)") ? .allow : .deny(denial)
        }
        guard request.apiGroup == "", let verbs = Self.guarded[request.resource], request.subresource.isEmpty else { return .noOpinion }
        // Only a named read is ever tied to a pod; lists and writes of these are no kubelet's business.
        guard verbs.contains(request.verb), request.verb == "get", !request.name.isEmpty else {
            return .deny("can only get individual \(request.resource)")
        }
        if request.resource == "persistentvolumes" {
            let claims = self.uses.withLock { $0[node] ?? [:] }.keys.filter { $0.hasPrefix("persistentvolumeclaims/") }
            let bound = volumes.withLock { volumes in claims.contains { volumes[String($0.dropFirst("persistentvolumeclaims/".count))] == request.name } }
            return bound ? .allow : .deny(denial)
        }
        return uses(node: node, "\(request.resource)/\(request.namespace)/\(request.name)") ? .allow : .deny(denial)
    }

    private func uses(node: String, _ object: String) -> Bool {
        uses.withLock { ($0[node]?[object] ?? 0) > 0 }
    }

    /// What a pod bound to a node uses; nil for a pod on no node.
    static func podUses(_ pod: JSONValue) -> PodUses? {
        guard let node = pod.value(at: ["spec", "nodeName"])?.stringValue, !node.isEmpty, let namespace = pod.namespace else { return nil }
        var objects: Set<String> = []
        let spec = pod["spec"] ?? [:]
        func add(_ resource: String, _ name: String?) {
            if let name, !name.isEmpty { objects.insert("\(resource)/\(namespace)/\(name)") }
        }
        for secret in spec["imagePullSecrets"]?.arrayValue ?? [] { add("secrets", secret["name"]?.stringValue) }
        let account = spec["serviceAccountName"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        add("serviceaccounts", account)
        for volume in spec["volumes"]?.arrayValue ?? [] {
            add("secrets", volume["secret"]?["secretName"]?.stringValue)
            add("configmaps", volume["configMap"]?["name"]?.stringValue)
            add("persistentvolumeclaims", volume["persistentVolumeClaim"]?["claimName"]?.stringValue)
            for source in volume["projected"]?["sources"]?.arrayValue ?? [] {
                add("secrets", source["secret"]?["name"]?.stringValue)
                add("configmaps", source["configMap"]?["name"]?.stringValue)
            }
        }
        for field in ["initContainers", "containers", "ephemeralContainers"] {
            for container in spec[field]?.arrayValue ?? [] {
                for env in container["env"]?.arrayValue ?? [] {
                    add("secrets", env["valueFrom"]?["secretKeyRef"]?["name"]?.stringValue)
                    add("configmaps", env["valueFrom"]?["configMapKeyRef"]?["name"]?.stringValue)
                }
                for source in container["envFrom"]?.arrayValue ?? [] {
                    add("secrets", source["secretRef"]?["name"]?.stringValue)
                    add("configmaps", source["configMapRef"]?["name"]?.stringValue)
                }
            }
        }
        return PodUses(node: node, objects: objects)
    }

    /// A pod already bound to a node cannot change what its node may read — its node, volumes, service account
    /// and containers are immutable — except by gaining ephemeral containers; its status writes need no parsing.
    @Sendable func podUsesUnchanged(key: String, _ stored: [UInt8]) -> Bool {
        guard pods.withLock({ $0[key] != nil }) else { return false }
        return !stored.contains(bytes: Self.ephemeralMarker)
    }

    private static let ephemeralMarker = Array(#""ephemeralContainers""#.utf8)

    @Sendable func applyPod(key: String, _ pod: JSONValue?) {
        let new = pod.flatMap(Self.podUses)
        let old = pods.withLock { pods in
            let old = pods[key]
            pods[key] = new
            return old
        }
        uses.withLock { uses in
            if let old {
                for object in old.objects {
                    uses[old.node, default: [:]][object, default: 0] -= 1
                    if uses[old.node]?[object] == 0 { uses[old.node]?[object] = nil }
                }
            }
            if let new {
                for object in new.objects { uses[new.node, default: [:]][object, default: 0] += 1 }
            }
        }
    }

    @Sendable func applyClaim(key: String, _ claim: JSONValue?) {
        let name = String(key.dropFirst(claimsPrefix.count))
        let volume = claim?.value(at: ["spec", "volumeName"])?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        volumes.withLock { $0[name] = volume }
    }

    /// Reads pods and claims once, so the first requests are decided with them.
    public func prime() async throws {
        for (key, pod) in try await StoreFollower(store: store, prefix: podsPrefix, logger: logger).list().objects { applyPod(key: key, pod) }
        for (key, claim) in try await StoreFollower(store: store, prefix: claimsPrefix, logger: logger).list().objects { applyClaim(key: key, claim) }
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask {
                await StoreFollower(store: self.store, prefix: self.podsPrefix, logger: self.logger).run(
                    reset: { objects in
                        // Pods gone while the watch was down are forgotten.
                        for key in self.pods.withLock({ Array($0.keys) }) where objects[key] == nil { self.applyPod(key: key, nil) }
                        for (key, pod) in objects { self.applyPod(key: key, pod) }
                    },
                    unchanged: self.podUsesUnchanged, apply: self.applyPod)
            }
            group.addTask {
                await StoreFollower(store: self.store, prefix: self.claimsPrefix, logger: self.logger).run(
                    reset: { objects in
                        self.volumes.withLock { $0.removeAll() }
                        for (key, claim) in objects { self.applyClaim(key: key, claim) }
                    },
                    apply: self.applyClaim)
            }
        }
    }
}
