import Foundation
import KeelsonAPI

/// One entry of `metadata.managedFields`: the fields one manager owns through one kind of operation.
struct ManagedFieldsEntry: Sendable, Equatable {
    static let apply = "Apply"
    static let update = "Update"

    var manager: String
    var operation: String
    var apiVersion: String
    var time: String?
    var subresource: String?
    var fields: FieldSet

    /// Entries are told apart by manager, operation and subresource, as kube-apiserver does.
    func sameOwner(as other: ManagedFieldsEntry) -> Bool {
        manager == other.manager && operation == other.operation && (subresource ?? "") == (other.subresource ?? "")
    }

    var isApply: Bool { operation == Self.apply }

    init(manager: String, operation: String, apiVersion: String, time: String?, subresource: String?, fields: FieldSet) {
        self.manager = manager
        self.operation = operation
        self.apiVersion = apiVersion
        self.time = time
        self.subresource = subresource
        self.fields = fields
    }

    init?(json: JSONValue) {
        guard let manager = json["manager"]?.stringValue, let operation = json["operation"]?.stringValue,
              operation == Self.apply || operation == Self.update,
              json["fieldsType"]?.stringValue ?? "FieldsV1" == "FieldsV1",
              let fields = FieldSet(fieldsV1: json["fieldsV1"] ?? .object([:]))
        else { return nil }
        self.init(manager: manager, operation: operation, apiVersion: json["apiVersion"]?.stringValue ?? "",
            time: json["time"]?.stringValue, subresource: json["subresource"]?.stringValue, fields: fields)
    }

    var json: JSONValue {
        var object: [String: JSONValue] = [
            "manager": .string(manager), "operation": .string(operation), "apiVersion": .string(apiVersion),
            "fieldsType": "FieldsV1", "fieldsV1": fields.fieldsV1,
        ]
        if let time { object["time"] = .string(time) }
        if let subresource, !subresource.isEmpty { object["subresource"] = .string(subresource) }
        return .object(object)
    }

    /// How conflict messages name the manager: `"name"`, with `using <apiVersion>` for updaters.
    var printed: String {
        var text = "\"\(manager)\""
        if let subresource, !subresource.isEmpty { text += " with subresource \"\(subresource)\"" }
        if !isApply { text += " using \(apiVersion)" }
        return text
    }
}

/// The field ownership of an object (`metadata.managedFields`): recorded on every write that names its manager,
/// and the ground of server-side apply's merge, conflicts and removals.
struct ManagedFields: Sendable {
    var entries: [ManagedFieldsEntry]

    /// Who makes the current request's change: the `fieldManager` parameter, else the client's User-Agent up to
    /// its first `/` (as kube-apiserver names unnamed managers). Nil outside a request: the server's own writes
    /// leave ownership as it was.
    @TaskLocal static var requestManager: String?

    /// The entries an object carries; nil when it has none or they cannot be read (a client that does not
    /// understand managedFields must not lose them by sending garbage).
    static func of(_ object: JSONValue) -> ManagedFields? {
        object.metadata?["managedFields"].flatMap { of(entries: $0) }
    }

    /// Reads a `managedFields` list; nil when it is empty or cannot be read.
    static func of(entries: JSONValue) -> ManagedFields? {
        guard let list = entries.arrayValue, !list.isEmpty else { return nil }
        var entries: [ManagedFieldsEntry] = []
        for item in list {
            // A single empty entry is how a client asks for managedFields to be cleared.
            if item == .object([:]) && list.count == 1 { return ManagedFields(entries: []) }
            guard let entry = ManagedFieldsEntry(json: item) else { return nil }
            entries.append(entry)
        }
        return ManagedFields(entries: entries)
    }

    func write(into object: inout JSONValue) {
        let kept = entries.filter { !$0.fields.isEmpty }
        object.setMetadataField("managedFields", kept.isEmpty ? nil : .array(kept.map(\.json)))
    }

    static func now() -> String { Timestamp.format(Date()) }

    // MARK: What is tracked

    /// Fields no manager owns: identity and bookkeeping the server sets.
    private static let untrackedMetadata = ["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
        "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"]

    /// The part of an object whose fields are owned through a write to the main resource or to `status`:
    /// the main resource does not own the status of a kind that has a status subresource, and the status
    /// subresource owns nothing else.
    static func tracked(_ object: JSONValue, subresource: String?, hasStatus: Bool) -> JSONValue {
        guard case .object(var fields) = object else { return .object([:]) }
        if subresource == "status" { return .object(fields["status"].map { ["status": $0] } ?? [:]) }
        fields["apiVersion"] = nil
        fields["kind"] = nil
        if hasStatus { fields["status"] = nil }
        if case .object(var metadata)? = fields["metadata"] {
            for name in untrackedMetadata { metadata[name] = nil }
            fields["metadata"] = metadata.isEmpty ? nil : .object(metadata)
        }
        return .object(fields)
    }

    // MARK: Updates

    /// Records a create, update or patch by `manager` (not an apply): the fields it added or changed become its
    /// own — taken from whoever owned them — and removed fields leave every owner. `sent` is the managedFields
    /// list the client sent with the object, used instead of the stored one when it can be read (that is how
    /// clients rewrite ownership, e.g. kubectl moving client-side-apply fields to its server-side-apply manager).
    static func recordUpdate(old: JSONValue?, new object: inout JSONValue, sent: JSONValue?, manager: String,
        apiVersion: String, subresource: String?, hasStatus: Bool, schema: MergeSchema)
    {
        let before = tracked(old ?? .object([:]), subresource: subresource, hasStatus: hasStatus)
        let after = tracked(object, subresource: subresource, hasStatus: hasStatus)
        let stored = old?.metadata?["managedFields"]
        if before == after && (sent == nil || sent == stored) {
            // Nothing owned changed and the entries are as stored: they stay, unparsed.
            object.setMetadataField("managedFields", stored)
            return
        }
        var managed = sent.flatMap { of(entries: $0) } ?? old.flatMap { of($0) } ?? ManagedFields(entries: [])
        if before != after {
            let difference = StructuredMerge.compare(before, after, schema: schema)
            managed.takeOver(difference, by: ManagedFieldsEntry(manager: manager, operation: ManagedFieldsEntry.update,
                apiVersion: apiVersion, time: now(), subresource: subresource, fields: FieldSet()))
        }
        managed.write(into: &object)
    }

    /// Gives `owner` the changed fields, taking them from every other entry, and drops removed fields everywhere.
    private mutating func takeOver(_ difference: StructuredMerge.Difference, by owner: ManagedFieldsEntry) {
        if difference.changed.isEmpty && difference.removed.isEmpty { return }
        for index in entries.indices where !entries[index].sameOwner(as: owner) {
            entries[index].fields = entries[index].fields.subtracting(difference.changed).subtracting(difference.removed)
        }
        let gained = difference.changed
        if let index = entries.firstIndex(where: { $0.sameOwner(as: owner) }) {
            entries[index].fields = entries[index].fields.union(gained).subtracting(difference.removed)
            entries[index].time = owner.time
            entries[index].apiVersion = owner.apiVersion
        } else if !gained.isEmpty {
            var entry = owner
            entry.fields = gained
            entries.append(entry)
        }
        entries.removeAll { $0.fields.isEmpty }
        capUpdaters()
    }

    /// At most this many Update entries are kept; the oldest are folded into one, as kube-apiserver does, so an
    /// object written by many short-lived clients does not grow without end.
    static let maxUpdaters = 10
    static let foldedUpdater = "ancient-changes"

    private mutating func capUpdaters() {
        let updaters = entries.indices.filter { !entries[$0].isApply && entries[$0].manager != Self.foldedUpdater }
        guard updaters.count > Self.maxUpdaters - (entries.contains { $0.manager == Self.foldedUpdater } ? 1 : 0) else { return }
        let keep = Self.maxUpdaters - 1
        let oldest = updaters.sorted { (entries[$0].time ?? "", $0) < (entries[$1].time ?? "", $1) }.prefix(updaters.count - keep)
        var folded = entries.first { $0.manager == Self.foldedUpdater }
            ?? ManagedFieldsEntry(manager: Self.foldedUpdater, operation: ManagedFieldsEntry.update, apiVersion: entries[oldest.first!].apiVersion,
                time: nil, subresource: nil, fields: FieldSet())
        for index in oldest {
            folded.fields = folded.fields.union(entries[index].fields)
            folded.time = max(folded.time ?? "", entries[index].time ?? "")
        }
        let dropped = Set(oldest)
        entries = entries.indices.filter { !dropped.contains($0) && entries[$0].manager != Self.foldedUpdater }.map { entries[$0] }
        entries.append(folded)
    }

    // MARK: Apply

    struct Conflict: Equatable {
        var owner: String
        var path: String
    }

    /// Server-side apply of `config` by `manager` to `live` (nil: the object does not exist yet). Returns the
    /// object to write, its managedFields set. Fields other managers own and the apply would change are
    /// conflicts — a 409 listing each — unless `force`, which takes them over; fields this manager applied
    /// last time and no longer does are removed unless someone else owns them too.
    static func apply(_ config: JSONValue, to live: JSONValue?, manager: String, force: Bool, apiVersion: String,
        subresource: String?, hasStatus: Bool, schema: MergeSchema, resource: String, group: String) throws -> JSONValue
    {
        let duplicates = StructuredMerge.duplicateKeys(in: config, schema: schema)
        if !duplicates.isEmpty {
            throw Status(code: 422, reason: .invalid, message: "the applied configuration is invalid: " + duplicates.joined(separator: "; "))
        }
        let applied = tracked(config, subresource: subresource, hasStatus: hasStatus)
        let appliedFields = StructuredMerge.fieldSet(of: applied, schema: schema)
        let current = live ?? .object([:])
        let recorded = live.flatMap { of($0) }
        var managed = recorded ?? ManagedFields(entries: [])
        let owner = ManagedFieldsEntry(manager: manager, operation: ManagedFieldsEntry.apply, apiVersion: apiVersion,
            time: now(), subresource: subresource, fields: appliedFields)
        let previous = managed.entries.first { $0.sameOwner(as: owner) }?.fields ?? FieldSet()
        let others = managed.entries.filter { !$0.sameOwner(as: owner) }

        // The merge works on the tracked part only, so an apply to the main resource cannot touch status (and
        // one to status nothing else); the rest of the live object is put back around it.
        let liveTracked = tracked(current, subresource: subresource, hasStatus: hasStatus)
        var merged = StructuredMerge.merge(liveTracked, applied, schema: schema)
        let ownedByOthers = others.reduce(FieldSet()) { $0.union($1.fields) }
        let dropped = previous.subtracting(appliedFields).subtracting(ownedByOthers)
        merged = StructuredMerge.removing(dropped, from: merged, schema: schema)

        let difference = StructuredMerge.compare(liveTracked, merged, schema: schema)
        var conflicts: [Conflict] = []
        for entry in others {
            for path in entry.fields.intersection(difference.changed).paths {
                conflicts.append(Conflict(owner: entry.printed, path: FieldSet.pathText(path)))
            }
        }
        if !conflicts.isEmpty && !force {
            throw conflictStatus(conflicts, resource: resource, group: group, name: config.name ?? live?.name ?? "")
        }
        for index in managed.entries.indices where !managed.entries[index].sameOwner(as: owner) {
            managed.entries[index].fields = managed.entries[index].fields.subtracting(difference.changed).subtracting(difference.removed)
        }
        if let index = managed.entries.firstIndex(where: { $0.sameOwner(as: owner) }) {
            managed.entries[index] = owner
        } else {
            managed.entries.append(owner)
        }

        var result = current
        if case .object(let mergedFields) = merged, case .object(var resultFields) = result {
            for key in Set(resultFields.keys).union(mergedFields.keys) where key != "metadata" {
                if subresource == "status" && key != "status" { continue }
                if subresource != "status" && (key == "apiVersion" || key == "kind" || (hasStatus && key == "status")) { continue }
                resultFields[key] = mergedFields[key]
            }
            if subresource != "status" {
                var metadata = current.metadata?.objectValue ?? [:]
                let mergedMetadata = merged["metadata"]?.objectValue ?? [:]
                for key in Set(metadata.keys).union(mergedMetadata.keys) where !untrackedMetadata.contains(key) {
                    metadata[key] = mergedMetadata[key]
                }
                for key in ["name", "namespace", "generateName", "resourceVersion", "uid"] where metadata[key] == nil {
                    metadata[key] = config.metadata?[key]
                }
                resultFields["metadata"] = .object(metadata)
            }
            result = .object(resultFields)
        }
        if live == nil {
            result["apiVersion"] = config["apiVersion"]
            result["kind"] = config["kind"]
        } else if let resourceVersion = config.resourceVersion {
            // A resourceVersion in the configuration is a precondition, as in any update.
            result.resourceVersion = resourceVersion
        }
        updateLastApplied(in: &result, config: config)
        // An apply that changes nothing keeps the recorded times too, so it writes nothing (as kube-apiserver
        // ignores managedFields timestamps when it looks for a no-op).
        if let live, let recorded, recorded.ignoringTimes == managed.ignoringTimes {
            var bare = result, liveBare = live
            bare.setMetadataField("managedFields", nil)
            liveBare.setMetadataField("managedFields", nil)
            if bare == liveBare { return live }
        }
        managed.write(into: &result)
        return result
    }

    private var ignoringTimes: [ManagedFieldsEntry] {
        entries.filter { !$0.fields.isEmpty }.map { entry in
            var entry = entry
            entry.time = nil
            return entry
        }
    }

    /// An object that has kubectl's last-applied annotation keeps it in step with what was applied, so a later
    /// client-side `kubectl apply` diffs against the truth.
    private static func updateLastApplied(in object: inout JSONValue, config: JSONValue) {
        let annotation = "kubectl.kubernetes.io/last-applied-configuration"
        guard object.metadata?["annotations"]?[annotation] != nil else { return }
        var recorded = config
        if case .object(var annotations)? = recorded.metadata?["annotations"] {
            annotations[annotation] = nil
            recorded.setMetadataField("annotations", annotations.isEmpty ? nil : .object(annotations))
        }
        var annotations = object.metadata?["annotations"]?.objectValue ?? [:]
        annotations[annotation] = .string(recorded.encodedString() + "\n")
        object.setMetadataField("annotations", .object(annotations))
    }

    static func conflictStatus(_ conflicts: [Conflict], resource: String, group: String, name: String) -> Status {
        let message: String
        if conflicts.count == 1 {
            message = "Apply failed with 1 conflict: conflict with \(conflicts[0].owner): \(conflicts[0].path)"
        } else {
            var lines: [String] = []
            for owner in Set(conflicts.map(\.owner)).sorted() {
                lines.append("conflicts with \(owner):")
                lines += conflicts.filter { $0.owner == owner }.map { "- " + $0.path }
            }
            message = "Apply failed with \(conflicts.count) conflicts: " + lines.joined(separator: "\n")
        }
        let causes = conflicts.map { Status.Cause(reason: "FieldManagerConflict", message: "conflict with \($0.owner)", field: $0.path) }
        return Status(code: 409, reason: .conflict, message: message,
            details: Status.Details(name: name, group: group, kind: resource, causes: causes))
    }
}
