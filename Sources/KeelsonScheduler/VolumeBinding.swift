import Foundation
import KeelsonAPI
import KeelsonClient
import Synchronization

/// VolumeBinding: a pod's PersistentVolumeClaims decide where it may run. Every claim must exist and not be
/// deleting; a bound claim's volume must allow the node (`spec.nodeAffinity`); an unbound claim is acceptable only
/// when its StorageClass delays binding (`WaitForFirstConsumer`), and then the node needs an available matching
/// volume, or a provisioner allowed in the node's topology. Reserve picks the volumes (so that two pods in one burst
/// do not pick the same one); PreBind writes the choice — the volume's `claimRef` for a static volume, the claim's
/// `volume.kubernetes.io/selected-node` for a provisioner — and waits until the claim is bound, as kube-scheduler
/// does, for at most `bindTimeout`.
public final class VolumeBindingPlugin: PreFilterPlugin, FilterPlugin, ReservePlugin, PreBindPlugin, Sendable {
    public let name = "VolumeBinding"
    public static let selectedNodeAnnotation = "volume.kubernetes.io/selected-node"
    static let noProvisioner = "kubernetes.io/no-provisioner"

    let bindTimeout: Duration
    /// Volumes chosen for reserved pods whose binding has not finished: volume name → pod key.
    private let chosen = Mutex<[String: String]>([:])

    public init(bindTimeout: Duration = .seconds(600)) {
        self.bindTimeout = bindTimeout
    }

    /// A claim of the pod, with what binding it still needs.
    struct Claim {
        var object: JSONValue
        var name: String { object.name ?? "" }
        /// The bound volume, if bound.
        var volume: JSONValue?
        var storageClass: JSONValue?
    }

    /// One cycle's findings. A class, so Filter can record its choice per node in the cycle's state (a cycle runs
    /// on one task at a time).
    final class State: @unchecked Sendable {
        var bound: [Claim] = []
        /// Unbound claims of WaitForFirstConsumer classes.
        var delayed: [Claim] = []
        /// Per node, the volume chosen for each delayed claim (nil: provision), computed by Filter.
        var choices: [String: [String: String?]] = [:]
    }


    /// The claim names of a pod's volumes; a generic ephemeral volume's claim is named `POD-VOLUME`.
    static func claimNames(_ pod: PodInfo) -> [String] {
        (pod.spec["volumes"]?.arrayValue ?? []).compactMap { volume in
            if let claim = volume["persistentVolumeClaim"]?["claimName"]?.stringValue { return claim }
            if volume["ephemeral"] != nil, let name = volume["name"]?.stringValue { return "\(pod.pod.name ?? "")-\(name)" }
            return nil
        }
    }

    public func preFilter(_ pod: PodInfo, _ nodes: [NodeInfo], _ cycle: CycleState) -> PluginStatus {
        guard pod.hasVolumeClaims else { return .success }
        let names = Self.claimNames(pod)
        let state = State()
        for name in names {
            guard let claim = cycle.handle.cluster.persistentVolumeClaims?.get(namespace: pod.namespace, name: name) else {
                return .unresolvable("persistentvolumeclaim \"\(name)\" not found")
            }
            if claim.deletionTimestamp != nil { return .unresolvable("persistentvolumeclaim \"\(name)\" is being deleted") }
            let className = claim["spec"]?["storageClassName"]?.stringValue ?? ""
            let storageClass = className.isEmpty ? nil : cycle.handle.cluster.storageClasses?.get(className)
            if let volumeName = claim["spec"]?["volumeName"]?.stringValue, !volumeName.isEmpty {
                state.bound.append(Claim(object: claim, volume: cycle.handle.cluster.persistentVolumes?.get(volumeName), storageClass: storageClass))
            } else if storageClass?["volumeBindingMode"]?.stringValue == "WaitForFirstConsumer" {
                state.delayed.append(Claim(object: claim, storageClass: storageClass))
            } else {
                return .unresolvable("pod has unbound immediate PersistentVolumeClaims")
            }
        }
        cycle.write(state)
        return .success
    }

    public func filter(_ pod: PodInfo, _ node: NodeInfo, _ cycle: CycleState) -> PluginStatus {
        guard pod.hasVolumeClaims, let state = cycle.read(State.self) else { return .success }
        for claim in state.bound {
            guard let volume = claim.volume else {
                return .unresolvable("node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)")
            }
            if !Self.allows(volume, node) { return .unresolvable("node(s) had volume node affinity conflict") }
        }
        guard !state.delayed.isEmpty else { return .success }
        let taken = chosen.withLock { $0 }
        var picked: [String: String?] = [:]
        var used = Set<String>()
        for claim in state.delayed {
            let candidates = (cycle.handle.cluster.persistentVolumes?.list() ?? []).filter { volume in
                guard let name = volume.name, !used.contains(name), taken[name] == nil || taken[name] == pod.key else { return false }
                return Self.canBind(volume, to: claim.object) && Self.allows(volume, node)
            }
            // The smallest volume that is large enough, as the PV controller picks.
            if let volume = candidates.min(by: { Self.capacity($0) < Self.capacity($1) }), let name = volume.name {
                picked[claim.name] = .some(name)
                used.insert(name)
            } else if let provisioner = claim.storageClass?["provisioner"]?.stringValue, provisioner != Self.noProvisioner,
                Self.topologyAllows(claim.storageClass, node)
            {
                picked[claim.name] = .some(nil)
            } else {
                return .unschedulable("node(s) didn't find available persistent volumes to bind")
            }
        }
        state.choices[node.name] = picked
        return .success
    }

    public func reserve(_ pod: PodInfo, node: String, _ cycle: CycleState) -> PluginStatus {
        guard pod.hasVolumeClaims, let state = cycle.read(State.self) else { return .success }
        let volumes = (state.choices[node] ?? [:]).values.compactMap { $0 }
        return chosen.withLock { chosen in
            if volumes.contains(where: { chosen[$0] != nil && chosen[$0] != pod.key }) {
                return .unschedulable("node(s) didn't find available persistent volumes to bind")
            }
            for volume in volumes { chosen[volume] = pod.key }
            return .success
        }
    }

    public func unreserve(_ pod: PodInfo, node: String, _ cycle: CycleState) {
        chosen.withLock { $0 = $0.filter { $0.value != pod.key } }
    }

    public func preBind(_ pod: PodInfo, node: String, _ cycle: CycleState) async -> PluginStatus {
        guard pod.hasVolumeClaims, let state = cycle.read(State.self), !state.delayed.isEmpty,
            let client = cycle.handle.client
        else { return .success }
        let (delayed, choices) = (state.delayed, state.choices[node] ?? [:])
        defer { unreserve(pod, node: node, cycle) }
        do {
            for claim in delayed {
                if case .some(.some(let volume)) = choices[claim.name] {
                    let ref: JSONValue = ["kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": .string(pod.namespace),
                                          "name": .string(claim.name), "uid": .string(claim.object.uid ?? "")]
                    try await client.patch(.persistentVolumes, namespace: nil, name: volume, ["spec": ["claimRef": ref]], type: .merge)
                } else {
                    try await client.patch(.persistentVolumeClaims, namespace: pod.namespace, name: claim.name,
                        ["metadata": ["annotations": [Self.selectedNodeAnnotation: .string(node)]]], type: .merge)
                }
            }
        } catch {
            return PluginStatus(code: .error, reasons: ["binding volumes: \(error)"])
        }
        // The volume controller or provisioner finishes the binding; the pod waits for it.
        let deadline = ContinuousClock.now + bindTimeout
        let claims = cycle.handle.cluster.persistentVolumeClaims
        while ContinuousClock.now < deadline {
            let unbound = delayed.filter { claim in
                let current = claims?.get(namespace: pod.namespace, name: claim.name)
                return (current?["spec"]?["volumeName"]?.stringValue ?? "").isEmpty || current?["status"]?["phase"] != "Bound"
            }
            if unbound.isEmpty { return .success }
            do { try await Task.sleep(for: .milliseconds(100)) } catch { break }
        }
        return PluginStatus(code: .error, reasons: ["binding volumes: timed out waiting for the volumes to be bound"])
    }

    // MARK: Matching volumes

    /// Whether a volume's required node affinity admits the node.
    static func allows(_ volume: JSONValue, _ node: NodeInfo) -> Bool {
        guard let terms = volume["spec"]?["nodeAffinity"]?["required"]?["nodeSelectorTerms"]?.arrayValue else { return true }
        return NodeAffinity.matches(terms: terms, node: node.node)
    }

    /// Whether a StorageClass's `allowedTopologies` admit the node.
    static func topologyAllows(_ storageClass: JSONValue?, _ node: NodeInfo) -> Bool {
        guard let topologies = storageClass?["allowedTopologies"]?.arrayValue, !topologies.isEmpty else { return true }
        return topologies.contains { term in
            (term["matchLabelExpressions"]?.arrayValue ?? []).allSatisfy { expression in
                guard let key = expression["key"]?.stringValue, let value = node.labels[key] else { return false }
                return (expression["values"]?.arrayValue ?? []).contains(.string(value))
            }
        }
    }

    static func capacity(_ volume: JSONValue) -> Quantity {
        volume["spec"]?["capacity"]?["storage"].flatMap { Quantity(json: $0) } ?? .zero
    }

    /// An available volume of the claim's class, large enough, offering every access mode the claim asks for, in the
    /// same volume mode, and matching the claim's selector.
    static func canBind(_ volume: JSONValue, to claim: JSONValue) -> Bool {
        guard volume.deletionTimestamp == nil, ["Available", "Pending"].contains(volume["status"]?["phase"]?.stringValue ?? "Available"),
            volume["spec"]?["claimRef"] == nil || volume["spec"]?["claimRef"]?["uid"]?.stringValue == claim.uid
        else { return false }
        if (volume["spec"]?["storageClassName"]?.stringValue ?? "") != (claim["spec"]?["storageClassName"]?.stringValue ?? "") { return false }
        if (volume["spec"]?["volumeMode"]?.stringValue ?? "Filesystem") != (claim["spec"]?["volumeMode"]?.stringValue ?? "Filesystem") { return false }
        let offered = Set((volume["spec"]?["accessModes"]?.arrayValue ?? []).compactMap(\.stringValue))
        let wanted = (claim["spec"]?["accessModes"]?.arrayValue ?? []).compactMap(\.stringValue)
        if !wanted.allSatisfy(offered.contains) { return false }
        if let request = claim["spec"]?["resources"]?["requests"]?["storage"].flatMap({ Quantity(json: $0) }), capacity(volume) < request { return false }
        if let selector = claim["spec"]?["selector"], selector != .null {
            guard let parsed = try? LabelSelector.from(selector), parsed.matches(volume.labels) else { return false }
        }
        return true
    }
}
