/// Typed access to the `metadata` of a generic object, shared by every kind the server stores.
extension JSONValue {
    public var metadata: JSONValue? {
        get { self["metadata"] }
        set { self["metadata"] = newValue }
    }

    private func metadataString(_ key: String) -> String? { self["metadata"]?[key]?.stringValue }

    private mutating func setMetadata(_ key: String, _ value: JSONValue?) {
        setValue(value, at: ["metadata", key])
    }

    public var name: String? {
        get { metadataString("name") }
        set { setMetadata("name", newValue.map(JSONValue.string)) }
    }

    public var namespace: String? {
        get { metadataString("namespace") }
        set { setMetadata("namespace", newValue.map(JSONValue.string)) }
    }

    public var uid: String? {
        get { metadataString("uid") }
        set { setMetadata("uid", newValue.map(JSONValue.string)) }
    }

    public var resourceVersion: String? {
        get { metadataString("resourceVersion") }
        set { setMetadata("resourceVersion", newValue.map(JSONValue.string)) }
    }

    public var generateName: String? { metadataString("generateName") }

    public var creationTimestamp: String? { metadataString("creationTimestamp") }

    public var deletionTimestamp: String? {
        get { metadataString("deletionTimestamp") }
        set { setMetadata("deletionTimestamp", newValue.map(JSONValue.string)) }
    }

    public var generation: Int64? {
        get { self["metadata"]?["generation"]?.intValue }
        set { setMetadata("generation", newValue.map(JSONValue.integer)) }
    }

    public var labels: [String: String] {
        (self["metadata"]?["labels"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
    }

    public var annotations: [String: String] {
        (self["metadata"]?["annotations"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
    }

    public var finalizers: [String] {
        get { (self["metadata"]?["finalizers"]?.arrayValue ?? []).compactMap(\.stringValue) }
        set { setMetadata("finalizers", newValue.isEmpty ? nil : .array(newValue.map(JSONValue.string))) }
    }

    public var apiVersion: String? { self["apiVersion"]?.stringValue }
    public var kind: String? { self["kind"]?.stringValue }

    public mutating func setMetadataField(_ key: String, _ value: JSONValue?) { setMetadata(key, value) }
}

/// A `metadata.ownerReferences` entry.
public struct OwnerReference: Hashable, Sendable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var uid: String
    public var controller: Bool
    public var blockOwnerDeletion: Bool

    public init(apiVersion: String, kind: String, name: String, uid: String, controller: Bool = false, blockOwnerDeletion: Bool = false) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
        self.blockOwnerDeletion = blockOwnerDeletion
    }

    public init?(json: JSONValue) {
        guard let apiVersion = json["apiVersion"]?.stringValue, let kind = json["kind"]?.stringValue,
            let name = json["name"]?.stringValue, let uid = json["uid"]?.stringValue
        else { return nil }
        self.init(apiVersion: apiVersion, kind: kind, name: name, uid: uid, controller: json["controller"]?.boolValue ?? false,
            blockOwnerDeletion: json["blockOwnerDeletion"]?.boolValue ?? false)
    }

    public var json: JSONValue {
        var value: JSONValue = ["apiVersion": .string(apiVersion), "kind": .string(kind), "name": .string(name), "uid": .string(uid)]
        if controller { value["controller"] = true }
        if blockOwnerDeletion { value["blockOwnerDeletion"] = true }
        return value
    }

    /// The owner's API group, from `apiVersion` (`apps/v1` → `apps`, `v1` → core).
    public var group: String {
        guard let slash = apiVersion.firstIndex(of: "/") else { return "" }
        return String(apiVersion[..<slash])
    }
}

extension JSONValue {
    public var ownerReferences: [OwnerReference] {
        get { (self["metadata"]?["ownerReferences"]?.arrayValue ?? []).compactMap(OwnerReference.init(json:)) }
        set { setMetadataField("ownerReferences", newValue.isEmpty ? nil : .array(newValue.map(\.json))) }
    }

    /// The owner reference with `controller: true`, if any: the one object responsible for this one.
    public var controllerRef: OwnerReference? { ownerReferences.first { $0.controller } }
}
