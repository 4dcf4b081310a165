import KeelsonAPI

/// One step into an object: a field of a map, an item of an associative list by its keys, an item of a set by
/// its value, or (for lists with no keys) an index. Keys and values are held as compact JSON with sorted keys,
/// the spelling `FieldsV1` uses, so equal items compare equal whatever order their fields came in.
enum PathElement: Hashable, Comparable, Sendable {
    case field(String)
    case key(String)
    case value(String)
    case index(Int)

    /// The `FieldsV1` key: `f:name`, `k:{"name":"c"}`, `v:"x"`, `i:0`.
    var fieldsV1Key: String {
        switch self {
        case .field(let name): "f:" + name
        case .key(let json): "k:" + json
        case .value(let json): "v:" + json
        case .index(let index): "i:\(index)"
        }
    }

    init?(fieldsV1Key key: String) {
        guard key.count > 2, key.utf8.dropFirst().first == UInt8(ascii: ":") else { return nil }
        let body = String(key.dropFirst(2))
        switch key.utf8.first {
        case UInt8(ascii: "f"): self = .field(body)
        case UInt8(ascii: "k"): self = .key(body)
        case UInt8(ascii: "v"): self = .value(body)
        case UInt8(ascii: "i"):
            guard let index = Int(body) else { return nil }
            self = .index(index)
        default: return nil
        }
    }

    /// As structured-merge-diff prints a path in conflict messages: `.name`, `[name="c"]`, `[="x"]`, `[0]`.
    var pathText: String {
        switch self {
        case .field(let name): return "." + name
        case .key(let json):
            guard let fields = (try? JSONParser.parse(Array(json.utf8)))?.objectValue else { return "[" + json + "]" }
            return "[" + fields.keys.sorted().map { "\($0)=\(fields[$0]!.encodedString())" }.joined(separator: ",") + "]"
        case .value(let json): return "[=" + json + "]"
        case .index(let index): return "[\(index)]"
        }
    }

    static func < (a: PathElement, b: PathElement) -> Bool { a.fieldsV1Key < b.fieldsV1Key }
}

/// A set of field paths in an object, held as a trie: what a field manager owns. A node is a *member* when the
/// path ending there is in the set itself (a leaf value, a list item, or a map added whole); its children are
/// the paths that go deeper.
struct FieldSet: Equatable, Sendable {
    var members: Set<PathElement> = []
    var children: [PathElement: FieldSet] = [:]

    var isEmpty: Bool { members.isEmpty && children.isEmpty }

    mutating func insert(_ path: [PathElement]) {
        guard let first = path.first else { return }
        if path.count == 1 {
            members.insert(first)
        } else {
            children[first, default: FieldSet()].insert(Array(path.dropFirst()))
        }
    }

    func contains(_ path: [PathElement]) -> Bool {
        guard let first = path.first else { return false }
        if path.count == 1 { return members.contains(first) }
        return children[first]?.contains(Array(path.dropFirst())) ?? false
    }

    func union(_ other: FieldSet) -> FieldSet {
        var result = self
        result.members.formUnion(other.members)
        for (element, child) in other.children {
            result.children[element] = result.children[element].map { $0.union(child) } ?? child
        }
        return result
    }

    func subtracting(_ other: FieldSet) -> FieldSet {
        guard !other.isEmpty else { return self }
        var result = FieldSet(members: members.subtracting(other.members))
        for (element, child) in children {
            let remaining = other.children[element].map { child.subtracting($0) } ?? child
            if !remaining.isEmpty { result.children[element] = remaining }
        }
        return result
    }

    func intersection(_ other: FieldSet) -> FieldSet {
        var result = FieldSet(members: members.intersection(other.members))
        for (element, child) in children {
            guard let theirs = other.children[element] else { continue }
            let common = child.intersection(theirs)
            if !common.isEmpty { result.children[element] = common }
        }
        return result
    }

    /// Every member path, in a stable order (sorted by their `FieldsV1` keys, depth first).
    var paths: [[PathElement]] {
        var result: [[PathElement]] = []
        for element in Set(members).union(children.keys).sorted() {
            if members.contains(element) { result.append([element]) }
            for path in children[element]?.paths ?? [] { result.append([element] + path) }
        }
        return result
    }

    static func pathText(_ path: [PathElement]) -> String { path.map(\.pathText).joined() }

    // MARK: FieldsV1

    /// The `fieldsV1` document: each element maps to its children, `{}` for a leaf, and `".": {}` marks a node
    /// that is a member and has children too.
    var fieldsV1: JSONValue {
        var object: [String: JSONValue] = [:]
        for element in members where children[element] == nil { object[element.fieldsV1Key] = .object([:]) }
        for (element, child) in children {
            var encoded = child.fieldsV1.objectValue ?? [:]
            if members.contains(element) { encoded["."] = .object([:]) }
            object[element.fieldsV1Key] = .object(encoded)
        }
        return .object(object)
    }

    init(members: Set<PathElement> = [], children: [PathElement: FieldSet] = [:]) {
        self.members = members
        self.children = children
    }

    /// Reads a `fieldsV1` document; nil when it is not one.
    init?(fieldsV1 value: JSONValue) {
        guard let object = value.objectValue else { return nil }
        for (key, childValue) in object where key != "." {
            guard let element = PathElement(fieldsV1Key: key), let childObject = childValue.objectValue else { return nil }
            if childObject.isEmpty {
                members.insert(element)
                continue
            }
            guard let child = FieldSet(fieldsV1: childValue) else { return nil }
            if childObject["."] != nil { members.insert(element) }
            if !child.isEmpty { children[element] = child }
        }
    }
}
