import Foundation
import KeelsonAPI
import KeelsonClient
import Logging
import Synchronization

/// Deletes objects whose owners are gone, and carries out Foreground and Orphan deletions, as
/// kube-controller-manager's garbage collector does, across every resource the server serves:
/// - a dependent all of whose owners are gone is deleted (background cascading); references to vanished owners are
///   removed from a dependent that still has a live owner;
/// - an owner deleted with `propagationPolicy: Foreground` (finalizer `foregroundDeletion`) has its dependents
///   deleted, and loses the finalizer once no dependent with `blockOwnerDeletion` remains;
/// - an owner deleted with `Orphan` (finalizer `orphan`) has its reference removed from every dependent, then loses
///   the finalizer.
///
/// Absence is confirmed with a live GET before anything is deleted, because an informer may simply not have seen a
/// new owner yet. Keys are `resource|namespace/name`, where resource is `group/version/plural`.
public struct GarbageCollector: Sendable {
    public static let name = "garbage-collector"
    static let foreground = "foregroundDeletion"
    static let orphan = "orphan"

    let client: any KubernetesClient
    let logger: Logger
    private let table: MonitorTable

    /// The monitored resources and the queue their events go to. Resources come and go while the collector runs
    /// (CustomResourceDefinitions), so the table is shared and locked.
    final class MonitorTable: Sendable {
        struct State {
            /// The monitored resources by `group/version/plural`.
            var informers: [String: Informer] = [:]
            /// Owner kinds → resource, to find an owner from an ownerReference.
            var resourcesByKind: [String: ResourceReference] = [:]
            var queue: WorkQueue<String>?
        }

        let state = Mutex(State())
    }

    /// The monitored resources by `group/version/plural`.
    var informers: [String: Informer] { table.state.withLock { $0.informers } }
    /// Owner kinds → resource, to find an owner from an ownerReference.
    var resourcesByKind: [String: ResourceReference] { table.state.withLock { $0.resourcesByKind } }

    /// Every informer must carry the `ownerUID` index.
    public init(client: any KubernetesClient, resources: [(DiscoveredResource, Informer)], logger: Logger) {
        self.client = client
        self.logger = logger
        self.table = MonitorTable()
        for (resource, informer) in resources { monitor(resource, informer: informer) }
    }

    /// The resources worth watching: those that can be listed, watched and deleted. Events are left out, as
    /// upstream leaves them out: they are many, short-lived and never owners.
    public static func monitorable(_ resource: DiscoveredResource) -> Bool {
        resource.verbs.isSuperset(of: ["list", "watch", "delete"]) && resource.reference.resource != "events"
    }

    static func id(_ reference: ResourceReference) -> String { "\(reference.group)/\(reference.version)/\(reference.resource)" }
    static func groupKind(_ group: String, _ kind: String) -> String { "\(kind).\(group)" }

    public var allInformers: [Informer] { Array(informers.values) }

    /// The `group/version/plural` of every monitored resource.
    public var monitoredIDs: Set<String> { Set(informers.keys) }

    /// Starts following one more resource (with the `ownerUID` index on its informer). Its handler is added before
    /// the caller runs the informer, so its first listing queues every object that has owners.
    public func monitor(_ resource: DiscoveredResource, informer: Informer) {
        let id = Self.id(resource.reference)
        let queue = table.state.withLock { state -> WorkQueue<String>? in
            state.informers[id] = informer
            state.resourcesByKind[Self.groupKind(resource.group, resource.kind)] = resource.reference
            return state.queue
        }
        if let queue { addHandler(id: id, informer: informer, queue: queue) }
    }

    /// Stops following a resource that is no longer served (its definition was deleted).
    public func forget(_ id: String) {
        table.state.withLock { state in
            guard let informer = state.informers.removeValue(forKey: id) else { return }
            state.resourcesByKind = state.resourcesByKind.filter { $0.value != informer.resource }
        }
    }

    /// Queues every object with an owner of this kind: owners of a kind the collector did not know were left alone,
    /// and may be gone by now.
    public func requeueDependents(ofGroup group: String, kind: String) {
        guard let queue = table.state.withLock({ $0.queue }) else { return }
        for (id, informer) in informers {
            for object in informer.list() where object.ownerReferences.contains(where: { $0.group == group && $0.kind == kind }) {
                queue.add(Self.key(id, object))
            }
        }
    }

    public func register(_ queue: WorkQueue<String>) {
        let current = table.state.withLock { state in
            state.queue = queue
            return state.informers
        }
        for (id, informer) in current { addHandler(id: id, informer: informer, queue: queue) }
    }

    private func addHandler(id: String, informer: Informer, queue: WorkQueue<String>) {
        informer.addHandler { event in
            switch event {
            case .added(let object):
                if !object.ownerReferences.isEmpty { queue.add(Self.key(id, object)) }
                if Self.isBeingDeletedByGC(object) { queue.add(Self.key(id, object)) }
            case .updated(let old, let new):
                if new.ownerReferences != old.ownerReferences || Self.isBeingDeletedByGC(new) { queue.add(Self.key(id, new)) }
            case .deleted(let object):
                // Its dependents may now be orphans; the owners waiting for it may now be free to go.
                for key in dependentKeys(of: object) { queue.add(key) }
                for ref in object.ownerReferences where ref.blockOwnerDeletion {
                    if let owner = resourcesByKind[Self.groupKind(ref.group, ref.kind)] {
                        queue.add("\(Self.id(owner))|\(Informer.key(namespace: owner.namespaced ? object.namespace : nil, name: ref.name))")
                    }
                }
            }
        }
    }

    static func key(_ id: String, _ object: JSONValue) -> String { "\(id)|\(Informer.key(of: object))" }

    static func isBeingDeletedByGC(_ object: JSONValue) -> Bool {
        object.deletionTimestamp != nil && (object.finalizers.contains(foreground) || object.finalizers.contains(orphan))
    }

    private func dependentKeys(of owner: JSONValue) -> [String] {
        guard let uid = owner.uid else { return [] }
        return informers.flatMap { id, informer in informer.byIndex(InformerIndex.ownerUID.name, uid).map { Self.key(id, $0) } }
    }

    private func dependents(of owner: JSONValue) -> [(ResourceReference, JSONValue)] {
        guard let uid = owner.uid else { return [] }
        return informers.flatMap { _, informer in
            informer.byIndex(InformerIndex.ownerUID.name, uid).map { (informer.resource, $0) }
        }
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        guard let bar = key.firstIndex(of: "|"), let informer = informers[String(key[..<bar])] else { return .done }
        guard let object = informer.get(String(key[key.index(after: bar)...])) else { return .done }
        if object.deletionTimestamp != nil && object.finalizers.contains(Self.orphan) {
            try await orphanDependents(of: object, resource: informer.resource)
            return .done
        }
        if object.deletionTimestamp != nil && object.finalizers.contains(Self.foreground) {
            return try await deleteDependentsFirst(of: object, resource: informer.resource)
        }
        try await collectIfOrphaned(object, resource: informer.resource)
        return .done
    }

    // MARK: Owners being deleted

    private func orphanDependents(of owner: JSONValue, resource: ResourceReference) async throws {
        let uid = owner.uid ?? ""
        for (dependentResource, dependent) in dependents(of: owner) {
            let remaining = dependent.ownerReferences.filter { $0.uid != uid }
            do {
                try await client.patch(dependentResource, namespace: dependent.namespace, name: dependent.name ?? "", [
                    "metadata": ["ownerReferences": remaining.isEmpty ? .null : .array(remaining.map(\.json)), "uid": .string(dependent.uid ?? "")],
                ])
            } catch let error as APIError where error.isNotFound || error.isConflict {
                continue
            }
        }
        try await removeFinalizer(Self.orphan, from: owner, resource: resource)
    }

    /// Deletes the dependents (in the foreground too, so the whole tree goes before the owner) and releases the
    /// owner once nothing that blocks it remains.
    private func deleteDependentsFirst(of owner: JSONValue, resource: ResourceReference) async throws -> ReconcileResult {
        let uid = owner.uid ?? ""
        var blocking = 0
        for (dependentResource, dependent) in dependents(of: owner) {
            if dependent.ownerReferences.contains(where: { $0.uid == uid && $0.blockOwnerDeletion }) { blocking += 1 }
            guard dependent.deletionTimestamp == nil else { continue }
            // A dependent with another live owner only loses this reference.
            let others = dependent.ownerReferences.filter { $0.uid != uid }
            if try await hasLiveOwner(others, namespace: dependent.namespace) {
                _ = try? await client.patch(dependentResource, namespace: dependent.namespace, name: dependent.name ?? "", [
                    "metadata": ["ownerReferences": .array(others.map(\.json)), "uid": .string(dependent.uid ?? "")],
                ])
                continue
            }
            do {
                try await client.delete(dependentResource, namespace: dependent.namespace, name: dependent.name ?? "",
                    uid: dependent.uid ?? "", propagationPolicy: "Foreground")
            } catch let error as APIError where error.isNotFound || error.isConflict {
                continue
            }
        }
        if blocking > 0 { return .requeue(after: .seconds(5)) }  // dependents' deletions also enqueue the owner
        try await removeFinalizer(Self.foreground, from: owner, resource: resource)
        return .done
    }

    private func removeFinalizer(_ finalizer: String, from owner: JSONValue, resource: ResourceReference) async throws {
        let finalizers = owner.finalizers.filter { $0 != finalizer }
        do {
            // The resourceVersion makes this a compare-and-swap: another finalizer's owner may be editing too.
            try await client.patch(resource, namespace: owner.namespace, name: owner.name ?? "", [
                "metadata": ["finalizers": finalizers.isEmpty ? .null : .array(finalizers.map(JSONValue.string)),
                             "resourceVersion": .string(owner.resourceVersion ?? "")],
            ])
        } catch let error as APIError where error.isNotFound {
            return
        }
    }

    // MARK: Dependents

    private func collectIfOrphaned(_ object: JSONValue, resource: ResourceReference) async throws {
        let references = object.ownerReferences
        guard !references.isEmpty, object.deletionTimestamp == nil else { return }
        var dangling: [OwnerReference] = []
        var waiting: [OwnerReference] = []
        var live = 0
        for ref in references {
            switch try await ownerState(ref, namespace: object.namespace) {
            case .absent: dangling.append(ref)
            case .deletingForeground: waiting.append(ref)
            case .present: live += 1
            case .unknownKind: live += 1  // cannot tell, so never delete on its account
            }
        }
        if live > 0 {
            guard !dangling.isEmpty else { return }
            let remaining = references.filter { ref in !dangling.contains { $0.uid == ref.uid } }
            _ = try? await client.patch(resource, namespace: object.namespace, name: object.name ?? "", [
                "metadata": ["ownerReferences": .array(remaining.map(\.json)), "uid": .string(object.uid ?? "")],
            ])
            return
        }
        if dangling.isEmpty && waiting.isEmpty { return }
        // Every owner is gone or going: delete, in the foreground if an owner waits for this object's own tree.
        let policy = waiting.isEmpty ? "Background" : "Foreground"
        do {
            try await client.delete(resource, namespace: object.namespace, name: object.name ?? "", uid: object.uid ?? "",
                propagationPolicy: policy)
            logger.debug("collected", metadata: ["object": "\(resource)/\(Informer.key(of: object))"])
        } catch let error as APIError where error.isNotFound || error.isConflict {
            return
        }
    }

    enum OwnerState { case present, absent, deletingForeground, unknownKind }

    private func ownerState(_ ref: OwnerReference, namespace: String?) async throws -> OwnerState {
        guard let resource = resourcesByKind[Self.groupKind(ref.group, ref.kind)] else { return .unknownKind }
        let ownerNamespace = resource.namespaced ? namespace : nil
        var owner = informers[Self.id(resource)]?.get(namespace: ownerNamespace, name: ref.name)
        if owner?.uid != ref.uid {
            // The cache may lag behind a just-created owner: ask the server before calling it absent.
            do {
                owner = try await client.get(resource, namespace: ownerNamespace, name: ref.name)
            } catch let error as APIError where error.isNotFound {
                return .absent
            }
        }
        guard let owner, owner.uid == ref.uid else { return .absent }
        if owner.deletionTimestamp != nil && owner.finalizers.contains(Self.foreground) { return .deletingForeground }
        return .present
    }

    private func hasLiveOwner(_ references: [OwnerReference], namespace: String?) async throws -> Bool {
        for ref in references where try await ownerState(ref, namespace: namespace) == .present { return true }
        return false
    }
}
