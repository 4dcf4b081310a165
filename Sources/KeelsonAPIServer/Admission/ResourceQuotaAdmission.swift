import Foundation
import KeelsonAPI
import KeelsonStore

/// kube-apiserver's `ResourceQuota` admission plugin for creates: an object that would take its namespace over a
/// quota is refused with 403, and an admitted one is charged to the quota's `status.used` at once, by
/// compare-and-swap, so creates racing each other cannot together go over. The quota controller recomputes `used`
/// from what exists (giving back what a failed create was charged).
struct ResourceQuotaAdmission: Sendable {
    let store: any Store
    let quotas: ResourceDefinition

    /// What creating `object` adds to each quota resource name it touches.
    static func usage(of object: JSONValue, definition: ResourceDefinition) -> [String: Quantity] {
        let one = Quantity(milli: 1000)
        var usage: [String: Quantity] = ["count/\(definition.groupResource)": one]
        guard definition.group.isEmpty else { return usage }
        switch definition.plural {
        case "pods":
            let phase = object.value(at: ["status", "phase"])?.stringValue
            guard phase != "Succeeded" && phase != "Failed" else { return [:] }
            usage["pods"] = one
            for (name, value) in PodResources.total(object, "requests") {
                usage["requests.\(name)"] = value
                if ["cpu", "memory", "ephemeral-storage"].contains(name) { usage[name] = value }
            }
            for (name, value) in PodResources.total(object, "limits") { usage["limits.\(name)"] = value }
        case "services":
            usage["services"] = one
            let type = object.value(at: ["spec", "type"])?.stringValue ?? "ClusterIP"
            let ports = object.value(at: ["spec", "ports"])?.arrayValue?.count ?? 0
            if type == "NodePort" || type == "LoadBalancer" { usage["services.nodeports"] = Quantity(milli: Int64(ports) * 1000) }
            if type == "LoadBalancer" { usage["services.loadbalancers"] = one }
        case "persistentvolumeclaims":
            usage["persistentvolumeclaims"] = one
            usage["requests.storage"] = Quantity(json: object.value(at: ["spec", "resources", "requests", "storage"])) ?? .zero
        case "configmaps", "secrets", "replicationcontrollers", "resourcequotas":
            usage[definition.plural] = one
        default:
            break
        }
        return usage
    }

    /// Whether a pod is in every one of a quota's scopes (`BestEffort`, `NotBestEffort`, `Terminating`,
    /// `NotTerminating`; other scopes match nothing here).
    static func inScopes(_ pod: JSONValue, _ scopes: [String]) -> Bool {
        let containers = (pod.value(at: ["spec", "containers"])?.arrayValue ?? []) + (pod.value(at: ["spec", "initContainers"])?.arrayValue ?? [])
        let bestEffort = containers.allSatisfy { container in
            (container["resources"]?["requests"]?.objectValue ?? [:]).isEmpty && (container["resources"]?["limits"]?.objectValue ?? [:]).isEmpty
        }
        let terminating = pod.value(at: ["spec", "activeDeadlineSeconds"])?.intValue != nil
        return scopes.allSatisfy { scope in
            switch scope {
            case "BestEffort": return bestEffort
            case "NotBestEffort": return !bestEffort
            case "Terminating": return terminating
            case "NotTerminating": return !terminating
            default: return false
            }
        }
    }

    /// Compute resources a quota limits must be stated by every container of a pod, or the pod cannot be counted.
    static func unstated(_ pod: JSONValue, hard: [String: JSONValue]) -> [String] {
        var missing: [String] = []
        let containers = (pod.value(at: ["spec", "containers"])?.arrayValue ?? []) + (pod.value(at: ["spec", "initContainers"])?.arrayValue ?? [])
        for name in hard.keys.sorted() {
            let (kind, resource): (String, String)
            if name.hasPrefix("requests.") { (kind, resource) = ("requests", String(name.dropFirst(9))) }
            else if name.hasPrefix("limits.") { (kind, resource) = ("limits", String(name.dropFirst(7))) }
            else if ["cpu", "memory"].contains(name) { (kind, resource) = ("requests", name) }
            else { continue }
            guard resource == "cpu" || resource == "memory" else { continue }
            let lacking = containers.filter { $0["resources"]?[kind]?[resource] == nil }.compactMap { $0["name"]?.stringValue }
            if !lacking.isEmpty { missing.append("\(kind).\(resource) for: \(lacking.joined(separator: ","))") }
        }
        return missing
    }

    func admit(_ object: JSONValue, definition: ResourceDefinition, namespace: String, dryRun: Bool) async throws {
        guard definition.namespaced else { return }
        let usage = Self.usage(of: object, definition: definition)
        guard !usage.isEmpty else { return }
        let name = object.name ?? ""
        func forbidden(_ message: String) -> Status {
            Status(code: 403, reason: .forbidden, message: "\(definition.groupResource) \"\(name)\" is forbidden: \(message)",
                details: Status.Details(name: name, group: definition.group, kind: definition.plural))
        }
        // A few rounds against writers charging the same quota at the same moment.
        for _ in 0..<8 {
            let page = try await store.range(prefix: quotas.prefix(namespace: namespace), at: nil, startAfter: nil, limit: nil)
            var charges: [(StoredValue, JSONValue)] = []
            for stored in page.items {
                var quota = try ObjectCodec.decodeStored(stored)
                let hard = quota.value(at: ["spec", "hard"])?.objectValue ?? [:]
                let scopes = quota.value(at: ["spec", "scopes"])?.arrayValue?.compactMap(\.stringValue) ?? []
                // A scoped quota counts only the pods in its scopes.
                if !scopes.isEmpty && !(definition.plural == "pods" && definition.group.isEmpty && Self.inScopes(object, scopes)) { continue }
                let touched = hard.keys.filter { usage[$0] != nil }.sorted()
                guard !touched.isEmpty else { continue }
                let quotaName = quota.name ?? ""
                if definition.plural == "pods" && definition.group.isEmpty && !scopes.contains("BestEffort") {
                    let missing = Self.unstated(object, hard: hard)
                    if !missing.isEmpty { throw forbidden("failed quota: \(quotaName): must specify \(missing.joined(separator: "; "))") }
                }
                let used = quota.value(at: ["status", "used"])?.objectValue ?? [:]
                let unknown = touched.filter { used[$0] == nil }
                if !unknown.isEmpty {
                    throw forbidden("status unknown for quota: \(quotaName), resources: \(unknown.joined(separator: ","))")
                }
                var exceeded: [String] = []
                var newUsed = used
                for resource in touched {
                    let current = Quantity(json: used[resource]) ?? .zero
                    let limit = Quantity(json: hard[resource]) ?? .zero
                    let next = current + (usage[resource] ?? .zero)
                    if limit < next { exceeded.append(resource) }
                    newUsed[resource] = .string(next.description)
                }
                if !exceeded.isEmpty {
                    func list(_ values: (String) -> String) -> String { exceeded.map { "\($0)=\(values($0))" }.joined(separator: ",") }
                    throw forbidden("exceeded quota: \(quotaName), requested: \(list { (usage[$0] ?? .zero).description }), "
                        + "used: \(list { (Quantity(json: used[$0]) ?? .zero).description }), limited: \(list { (Quantity(json: hard[$0]) ?? .zero).description })")
                }
                quota.setValue(.object(newUsed), at: ["status", "used"])
                charges.append((stored, quota))
            }
            if dryRun || charges.isEmpty { return }
            do {
                for (stored, quota) in charges {
                    var written = quota
                    written.resourceVersion = nil
                    _ = try await store.update(stored.key, value: ObjectCodec.encodeForStorage(written), ifModRevision: stored.modRevision, ttl: nil)
                }
                return
            } catch let error as StoreError where error.code == .conflict {
                continue
            }
        }
        throw Status(code: 409, reason: .conflict, message: "the resource quotas of namespace \(namespace) changed too often to charge; try again")
    }
}
