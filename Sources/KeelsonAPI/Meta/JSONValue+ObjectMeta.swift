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
