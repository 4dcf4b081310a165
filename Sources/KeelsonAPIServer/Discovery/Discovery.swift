import KeelsonAPI

/// API discovery documents, legacy and aggregated, generated from the registry.
struct Discovery: Sendable {
    let registry: ResourceRegistry
    let serverAddress: String

    /// The version this server reports; kubectl warns when its own minor version is more than one away.
    static let version: JSONValue = [
        "major": "1", "minor": "32", "gitVersion": "v1.32.0+keelson.0.1.0", "gitCommit": "", "gitTreeState": "clean",
        "buildDate": "2026-11-28T00:00:00Z", "goVersion": "swift6.3", "compiler": "swift", "platform": "linux/amd64",
    ]

    private static let subresourceVerbs: JSONValue = ["get", "patch", "update"]

    func apiVersions() -> JSONValue {
        ["kind": "APIVersions", "versions": ["v1"],
         "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string(serverAddress)]]]
    }

    private var groups: [String] {
        var seen = Set<String>()
        return registry.groupVersions.map(\.group).filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    private func versions(of group: String) -> [String] {
        registry.groupVersions.filter { $0.group == group }.map(\.version)
    }

    func apiGroupList() -> JSONValue {
        let items: [JSONValue] = groups.map { group in
            let versions = versions(of: group).map { v -> JSONValue in ["groupVersion": .string("\(group)/\(v)"), "version": .string(v)] }
            return ["name": .string(group), "versions": .array(versions), "preferredVersion": versions[0]]
        }
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(items)]
    }

    func apiGroup(_ group: String) -> JSONValue? {
        let versions = versions(of: group).map { v -> JSONValue in ["groupVersion": .string("\(group)/\(v)"), "version": .string(v)] }
        guard !versions.isEmpty else { return nil }
        return ["kind": "APIGroup", "apiVersion": "v1", "name": .string(group), "versions": .array(versions), "preferredVersion": versions[0]]
    }

    func resourceList(group: String, version: String) -> JSONValue? {
        let definitions = registry.resources(group: group, version: version)
        guard !definitions.isEmpty else { return nil }
        var resources: [JSONValue] = []
        for d in definitions {
            var entry: [String: JSONValue] = [
                "name": .string(d.plural), "singularName": .string(d.singular), "namespaced": .bool(d.namespaced),
                "kind": .string(d.kind), "verbs": .array(d.verbs.map(JSONValue.string)),
            ]
            if !d.shortNames.isEmpty { entry["shortNames"] = .array(d.shortNames.map(JSONValue.string)) }
            if !d.categories.isEmpty { entry["categories"] = .array(d.categories.map(JSONValue.string)) }
            resources.append(.object(entry))
            if d.hasStatus {
                resources.append(["name": .string("\(d.plural)/status"), "singularName": "", "namespaced": .bool(d.namespaced),
                                  "kind": .string(d.kind), "verbs": Self.subresourceVerbs])
            }
            if d.scale != nil {
                resources.append(["name": .string("\(d.plural)/scale"), "singularName": "", "namespaced": .bool(d.namespaced),
                                  "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": Self.subresourceVerbs])
            }
            for sub in d.extraSubresources {
                var s: [String: JSONValue] = ["name": .string("\(d.plural)/\(sub.name)"), "singularName": "",
                    "namespaced": .bool(d.namespaced), "kind": .string(sub.kind), "verbs": .array(sub.verbs.map(JSONValue.string))]
                if sub.group != d.group || sub.version != d.version {
                    s["group"] = .string(sub.group)
                    s["version"] = .string(sub.version)
                }
                resources.append(.object(s))
            }
        }
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"),
                "resources": .array(resources)]
    }

    /// `apidiscovery.k8s.io` `APIGroupDiscoveryList` for `/api` (core) or `/apis` (named groups).
    func aggregated(core: Bool, version: String) -> JSONValue {
        let selected = core ? [""] : groups
        let items: [JSONValue] = selected.map { group in
            let versionEntries: [JSONValue] = versions(of: group).map { v in
                let resources: [JSONValue] = registry.resources(group: group, version: v).map { d in
                    var subresources: [JSONValue] = []
                    let selfKind: JSONValue = ["group": .string(d.group), "version": .string(d.version), "kind": .string(d.kind)]
                    if d.hasStatus {
                        subresources.append(["subresource": "status", "responseKind": selfKind, "verbs": Self.subresourceVerbs])
                    }
                    if d.scale != nil {
                        subresources.append(["subresource": "scale", "responseKind": ["group": "autoscaling", "version": "v1", "kind": "Scale"],
                                             "verbs": Self.subresourceVerbs])
                    }
                    for sub in d.extraSubresources {
                        subresources.append(["subresource": .string(sub.name),
                                             "responseKind": ["group": .string(sub.group), "version": .string(sub.version), "kind": .string(sub.kind)],
                                             "verbs": .array(sub.verbs.map(JSONValue.string))])
                    }
                    var entry: [String: JSONValue] = [
                        "resource": .string(d.plural), "responseKind": selfKind,
                        "scope": .string(d.namespaced ? "Namespaced" : "Cluster"), "singularResource": .string(d.singular),
                        "verbs": .array(d.verbs.map(JSONValue.string)),
                    ]
                    if !d.shortNames.isEmpty { entry["shortNames"] = .array(d.shortNames.map(JSONValue.string)) }
                    if !d.categories.isEmpty { entry["categories"] = .array(d.categories.map(JSONValue.string)) }
                    if !subresources.isEmpty { entry["subresources"] = .array(subresources) }
                    return .object(entry)
                }
                return ["version": .string(v), "resources": .array(resources), "freshness": "Current"]
            }
            var metadata: [String: JSONValue] = ["creationTimestamp": .null]
            if !group.isEmpty { metadata["name"] = .string(group) }
            return ["metadata": .object(metadata), "versions": .array(versionEntries)]
        }
        return ["kind": "APIGroupDiscoveryList", "apiVersion": .string("apidiscovery.k8s.io/\(version)"),
                "metadata": .object([:]), "items": .array(items)]
    }
}
