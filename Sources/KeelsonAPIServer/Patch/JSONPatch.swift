import KeelsonAPI

/// RFC 6902 JSON Patch (`application/json-patch+json`).
enum JSONPatch {
    static func apply(_ patch: JSONValue, to document: JSONValue) throws(PatchError) -> JSONValue {
        guard case .array(let operations) = patch else {
            throw .malformed("json patch must be an array of operations")
        }
        var doc = document
        for (index, operation) in operations.enumerated() {
            guard case .object(let op) = operation, let name = op["op"]?.stringValue else {
                throw .malformed("operation \(index) is not an object with an \"op\"")
            }
            guard let path = op["path"]?.stringValue else { throw .malformed("operation \(index) has no \"path\"") }
            let pointer = try parsePointer(path)
            switch name {
            case "add":
                guard let value = op["value"] else { throw .malformed("add operation does not contain a value") }
                try add(value, at: pointer, in: &doc)
            case "remove":
                _ = try remove(at: pointer, in: &doc)
            case "replace":
                guard let value = op["value"] else { throw .malformed("replace operation does not contain a value") }
                _ = try remove(at: pointer, in: &doc)
                try add(value, at: pointer, in: &doc)
            case "move":
                guard let from = op["from"]?.stringValue else { throw .malformed("move operation does not contain a from") }
                let value = try remove(at: try parsePointer(from), in: &doc)
                try add(value, at: pointer, in: &doc)
            case "copy":
                guard let from = op["from"]?.stringValue else { throw .malformed("copy operation does not contain a from") }
                let value = try get(try parsePointer(from), in: doc)
                try add(value, at: pointer, in: &doc)
            case "test":
                let actual = try get(pointer, in: doc)
                if actual != (op["value"] ?? .null) { throw .failed("testing value \(path) failed") }
            default:
                throw .malformed("unexpected operation \"\(name)\"")
            }
        }
        return doc
    }

    static func parsePointer(_ path: String) throws(PatchError) -> [String] {
        if path.isEmpty { return [] }
        guard path.hasPrefix("/") else { throw .malformed("JSON pointer \"\(path)\" must start with /") }
        return path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    private static func get(_ pointer: [String], in doc: JSONValue) throws(PatchError) -> JSONValue {
        var current = doc
        for token in pointer {
            switch current {
            case .object(let o):
                guard let next = o[token] else { throw .failed("doc is missing path: /\(pointer.joined(separator: "/"))") }
                current = next
            case .array(let a):
                guard let i = Int(token), a.indices.contains(i) else { throw .failed("array index \(token) out of bounds") }
                current = a[i]
            default:
                throw .failed("doc is missing path: /\(pointer.joined(separator: "/"))")
            }
        }
        return current
    }

    private static func add(_ value: JSONValue, at pointer: [String], in doc: inout JSONValue) throws(PatchError) {
        guard let last = pointer.last else {
            doc = value
            return
        }
        try mutate(Array(pointer.dropLast()), in: &doc) { (parent: inout JSONValue) throws(PatchError) in
            switch parent {
            case .object(var o):
                o[last] = value
                parent = .object(o)
            case .array(var a):
                if last == "-" {
                    a.append(value)
                } else {
                    guard let i = Int(last), i >= 0, i <= a.count else { throw .failed("array index \(last) out of bounds") }
                    a.insert(value, at: i)
                }
                parent = .array(a)
            default:
                throw .failed("cannot add to a value that is not an object or array at /\(pointer.joined(separator: "/"))")
            }
        }
    }

    private static func remove(at pointer: [String], in doc: inout JSONValue) throws(PatchError) -> JSONValue {
        guard let last = pointer.last else { throw .failed("cannot remove the whole document") }
        var removed: JSONValue = .null
        try mutate(Array(pointer.dropLast()), in: &doc) { (parent: inout JSONValue) throws(PatchError) in
            switch parent {
            case .object(var o):
                guard let value = o.removeValue(forKey: last) else {
                    throw .failed("unable to remove nonexistent key: \(last): missing value")
                }
                removed = value
                parent = .object(o)
            case .array(var a):
                guard let i = Int(last), a.indices.contains(i) else { throw .failed("array index \(last) out of bounds") }
                removed = a.remove(at: i)
                parent = .array(a)
            default:
                throw .failed("doc is missing path: /\(pointer.joined(separator: "/"))")
            }
        }
        return removed
    }

    private static func mutate(_ pointer: [String], in doc: inout JSONValue,
        _ body: (inout JSONValue) throws(PatchError) -> Void) throws(PatchError)
    {
        guard let first = pointer.first else {
            try body(&doc)
            return
        }
        let rest = Array(pointer.dropFirst())
        switch doc {
        case .object(var o):
            guard var child = o[first] else { throw .failed("doc is missing path: /\(pointer.joined(separator: "/"))") }
            o[first] = nil
            try mutate(rest, in: &child, body)
            o[first] = child
            doc = .object(o)
        case .array(var a):
            guard let i = Int(first), a.indices.contains(i) else { throw .failed("array index \(first) out of bounds") }
            var child = a[i]
            try mutate(rest, in: &child, body)
            a[i] = child
            doc = .array(a)
        default:
            throw .failed("doc is missing path: /\(pointer.joined(separator: "/"))")
        }
    }
}
