import KeelsonAPI
import KeelsonClient

/// The revision history of DaemonSets and StatefulSets, kept in `apps/v1` ControllerRevisions as upstream keeps it:
/// each revision stores the pod template as a strategic merge patch (`{"spec":{"template":{…,"$patch":"replace"}}}`)
/// — the form `kubectl rollout undo` applies back — is named `OWNER-HASH`, and is numbered; the hash labels the
/// pods made from it (`controller-revision-hash`). Returning to an old template reuses its revision with a new
/// number, as a rollback does.
struct ControllerHistory {
    static let hashLabel = "controller-revision-hash"

    let client: any KubernetesClient
    let revisions: Informer

    /// The owner's revisions, oldest number first.
    func revisions(of owner: JSONValue) -> [JSONValue] {
        revisions.byIndex(InformerIndex.ownerUID.name, owner.uid ?? "")
            .filter { $0.controllerRef?.uid == owner.uid }
            .sorted { ($0["revision"]?.intValue ?? 0) < ($1["revision"]?.intValue ?? 0) }
    }

    /// The pod template a revision of the owner recorded, by its hash.
    func template(of owner: JSONValue, hash: String) -> JSONValue? {
        guard let revision = revisions(of: owner).first(where: { $0.labels[Self.hashLabel] == hash }),
            var template = revision["data"]?["spec"]?["template"]
        else { return nil }
        template["$patch"] = nil
        return template
    }

    static func data(template: JSONValue) -> JSONValue {
        var replaced = template
        replaced["$patch"] = "replace"
        return ["spec": ["template": replaced]]
    }

    /// FNV-1a of the revision data, spelled in the safe alphabet (upstream's `ControllerRevisionHashLabel` form).
    static func hash(_ data: JSONValue, collisionCount: Int64?) -> String {
        Rollout.templateHash(data, collisionCount: collisionCount)
    }

    /// The revision for the owner's current template, created or renumbered as needed; and the hash pods get.
    func current(for owner: JSONValue, kind: String, template: JSONValue) async throws -> (revision: JSONValue, hash: String) {
        let history = revisions(of: owner)
        let data = Self.data(template: template)
        let maxNumber = history.compactMap { $0["revision"]?.intValue }.max() ?? 0
        if let existing = history.last(where: { Rollout.semanticForm($0["data"] ?? .null) == Rollout.semanticForm(data) }) {
            let hash = existing.labels[Self.hashLabel] ?? String((existing.name ?? "").split(separator: "-").last ?? "")
            guard let number = existing["revision"]?.intValue, number < maxNumber else { return (existing, hash) }
            // Back to an older template: it becomes the newest revision again.
            var renumbered = existing
            renumbered["revision"] = .integer(maxNumber + 1)
            return (try await client.update(.controllerRevisions, namespace: owner.namespace, renumbered), hash)
        }
        let collisionCount = owner["status"]?["collisionCount"]?.intValue
        let hash = Self.hash(data, collisionCount: collisionCount)
        var labels = owner["spec"]?["selector"]?["matchLabels"]?.objectValue ?? [:]
        labels[Self.hashLabel] = .string(hash)
        var revision: JSONValue = [
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": ["name": .string("\(owner.name ?? "")-\(hash)"), "labels": .object(labels)],
            "data": data, "revision": .integer(maxNumber + 1),
        ]
        revision.ownerReferences = [OwnerReference(apiVersion: "apps/v1", kind: kind, name: owner.name ?? "", uid: owner.uid ?? "",
            controller: true, blockOwnerDeletion: true)]
        do {
            return (try await client.create(.controllerRevisions, namespace: owner.namespace, revision), hash)
        } catch let error as APIError where error.isAlreadyExists {
            let existing = try await client.get(.controllerRevisions, namespace: owner.namespace, name: "\(owner.name ?? "")-\(hash)")
            guard existing.controllerRef?.uid == owner.uid, Rollout.semanticForm(existing["data"] ?? .null) == Rollout.semanticForm(data) else {
                throw error  // a true collision: the owner's collisionCount must grow first
            }
            return (existing, hash)
        }
    }

    /// Deletes the oldest revisions beyond `limit` that no live pod still uses.
    func truncate(_ owner: JSONValue, limit: Int, inUse: Set<String>, current: String) async throws {
        let unused = revisions(of: owner).filter { revision in
            let hash = revision.labels[Self.hashLabel] ?? ""
            return hash != current && !inUse.contains(hash)
        }
        for revision in unused.dropLast(max(limit, 0)) {
            do {
                try await client.delete(.controllerRevisions, namespace: revision.namespace, name: revision.name ?? "", uid: revision.uid ?? "")
            } catch let error as APIError where error.isNotFound || error.isConflict {}
        }
    }
}
