import Foundation
import KeelsonAPI
import Yams

/// Reads a YAML (or JSON) configuration file into a `JSONValue`, for component configuration files such as the
/// scheduler's `--config`.
public enum YAMLFile {
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public static func load(_ path: String) throws -> JSONValue {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let root = try Yams.load(yaml: text) else { return .null }
        return try convert(root, at: path)
    }

    static func convert(_ value: Any, at path: String) throws -> JSONValue {
        switch value {
        case let b as Bool: return .bool(b)
        case let i as Int: return .integer(Int64(i))
        case let d as Double: return .double(d)
        case let s as String: return .string(s)
        case let a as [Any]: return .array(try a.map { try convert($0, at: path) })
        case let o as [String: Any]: return .object(try o.mapValues { try convert($0, at: path) })
        case is NSNull: return .null
        default: throw Invalid(description: "\(path): unsupported YAML value \(value)")
        }
    }
}
