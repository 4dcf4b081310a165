import KeelsonAPI

/// Strategic merge patch (`application/strategic-merge-patch+json`), the patch type kubectl's client-side apply,
/// `edit`, `label`, `annotate` and `rollout restart` send for built-in kinds.
///
/// Lists with a merge strategy merge element by element (by their merge key), other lists replace. Directives as
/// kubectl emits them: `$patch: replace|delete|merge` on maps and list elements, `$retainKeys`,
/// `$setElementOrder/FIELD` and `$deleteFromPrimitiveList/FIELD`.
enum StrategicMergePatch {
    static func apply(_ patch: JSONValue, to original: JSONValue, schema: PatchSchema) throws -> JSONValue {
        guard case .object(let patchMap) = patch else {
            throw PatchError.malformed("strategic merge patch must be a JSON object")
        }
        let originalMap = original.objectValue ?? [:]
        return .object(try mergeMap(originalMap, patchMap, schema: schema) ?? [:])
    }

    /// Returns nil when the map itself is deleted (`$patch: delete`).
    private static func mergeMap(_ original: [String: JSONValue], _ patch: [String: JSONValue], schema: PatchSchema)
        throws -> [String: JSONValue]?
    {
        var patch = patch
        if let directive = patch.removeValue(forKey: "$patch") {
            switch directive.stringValue {
            case "replace":
                return try stripDirectives(patch)
            case "delete":
                return nil
            case "merge", nil:
                break
            case let other?:
                throw PatchError.malformed("unknown patch type: \(other) in map")
            }
        }
        var retainKeys: [String]?
        if let retain = patch.removeValue(forKey: "$retainKeys") {
            guard case .array(let keys) = retain else { throw PatchError.malformed("$retainKeys must be a list of strings") }
            retainKeys = keys.compactMap(\.stringValue)
        }
        var result = original
        var orders: [String: [JSONValue]] = [:]
        for (key, value) in patch {
            if key.hasPrefix("$setElementOrder/") {
                guard case .array(let order) = value else { throw PatchError.malformed("\(key) must be a list") }
                orders[String(key.dropFirst("$setElementOrder/".count))] = order
                continue
            }
            if key.hasPrefix("$deleteFromPrimitiveList/") {
                let field = String(key.dropFirst("$deleteFromPrimitiveList/".count))
                guard case .array(let remove) = value else { throw PatchError.malformed("\(key) must be a list") }
                if case .array(let items)? = result[field] {
                    let kept = items.filter { !remove.contains($0) }
                    result[field] = .array(kept)
                }
                continue
            }
            if case .null = value {
                result[key] = nil
                continue
            }
            let childSchema = schema.child(key)
            switch (result[key], value) {
            case (.object(let o)?, .object(let p)):
                if case .mergeList = childSchema { throw PatchError.malformed("field \(key) must be a list") }
                result[key] = try mergeMap(o, p, schema: childSchema).map(JSONValue.object)
            case (_, .object(let p)):
                result[key] = try mergeMap([:], p, schema: childSchema).map(JSONValue.object)
            case (let existing, .array(let items)):
                if case .mergeList(let mergeKey, let element) = childSchema {
                    let base = existing?.arrayValue ?? []
                    result[key] = .array(try mergeList(base, items, mergeKey: mergeKey, element: element))
                } else {
                    result[key] = .array(try items.map { (item: JSONValue) throws -> JSONValue in
                        if case .object(let o) = item { return .object(try stripDirectives(o)) }
                        return item
                    })
                }
            default:
                result[key] = value
            }
        }
        for (field, order) in orders {
            guard case .array(let items)? = result[field] else { continue }
            var mergeKey: String?
            if case .mergeList(let key, _) = schema.child(field) { mergeKey = key }
            result[field] = .array(reorder(items, by: order, mergeKey: mergeKey))
        }
        if let retainKeys {
            let keep = Set(retainKeys)
            result = result.filter { keep.contains($0.key) }
        }
        return result
    }

    private static func mergeList(_ original: [JSONValue], _ patch: [JSONValue], mergeKey: String?, element: PatchSchema)
        throws -> [JSONValue]
    {
        guard let mergeKey else {
            // A list of scalars with the merge strategy (finalizers): union, in order.
            var result = original
            for item in patch where !result.contains(item) {
                if case .object(let o) = item, o["$patch"]?.stringValue == "replace" { return [] }
                result.append(item)
            }
            return result
        }
        var result = original
        for item in patch {
            guard case .object(var patchElement) = item else {
                throw PatchError.malformed("list elements with merge key \(mergeKey) must be maps")
            }
            let directive = patchElement["$patch"]?.stringValue
            if directive == "replace" {
                patchElement["$patch"] = nil
                return try patch.compactMap { (p: JSONValue) throws -> JSONValue? in
                    guard case .object(let o) = p, o["$patch"]?.stringValue != "replace" else { return nil }
                    return .object(try stripDirectives(o))
                }
            }
            guard let keyValue = patchElement[mergeKey] else {
                throw PatchError.malformed("map: \(JSONValue.object(patchElement)) does not contain declared merge key: \(mergeKey)")
            }
            let index = result.firstIndex { $0[mergeKey] == keyValue }
            if directive == "delete" {
                if let index { result.remove(at: index) }
                continue
            }
            if let index, case .object(let existing) = result[index] {
                if let merged = try mergeMap(existing, patchElement, schema: element) {
                    result[index] = .object(merged)
                } else {
                    result.remove(at: index)
                }
            } else if let merged = try mergeMap([:], patchElement, schema: element) {
                result.append(.object(merged))
            }
        }
        return result
    }

    /// Orders `items` as `order` lists them; items the order does not name keep their relative order at the end.
    private static func reorder(_ items: [JSONValue], by order: [JSONValue], mergeKey: String?) -> [JSONValue] {
        func identity(_ v: JSONValue) -> JSONValue {
            if let mergeKey, let key = v[mergeKey] { return key }
            return v
        }
        let position = Dictionary(order.enumerated().map { (identity($0.element), $0.offset) }, uniquingKeysWith: { a, _ in a })
        let indexed = items.enumerated().map { (offset: $0.offset, item: $0.element, rank: position[identity($0.element)]) }
        return indexed.sorted { a, b in
            switch (a.rank, b.rank) {
            case let (x?, y?): return x < y
            case (_?, nil): return true
            case (nil, _?): return false
            case (nil, nil): return a.offset < b.offset
            }
        }.map(\.item)
    }

    /// Removes directives from a subtree that replaces rather than merges.
    private static func stripDirectives(_ map: [String: JSONValue]) throws -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for (key, value) in map where !key.hasPrefix("$") {
            if case .object(let o) = value {
                out[key] = .object(try stripDirectives(o))
            } else if case .null = value {
                continue
            } else {
                out[key] = value
            }
        }
        return out
    }
}
