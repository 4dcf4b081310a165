/// apps/v1, batch/v1, coordination.k8s.io/v1, discovery.k8s.io/v1 and policy/v1 kinds as typed, lossless values.

/// What Deployments, ReplicaSets, StatefulSets and DaemonSets share: a selector, a pod template, and the counts
/// their controllers report.
public protocol Workload: KubernetesObject {}

extension Workload {
    public var replicas: Int64 {
        get { object.int("spec", "replicas") ?? 1 }
        set { object.setValue(.integer(newValue), at: ["spec", "replicas"]) }
    }
    public var selector: JSONValue? { object["spec"]?["selector"] }
    public var template: JSONValue? {
        get { object["spec"]?["template"] }
        set { object.setValue(newValue, at: ["spec", "template"]) }
    }
    public var observedGeneration: Int64? { object.int("status", "observedGeneration") }
    public var readyReplicas: Int64 { object.int("status", "readyReplicas") ?? 0 }
    public var availableReplicas: Int64 { object.int("status", "availableReplicas") ?? 0 }
}

public enum AppsV1 {}

extension AppsV1 {
    public struct Deployment: Workload {
        public static let apiVersion = "apps/v1", kind = "Deployment", plural = "deployments", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var updatedReplicas: Int64 { object.int("status", "updatedReplicas") ?? 0 }
        public var paused: Bool { object["spec"]?["paused"]?.boolValue ?? false }
        public var revision: String? { annotations["deployment.kubernetes.io/revision"] }
    }

    public struct ReplicaSet: Workload {
        public static let apiVersion = "apps/v1", kind = "ReplicaSet", plural = "replicasets", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var statusReplicas: Int64 { object.int("status", "replicas") ?? 0 }
    }

    public struct StatefulSet: Workload {
        public static let apiVersion = "apps/v1", kind = "StatefulSet", plural = "statefulsets", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var serviceName: String? { object.string("spec", "serviceName") }
        public var currentRevision: String? { object.string("status", "currentRevision") }
        public var updateRevision: String? { object.string("status", "updateRevision") }
    }

    public struct DaemonSet: Workload {
        public static let apiVersion = "apps/v1", kind = "DaemonSet", plural = "daemonsets", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var desiredNumberScheduled: Int64 { object.int("status", "desiredNumberScheduled") ?? 0 }
        public var numberReady: Int64 { object.int("status", "numberReady") ?? 0 }
    }

    public struct ControllerRevision: KubernetesObject {
        public static let apiVersion = "apps/v1", kind = "ControllerRevision", plural = "controllerrevisions", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var revision: Int64 { object["revision"]?.intValue ?? 0 }
    }
}

public enum BatchV1 {}

extension BatchV1 {
    public struct Job: KubernetesObject {
        public static let apiVersion = "batch/v1", kind = "Job", plural = "jobs", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var completions: Int64? { object.int("spec", "completions") }
        public var parallelism: Int64 { object.int("spec", "parallelism") ?? 1 }
        public var succeeded: Int64 { object.int("status", "succeeded") ?? 0 }
        public var failed: Int64 { object.int("status", "failed") ?? 0 }
        public var isComplete: Bool { condition("Complete")?.isTrue ?? false }
        public var isFailed: Bool { condition("Failed")?.isTrue ?? false }
    }

    public struct CronJob: KubernetesObject {
        public static let apiVersion = "batch/v1", kind = "CronJob", plural = "cronjobs", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var schedule: String { object.string("spec", "schedule") ?? "" }
        public var suspend: Bool { object["spec"]?["suspend"]?.boolValue ?? false }
        public var lastScheduleTime: String? { object.string("status", "lastScheduleTime") }
    }
}

public enum CoordinationV1 {}

extension CoordinationV1 {
    public struct Lease: KubernetesObject {
        public static let apiVersion = "coordination.k8s.io/v1", kind = "Lease", plural = "leases", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var holderIdentity: String? { object.string("spec", "holderIdentity") }
        public var renewTime: String? { object.string("spec", "renewTime") }
        public var leaseDurationSeconds: Int64? { object.int("spec", "leaseDurationSeconds") }
    }
}

public enum DiscoveryV1 {}

extension DiscoveryV1 {
    public struct EndpointSlice: KubernetesObject {
        public static let apiVersion = "discovery.k8s.io/v1", kind = "EndpointSlice", plural = "endpointslices", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var serviceName: String? { labels["kubernetes.io/service-name"] }
        public var endpoints: [JSONValue] { object["endpoints"]?.arrayValue ?? [] }
        /// Addresses of endpoints that are ready.
        public var readyAddresses: [String] {
            endpoints.filter { $0["conditions"]?["ready"]?.boolValue != false }.flatMap { ($0["addresses"]?.arrayValue ?? []).compactMap(\.stringValue) }
        }
    }
}

public enum PolicyV1 {}

extension PolicyV1 {
    public struct PodDisruptionBudget: KubernetesObject {
        public static let apiVersion = "policy/v1", kind = "PodDisruptionBudget", plural = "poddisruptionbudgets", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var disruptionsAllowed: Int64 { object.int("status", "disruptionsAllowed") ?? 0 }
    }
}
