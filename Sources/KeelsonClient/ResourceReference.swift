import KeelsonAPI

/// A resource of the API, as the REST paths name it: group, version, plural, and whether it lives in namespaces.
public struct ResourceReference: Hashable, Sendable, CustomStringConvertible {
    public var group: String
    public var version: String
    public var resource: String
    public var namespaced: Bool

    public init(group: String, version: String, resource: String, namespaced: Bool) {
        self.group = group
        self.version = version
        self.resource = resource
        self.namespaced = namespaced
    }

    public var description: String { group.isEmpty ? resource : "\(resource).\(group)" }

    /// `/api/v1/namespaces/NS/pods/NAME/status` and its shorter forms.
    public func path(namespace: String? = nil, name: String? = nil, subresource: String? = nil) -> String {
        var path = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace { path += "/namespaces/\(namespace)" }
        path += "/\(resource)"
        if let name { path += "/\(name)" }
        if let subresource { path += "/\(subresource)" }
        return path
    }
}

extension ResourceReference {
    public static let namespaces = ResourceReference(group: "", version: "v1", resource: "namespaces", namespaced: false)
    public static let serviceAccounts = ResourceReference(group: "", version: "v1", resource: "serviceaccounts", namespaced: true)
    public static let pods = ResourceReference(group: "", version: "v1", resource: "pods", namespaced: true)
    public static let configMaps = ResourceReference(group: "", version: "v1", resource: "configmaps", namespaced: true)
    public static let secrets = ResourceReference(group: "", version: "v1", resource: "secrets", namespaced: true)
    public static let events = ResourceReference(group: "", version: "v1", resource: "events", namespaced: true)
    public static let services = ResourceReference(group: "", version: "v1", resource: "services", namespaced: true)
    public static let endpoints = ResourceReference(group: "", version: "v1", resource: "endpoints", namespaced: true)
    public static let nodes = ResourceReference(group: "", version: "v1", resource: "nodes", namespaced: false)
    public static let replicaSets = ResourceReference(group: "apps", version: "v1", resource: "replicasets", namespaced: true)
    public static let deployments = ResourceReference(group: "apps", version: "v1", resource: "deployments", namespaced: true)
    public static let statefulSets = ResourceReference(group: "apps", version: "v1", resource: "statefulsets", namespaced: true)
    public static let daemonSets = ResourceReference(group: "apps", version: "v1", resource: "daemonsets", namespaced: true)
    public static let controllerRevisions = ResourceReference(group: "apps", version: "v1", resource: "controllerrevisions", namespaced: true)
    public static let jobs = ResourceReference(group: "batch", version: "v1", resource: "jobs", namespaced: true)
    public static let cronJobs = ResourceReference(group: "batch", version: "v1", resource: "cronjobs", namespaced: true)
    public static let endpointSlices = ResourceReference(group: "discovery.k8s.io", version: "v1", resource: "endpointslices", namespaced: true)
    public static let persistentVolumeClaims = ResourceReference(group: "", version: "v1", resource: "persistentvolumeclaims", namespaced: true)
    public static let podDisruptionBudgets = ResourceReference(group: "policy", version: "v1", resource: "poddisruptionbudgets", namespaced: true)
    public static let persistentVolumes = ResourceReference(group: "", version: "v1", resource: "persistentvolumes", namespaced: false)
    public static let storageClasses = ResourceReference(group: "storage.k8s.io", version: "v1", resource: "storageclasses", namespaced: false)
    public static let resourceQuotas = ResourceReference(group: "", version: "v1", resource: "resourcequotas", namespaced: true)
    public static let certificateSigningRequests = ResourceReference(group: "certificates.k8s.io", version: "v1",
        resource: "certificatesigningrequests", namespaced: false)
    public static let clusterRoles = ResourceReference(group: "rbac.authorization.k8s.io", version: "v1", resource: "clusterroles",
        namespaced: false)
    public static let leases = ResourceReference(group: "coordination.k8s.io", version: "v1", resource: "leases", namespaced: true)
}
