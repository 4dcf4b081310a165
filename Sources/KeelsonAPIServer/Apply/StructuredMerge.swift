import KeelsonAPI

/// The walks server-side apply makes over objects, guided by a `MergeSchema`: the fields a configuration sets,
/// what changed between two versions of an object, the merge of a configuration into a live object, and the
/// removal of fields.
enum StructuredMerge {
    /// How a value at some place is treated, from the schema or, where it says nothing, from the value.
    private enum Shape {
        case granularObject
        case atomic
        case associativeList(keys: [String], defaults: [String: JSONValue])
        case set
    }

    private static func shape(_ value: JSONValue, _ schema: MergeSchema) -> Shape {
        switch (schema, value) {
        case (.atomicObject, _), (.atomicList, _): return .atomic
        case (.associativeList(let keys, let defaults, _), .array): return .associativeList(keys: keys, defaults: defaults)
        case (.set, .array): return .set
        case (_, .object): return .granularObject
        default: return .atomic
        }
    }

    private static func itemSchema(_ schema: MergeSchema) -> MergeSchema {
        if case .associativeList(_, _, let item) = schema { return item }
        return .deduced
    }

    /// The `k:` element of an associative list's item: its key fields (defaults filled in) as sorted JSON; nil
    /// when the item is not an object or lacks a key with no default.
    static func keyElement(_ item: JSONValue, keys: [String], defaults: [String: JSONValue]) -> PathElement? {
        guard case .object(let fields) = item else { return nil }
        // The common key, one plain string field (a container's name), is spelled without the encoder: every
        // walk over a list computes the key of each item.
        if keys.count == 1, case .string(let value)? = fields[keys[0]] ?? defaults[keys[0]], Self.isPlain(keys[0]), Self.isPlain(value) {
            return .key("{\"" + keys[0] + "\":\"" + value + "\"}")
        }
        var key: [String: JSONValue] = [:]
        for name in keys {
            guard let value = fields[name] ?? defaults[name], !value.isNull else { return nil }
            key[name] = value
        }
        return .key(JSONValue.object(key).encodedString())
    }

    /// Text JSON writes as it is between quotes: printable ASCII without quote or backslash (and without the
    /// characters Go's encoder escapes for HTML).
    private static func isPlain(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\")
            && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") && $0 != UInt8(ascii: "&") }
    }

    /// The items of an associative list by their key element, in order; nil when an item has no key or two share
    /// one (the list is then handled as atomic).
    private static func keyedItems(_ list: [JSONValue], keys: [String], defaults: [String: JSONValue]) -> [(PathElement, JSONValue)]? {
        var seen: Set<PathElement> = []
        var result: [(PathElement, JSONValue)] = []
        for item in list {
            guard let element = keyElement(item, keys: keys, defaults: defaults), seen.insert(element).inserted else { return nil }
            result.append((element, item))
        }
        return result
    }

    /// Duplicate keys in an applied list, which make the request contradict itself (a 422, not a conflict).
    static func duplicateKeys(in value: JSONValue, schema: MergeSchema, path: [PathElement] = []) -> [String] {
        switch (value, shape(value, schema)) {
        case (.object(let fields), .granularObject):
            return fields.keys.sorted().flatMap { duplicateKeys(in: fields[$0]!, schema: schema.field($0), path: path + [.field($0)]) }
        case (.array(let items), .associativeList(let keys, let defaults)):
            var seen: Set<PathElement> = [], duplicates: [String] = []
            for item in items {
                guard let element = keyElement(item, keys: keys, defaults: defaults) else {
                    duplicates.append(FieldSet.pathText(path) + ": an item has no value for the key fields " + keys.joined(separator: ", "))
                    continue
                }
                if !seen.insert(element).inserted { duplicates.append(FieldSet.pathText(path) + ": duplicate entries for key " + element.pathText) }
                duplicates += duplicateKeys(in: item, schema: itemSchema(schema), path: path + [element])
            }
            return duplicates
        default:
            return []
        }
    }

    // MARK: Field sets

    /// The fields a configuration sets: its leaves, atomic values and list items (not the objects on the way).
    static func fieldSet(of value: JSONValue, schema: MergeSchema) -> FieldSet {
        var set = FieldSet()
        guard case .object(let fields) = value else { return set }
        for (name, child) in fields { add(child, schema: schema.field(name), at: .field(name), to: &set) }
        return set
    }

    private static func add(_ value: JSONValue, schema: MergeSchema, at element: PathElement, to set: inout FieldSet) {
        switch (value, shape(value, schema)) {
        case (.object(let fields), .granularObject) where !fields.isEmpty:
            let child = fieldSet(of: value, schema: schema)
            if !child.isEmpty { set.children[element] = set.children[element].map { $0.union(child) } ?? child }
        case (.array(let items), .associativeList(let keys, let defaults)):
            guard let keyed = keyedItems(items, keys: keys, defaults: defaults) else {
                set.members.insert(element)
                return
            }
            var child = set.children[element] ?? FieldSet()
            for (key, item) in keyed {
                child.members.insert(key)
                let inner = fieldSet(of: item, schema: itemSchema(schema))
                if !inner.isEmpty { child.children[key] = inner }
            }
            if child.isEmpty { set.members.insert(element) } else { set.children[element] = child }
        case (.array(let items), .set):
            var child = set.children[element] ?? FieldSet()
            for item in items { child.members.insert(.value(item.encodedString())) }
            if child.isEmpty { set.members.insert(element) } else { set.children[element] = child }
        default:
            set.members.insert(element)
        }
    }

    // MARK: Comparison

    /// What a write did to an object: the fields it added or changed, and the fields it removed.
    struct Difference {
        var changed = FieldSet()
        var removed = FieldSet()
    }

    static func compare(_ old: JSONValue, _ new: JSONValue, schema: MergeSchema) -> Difference {
        var difference = Difference()
        compareObjects(old.objectValue ?? [:], new.objectValue ?? [:], schema: schema, into: &difference)
        return difference
    }

    private static func compareObjects(_ old: [String: JSONValue], _ new: [String: JSONValue], schema: MergeSchema, into difference: inout Difference) {
        for (name, newValue) in new {
            compareValues(old[name], newValue, schema: schema.field(name), at: .field(name), into: &difference)
        }
        for (name, oldValue) in old where new[name] == nil {
            removeAll(oldValue, schema: schema.field(name), at: .field(name), from: &difference.removed)
        }
    }

    /// Marks `element` and everything under it as removed.
    private static func removeAll(_ value: JSONValue, schema: MergeSchema, at element: PathElement, from removed: inout FieldSet) {
        removed.members.insert(element)
        add(value, schema: schema, at: element, to: &removed)
    }

    private static func compareValues(_ old: JSONValue?, _ new: JSONValue, schema: MergeSchema, at element: PathElement,
        into difference: inout Difference)
    {
        guard let old else {
            add(new, schema: schema, at: element, to: &difference.changed)
            return
        }
        if old == new { return }
        var inner = Difference()
        switch (old, new, shape(new, schema)) {
        case (.object(let o), .object(let n), .granularObject):
            compareObjects(o, n, schema: schema, into: &inner)
        case (.array(let o), .array(let n), .associativeList(let keys, let defaults)):
            guard let oldItems = keyedItems(o, keys: keys, defaults: defaults), let newItems = keyedItems(n, keys: keys, defaults: defaults) else {
                difference.changed.members.insert(element)
                return
            }
            let oldByKey = Dictionary(oldItems, uniquingKeysWith: { a, _ in a })
            var newKeys: Set<PathElement> = []
            for (key, item) in newItems {
                newKeys.insert(key)
                if let previous = oldByKey[key] {
                    guard previous != item else { continue }
                    var itemDifference = Difference()
                    compareObjects(previous.objectValue ?? [:], item.objectValue ?? [:], schema: itemSchema(schema), into: &itemDifference)
                    if !itemDifference.changed.isEmpty { inner.changed.children[key] = itemDifference.changed }
                    if !itemDifference.removed.isEmpty { inner.removed.children[key] = itemDifference.removed }
                } else {
                    inner.changed.members.insert(key)
                    let fields = fieldSet(of: item, schema: itemSchema(schema))
                    if !fields.isEmpty { inner.changed.children[key] = fields }
                }
            }
            for (key, item) in oldItems where !newKeys.contains(key) {
                inner.removed.members.insert(key)
                let fields = fieldSet(of: item, schema: itemSchema(schema))
                if !fields.isEmpty { inner.removed.children[key] = fields }
            }
        case (.array(let o), .array(let n), .set):
            let oldValues = Set(o.map { $0.encodedString() }), newValues = Set(n.map { $0.encodedString() })
            for value in newValues.subtracting(oldValues) { inner.changed.members.insert(.value(value)) }
            for value in oldValues.subtracting(newValues) { inner.removed.members.insert(.value(value)) }
        default:
            // A scalar or atomic value that changed, or a value that changed its type: the node itself changed,
            // and what was under the old one is gone.
            difference.changed.members.insert(element)
            if case .object = old, new.objectValue == nil {
                var removed = FieldSet()
                add(old, schema: schema, at: element, to: &removed)
                removed.members.remove(element)
                difference.removed = difference.removed.union(removed)
            }
            return
        }
        if !inner.changed.isEmpty { difference.changed.children[element] = inner.changed }
        if !inner.removed.isEmpty { difference.removed.children[element] = inner.removed }
    }

    // MARK: Merge and removal

    /// The live object with a configuration merged in: objects merge field by field, associative lists item by
    /// item (live order first, new items after in the configuration's order), sets by value; everything else
    /// takes the configuration's value.
    static func merge(_ live: JSONValue, _ config: JSONValue, schema: MergeSchema) -> JSONValue {
        switch (live, config, shape(config, schema)) {
        case (.object(var result), .object(let fields), .granularObject):
            for (name, value) in fields {
                result[name] = result[name].map { merge($0, value, schema: schema.field(name)) } ?? value
            }
            return .object(result)
        case (.array(let liveItems), .array(let configItems), .associativeList(let keys, let defaults)):
            guard let liveKeyed = keyedItems(liveItems, keys: keys, defaults: defaults),
                  let configKeyed = keyedItems(configItems, keys: keys, defaults: defaults)
            else { return config }
            let configByKey = Dictionary(configKeyed, uniquingKeysWith: { a, _ in a })
            let liveKeys = Set(liveKeyed.map(\.0))
            var result = liveKeyed.map { key, item in configByKey[key].map { merge(item, $0, schema: itemSchema(schema)) } ?? item }
            result += configKeyed.filter { !liveKeys.contains($0.0) }.map(\.1)
            return .array(result)
        case (.array(let liveItems), .array(let configItems), .set):
            var seen = Set(liveItems.map { $0.encodedString() })
            var result = liveItems
            for item in configItems where seen.insert(item.encodedString()).inserted { result.append(item) }
            return .array(result)
        default:
            return config
        }
    }

    /// The object without the member paths of `set` (fields deleted, list items taken out).
    static func removing(_ set: FieldSet, from value: JSONValue, schema: MergeSchema) -> JSONValue {
        guard !set.isEmpty else { return value }
        switch value {
        case .object(var fields):
            for element in set.members {
                if case .field(let name) = element { fields[name] = nil }
            }
            for (element, child) in set.children {
                guard case .field(let name) = element, let inner = fields[name] else { continue }
                fields[name] = removing(child, from: inner, schema: schema.field(name))
            }
            return .object(fields)
        case .array(let items):
            switch shape(value, schema) {
            case .associativeList(let keys, let defaults):
                var result: [JSONValue] = []
                for item in items {
                    let key = keyElement(item, keys: keys, defaults: defaults)
                    if let key, set.members.contains(key) { continue }
                    if let key, let child = set.children[key] {
                        result.append(removing(child, from: item, schema: itemSchema(schema)))
                    } else {
                        result.append(item)
                    }
                }
                return .array(result)
            case .set:
                return .array(items.filter { !set.members.contains(.value($0.encodedString())) })
            default:
                return value
            }
        default:
            return value
        }
    }
}
