/// A built-in kind as a typed value: the fields components read and write are typed properties, and the object
/// itself stays the lossless `JSONValue` the API server sent, so writing a typed object back never drops a field
/// this model does not know (newer API fields, annotations of other tools). `Codable` as the JSON it holds.
public protocol KubernetesObject: Sendable, Codable, Equatable {
    static var apiVersion: String { get }
    static var kind: String { get }
    /// The REST resource name (`pods`, `deployments`).
    static var plural: String { get }
    static var namespaced: Bool { get }

    var object: JSONValue { get set }
    init(object: JSONValue)
}

extension KubernetesObject {
    /// An empty object of this kind with the given name (and namespace, for namespaced kinds).
    public init(name: String, namespace: String? = nil) {
        var metadata: JSONValue = ["name": .string(name)]
        if let namespace { metadata["namespace"] = .string(namespace) }
        self.init(object: ["apiVersion": .string(Self.apiVersion), "kind": .string(Self.kind), "metadata": metadata])
    }

    public init(from decoder: any Decoder) throws {
        self.init(object: try JSONValue(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try object.encode(to: encoder)
    }

    /// `apps` for `apps/v1`, empty for core.
    public static var group: String {
        guard let slash = apiVersion.firstIndex(of: "/") else { return "" }
        return String(apiVersion[..<slash])
    }

    public static var version: String {
        guard let slash = apiVersion.firstIndex(of: "/") else { return apiVersion }
        return String(apiVersion[apiVersion.index(after: slash)...])
    }

    // MARK: Metadata

    public var name: String {
        get { object.name ?? "" }
        set { object.name = newValue }
    }

    public var namespace: String? {
        get { object.namespace }
        set { object.namespace = newValue }
    }

    public var uid: String? { object.uid }
    public var resourceVersion: String? { object.resourceVersion }
    public var generation: Int64? { object.generation }
    public var creationTimestamp: String? { object.creationTimestamp }
    public var deletionTimestamp: String? { object.deletionTimestamp }

    public var labels: [String: String] {
        get { object.labels }
        set { object.setMetadataField("labels", newValue.isEmpty ? nil : .object(newValue.mapValues(JSONValue.string))) }
    }

    public var annotations: [String: String] {
        get { object.annotations }
        set { object.setMetadataField("annotations", newValue.isEmpty ? nil : .object(newValue.mapValues(JSONValue.string))) }
    }

    public var finalizers: [String] {
        get { object.finalizers }
        set { object.finalizers = newValue }
    }

    public var ownerReferences: [OwnerReference] {
        get { object.ownerReferences }
        set { object.ownerReferences = newValue }
    }

    public var controllerRef: OwnerReference? { object.controllerRef }

    /// The object's conditions (`status.conditions`), typed.
    public var conditions: [Condition] { (object["status"]?["conditions"]?.arrayValue ?? []).map(Condition.init(json:)) }

    public func condition(_ type: String) -> Condition? { conditions.first { $0.type == type } }
}

/// A `status.conditions` entry.
public struct Condition: Sendable, Equatable {
    public var type: String
    public var status: String
    public var reason: String?
    public var message: String?
    public var lastTransitionTime: String?

    public init(json: JSONValue) {
        type = json["type"]?.stringValue ?? ""
        status = json["status"]?.stringValue ?? ""
        reason = json["reason"]?.stringValue
        message = json["message"]?.stringValue
        lastTransitionTime = json["lastTransitionTime"]?.stringValue
    }

    public var isTrue: Bool { status == "True" }
}

extension JSONValue {
    /// Reads an integer field, for typed accessors.
    func int(_ path: String...) -> Int64? { value(at: path)?.intValue }
    func string(_ path: String...) -> String? { value(at: path)?.stringValue }
}
