import Synchronization

/// Lookup of registry rows by the names a request can use: the built-in kinds, fixed at start, and the kinds of
/// CustomResourceDefinitions, which come and go while the server runs.
final class ResourceRegistry: Sendable {
    private struct Table: Sendable {
        var definitions: [ResourceDefinition]
        var byPath: [String: Int]

        init(_ definitions: [ResourceDefinition]) {
            self.definitions = definitions
            var index: [String: Int] = [:]
            for (i, d) in definitions.enumerated() where index["\(d.group)/\(d.version)/\(d.plural)"] == nil {
                index["\(d.group)/\(d.version)/\(d.plural)"] = i
            }
            byPath = index
        }
    }

    private let builtins: Table
    private let custom = Mutex(Table([]))
    private let customChanges = Atomic<Int>(0)

    init(_ definitions: [ResourceDefinition]) {
        builtins = Table(definitions)
    }

    /// Replaces the custom kinds. A custom row never hides a built-in one with the same path.
    func setCustom(_ definitions: [ResourceDefinition]) {
        let table = Table(definitions)
        custom.withLock { $0 = table }
        customChanges.add(1, ordering: .releasing)
    }

    /// Counts replacements of the custom kinds, so what is derived from the whole registry can be cached.
    var generation: Int { customChanges.load(ordering: .acquiring) }

    var definitions: [ResourceDefinition] { builtins.definitions + custom.withLock { $0.definitions } }

    func lookup(group: String, version: String, resource: String) -> ResourceDefinition? {
        let path = "\(group)/\(version)/\(resource)"
        if let i = builtins.byPath[path] { return builtins.definitions[i] }
        return custom.withLock { table in table.byPath[path].map { table.definitions[$0] } }
    }

    /// Group versions served, core first, in a stable order (discovery lists them this way; a group's first
    /// version is its preferred one).
    var groupVersions: [(group: String, version: String)] {
        var seen = Set<String>()
        var out: [(String, String)] = []
        for d in definitions where seen.insert("\(d.group)/\(d.version)").inserted { out.append((d.group, d.version)) }
        return out
    }

    func resources(group: String, version: String) -> [ResourceDefinition] {
        definitions.filter { $0.group == group && $0.version == version }
    }
}
