import KeelsonAPI

/// A named index of an informer's cache, as client-go's `Indexers`: a function from an object to the values it is
/// found under (none, one or several).
public struct InformerIndex: Sendable {
    public let name: String
    let values: @Sendable (JSONValue) -> [String]

    public init(name: String, values: @escaping @Sendable (JSONValue) -> [String]) {
        self.name = name
        self.values = values
    }

    public static let namespace = InformerIndex(name: "namespace") { object in
        object.namespace.map { [$0] } ?? []
    }

    /// Every owner's uid, so dependents of one owner are found without scanning (the garbage collector's and every
    /// workload controller's question).
    public static let ownerUID = InformerIndex(name: "ownerUID") { object in
        (object["metadata"]?["ownerReferences"]?.arrayValue ?? []).compactMap { $0["uid"]?.stringValue }
    }

    /// A pod's `spec.nodeName` (unbound pods are not indexed).
    public static let nodeName = InformerIndex(name: "nodeName") { object in
        guard let node = object["spec"]?["nodeName"]?.stringValue, !node.isEmpty else { return [] }
        return [node]
    }
}

/// The cache's index tables: index name → value → keys of the objects found under it.
struct IndexTables {
    private var indices: [String: InformerIndex] = [:]
    private var tables: [String: [String: Set<String>]] = [:]

    mutating func add(_ index: InformerIndex, existing objects: [String: JSONValue]) {
        guard indices[index.name] == nil else { return }  // shared informers get the same index from several users
        indices[index.name] = index
        tables[index.name] = [:]
        for (key, object) in objects { insert(key, object, into: index) }
    }

    func keys(index name: String, value: String) -> Set<String>? {
        guard let table = tables[name] else { return nil }
        return table[value] ?? []
    }

    mutating func update(key: String, old: JSONValue?, new: JSONValue?) {
        for index in indices.values {
            let oldValues = old.map(index.values) ?? []
            let newValues = new.map(index.values) ?? []
            if oldValues == newValues { continue }
            for value in oldValues {
                tables[index.name]?[value]?.remove(key)
                if tables[index.name]?[value]?.isEmpty == true { tables[index.name]?[value] = nil }
            }
            if let new { insert(key, new, into: index) }
        }
    }

    mutating func rebuild(from objects: [String: JSONValue]) {
        for index in indices.values {
            tables[index.name] = [:]
            for (key, object) in objects { insert(key, object, into: index) }
        }
    }

    private mutating func insert(_ key: String, _ object: JSONValue, into index: InformerIndex) {
        for value in index.values(object) { tables[index.name, default: [:]][value, default: []].insert(key) }
    }
}
