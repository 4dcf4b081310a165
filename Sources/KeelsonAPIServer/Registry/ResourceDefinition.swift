import Foundation
import KeelsonAPI

/// How names of a kind are validated (kube-apiserver's `ValidateObjectMeta` name functions).
enum NameRule: Sendable {
    case dnsSubdomain
    case dnsLabel
    case dns1035Label
    /// Only path-segment safety (RBAC objects, which allow `:` in names).
    case pathSegment
}

/// Where a kind keeps the fields the `scale` subresource reads and writes.
struct ScaleSupport: Sendable {
    var specReplicas: [String] = ["spec", "replicas"]
    var statusReplicas: [String] = ["status", "replicas"]
    var selector: [String] = ["spec", "selector"]
}

/// A column of server-side printing.
struct TableColumn: Sendable {
    var name: String
    var type: String = "string"
    var format: String = ""
    var description: String = ""
    /// 0 shows by default, 1 only with `-o wide`.
    var priority: Int = 0

    var jsonValue: JSONValue {
        ["name": .string(name), "type": .string(type), "format": .string(format),
         "description": .string(description), "priority": .integer(Int64(priority))]
    }
}

/// The behaviour of one kind: defaults, validation, selectable fields, printing. The generic REST handler runs
/// these in a fixed order (as kube-apiserver's `BeforeCreate`/`BeforeUpdate`); each hook must not do I/O.
struct ResourceStrategy: Sendable {
    /// Fills in defaults; runs on every write, as decoding does in kube-apiserver.
    var applyDefaults: @Sendable (inout JSONValue) -> Void = { _ in }
    /// Adjusts a new object before validation (e.g. resetting status, generating selectors).
    var prepareForCreate: @Sendable (inout JSONValue) -> Void = { _ in }
    var validate: @Sendable (JSONValue) -> [FieldError] = { _ in [] }
    /// Checks an update against the old object (immutable fields); runs in addition to `validate`.
    var validateUpdate: @Sendable (_ new: JSONValue, _ old: JSONValue) -> [FieldError] = { _, _ in [] }
    /// Field values that `?fieldSelector=` can match, beyond `metadata.name` and `metadata.namespace`.
    var selectableFields: @Sendable (JSONValue) -> [String: String] = { _ in [:] }
    /// Columns after NAME, and the cells of one object's row (without the name), given the current time.
    var columns: [TableColumn] = [TableColumn(name: "Age", description: "CreationTimestamp is a timestamp representing the server time when this object was created.")]
    var cells: @Sendable (JSONValue, Date) -> [JSONValue] = { object, now in [.string(TablePrinter.age(of: object, now: now))] }
    /// The paths of fields a write would drop as undeclared (custom resources' pruning), for `fieldValidation`;
    /// nil where the server keeps every field.
    var unknownFields: (@Sendable (JSONValue) -> [String])? = nil
}

/// One row of the resource registry: everything the generic machinery needs to serve a kind.
struct ResourceDefinition: Sendable {
    var group: String
    var version: String
    var kind: String
    var plural: String
    var singular: String
    var namespaced: Bool
    var shortNames: [String] = []
    var categories: [String] = []
    var nameRule: NameRule = .dnsSubdomain
    /// Writes to the resource ignore `status`, writes to `/status` ignore everything else.
    var hasStatus = false
    /// `metadata.generation` counts changes outside metadata and status.
    var hasGeneration = false
    var scale: ScaleSupport?
    /// Subresources served by special handlers (binding, eviction, log…), listed in discovery.
    var extraSubresources: [(name: String, kind: String, group: String, version: String, verbs: [String])] = []
    var verbs: [String] = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    /// Whether PUT of a missing object creates it (kube's `AllowCreateOnUpdate`).
    var allowCreateOnUpdate = false
    var strategy = ResourceStrategy()
    /// A custom resource served in several versions: objects are stored in whichever version wrote them and are
    /// presented in the version asked for (conversion `None`).
    var sharesStorageAcrossVersions = false
    /// The kind's OpenAPI v3 schema, where the server has one (a custom resource's `openAPIV3Schema`): published
    /// in the OpenAPI documents so `kubectl explain` can describe it.
    var openAPISchema: JSONValue?
    /// How server-side apply merges a custom kind, made from its schema once with the row; nil for built-ins,
    /// whose schemas come from `MergeSchema.forBuiltIn`.
    var customMergeSchema: MergeSchema?

    /// core/v1 Services, whose writes go through the cluster IP and node port allocator.
    var isService: Bool { group.isEmpty && kind == "Service" }

    var gvk: GroupVersionKind { GroupVersionKind(group: group, version: version, kind: kind) }
    var apiVersion: String { gvk.apiVersion }
    /// `deployments.apps`: how messages name the resource.
    var groupResource: String { group.isEmpty ? plural : "\(plural).\(group)" }

    /// The store key prefix for all objects of this resource (with a trailing slash).
    var keyPrefix: String { group.isEmpty ? "/registry/\(plural)/" : "/registry/\(group)/\(plural)/" }

    func key(namespace: String?, name: String) -> String {
        if namespaced, let namespace { return keyPrefix + namespace + "/" + name }
        return keyPrefix + name
    }

    func prefix(namespace: String?) -> String {
        if namespaced, let namespace { return keyPrefix + namespace + "/" }
        return keyPrefix
    }
}
