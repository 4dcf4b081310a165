import KeelsonAPI

/// One resource the server serves, as its discovery documents list it.
public struct DiscoveredResource: Sendable, Hashable {
    public var reference: ResourceReference
    public var kind: String
    public var verbs: Set<String>

    public init(reference: ResourceReference, kind: String, verbs: Set<String>) {
        self.reference = reference
        self.kind = kind
        self.verbs = verbs
    }

    public var group: String { reference.group }
}

extension KubernetesClient {
    /// Every top-level resource of every group's preferred version, from `/api` and `/apis` (subresources left out).
    public func discoverResources() async throws -> [DiscoveredResource] {
        var groupVersions: [(String, String)] = [("", "v1")]
        let groups = try await raw(.GET, "/apis")
        for group in groups["groups"]?.arrayValue ?? [] {
            guard let name = group["name"]?.stringValue else { continue }
            let version = group["preferredVersion"]?["version"]?.stringValue
                ?? group["versions"]?.arrayValue?.first?["version"]?.stringValue
            if let version { groupVersions.append((name, version)) }
        }
        var resources: [DiscoveredResource] = []
        for (group, version) in groupVersions {
            let list = try await raw(.GET, group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)")
            for entry in list["resources"]?.arrayValue ?? [] {
                guard let name = entry["name"]?.stringValue, !name.contains("/"), let kind = entry["kind"]?.stringValue else { continue }
                let reference = ResourceReference(group: group, version: version, resource: name,
                    namespaced: entry["namespaced"]?.boolValue ?? false)
                resources.append(DiscoveredResource(reference: reference, kind: kind,
                    verbs: Set((entry["verbs"]?.arrayValue ?? []).compactMap(\.stringValue))))
            }
        }
        return resources
    }
}
