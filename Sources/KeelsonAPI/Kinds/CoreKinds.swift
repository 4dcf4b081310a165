/// core/v1 kinds as typed, lossless values (see `KubernetesObject`).
/// The core/v1 group, named as in Go (`corev1.Pod`).
public enum CoreV1 {}

extension CoreV1 {
    public struct Pod: KubernetesObject {
        public static let apiVersion = "v1", kind = "Pod", plural = "pods", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var nodeName: String? {
            get { object.string("spec", "nodeName").flatMap { $0.isEmpty ? nil : $0 } }
            set { object.setValue(newValue.map(JSONValue.string), at: ["spec", "nodeName"]) }
        }
        public var schedulerName: String { object.string("spec", "schedulerName") ?? "default-scheduler" }
        public var phase: String { object.string("status", "phase") ?? "Pending" }
        public var podIP: String? { object.string("status", "podIP") }
        public var isReady: Bool { condition("Ready")?.isTrue ?? false }
        public var containers: [Container] { (object["spec"]?["containers"]?.arrayValue ?? []).map(Container.init(json:)) }
        public var initContainers: [Container] { (object["spec"]?["initContainers"]?.arrayValue ?? []).map(Container.init(json:)) }
        /// What the pod asks of a node, counted as the scheduler counts it.
        public var requests: [String: Quantity] { PodResources.total(object) }
        public var tolerations: [JSONValue] { Taints.tolerations(of: object) }
    }

    /// A container of a pod spec.
    public struct Container: Sendable, Equatable {
        public var json: JSONValue
        public init(json: JSONValue) { self.json = json }

        public var name: String { json["name"]?.stringValue ?? "" }
        public var image: String { json["image"]?.stringValue ?? "" }
        public var requests: [String: Quantity] { (json["resources"]?["requests"]?.objectValue ?? [:]).compactMapValues { Quantity(json: $0) } }
        public var limits: [String: Quantity] { (json["resources"]?["limits"]?.objectValue ?? [:]).compactMapValues { Quantity(json: $0) } }
    }

    public struct Node: KubernetesObject {
        public static let apiVersion = "v1", kind = "Node", plural = "nodes", namespaced = false
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var allocatable: [String: Quantity] { (object["status"]?["allocatable"]?.objectValue ?? [:]).compactMapValues { Quantity(json: $0) } }
        public var capacity: [String: Quantity] { (object["status"]?["capacity"]?.objectValue ?? [:]).compactMapValues { Quantity(json: $0) } }
        public var taints: [JSONValue] { Taints.taints(of: object) }
        public var unschedulable: Bool {
            get { object["spec"]?["unschedulable"]?.boolValue ?? false }
            set { object.setValue(newValue ? true : nil, at: ["spec", "unschedulable"]) }
        }
        public var podCIDR: String? { object.string("spec", "podCIDR") }
        public var isReady: Bool { condition("Ready")?.isTrue ?? false }
    }

    public struct Service: KubernetesObject {
        public static let apiVersion = "v1", kind = "Service", plural = "services", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var type: String { object.string("spec", "type") ?? "ClusterIP" }
        public var clusterIP: String? { object.string("spec", "clusterIP") }
        public var selector: [String: String] { (object["spec"]?["selector"]?.objectValue ?? [:]).compactMapValues(\.stringValue) }
        public var ports: [JSONValue] { object["spec"]?["ports"]?.arrayValue ?? [] }
    }

    public struct Namespace: KubernetesObject {
        public static let apiVersion = "v1", kind = "Namespace", plural = "namespaces", namespaced = false
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var phase: String { object.string("status", "phase") ?? "Active" }
    }

    public struct ConfigMap: KubernetesObject {
        public static let apiVersion = "v1", kind = "ConfigMap", plural = "configmaps", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var data: [String: String] {
            get { (object["data"]?.objectValue ?? [:]).compactMapValues(\.stringValue) }
            set { object["data"] = newValue.isEmpty ? nil : .object(newValue.mapValues(JSONValue.string)) }
        }
    }

    public struct Secret: KubernetesObject {
        public static let apiVersion = "v1", kind = "Secret", plural = "secrets", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var type: String { object["type"]?.stringValue ?? "Opaque" }
        /// The base64 values as stored.
        public var data: [String: String] { (object["data"]?.objectValue ?? [:]).compactMapValues(\.stringValue) }
    }

    public struct ServiceAccount: KubernetesObject {
        public static let apiVersion = "v1", kind = "ServiceAccount", plural = "serviceaccounts", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }
    }

    public struct Endpoints: KubernetesObject {
        public static let apiVersion = "v1", kind = "Endpoints", plural = "endpoints", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var readyAddresses: [String] {
            (object["subsets"]?.arrayValue ?? []).flatMap { ($0["addresses"]?.arrayValue ?? []).compactMap { $0["ip"]?.stringValue } }
        }
    }

    public struct PersistentVolumeClaim: KubernetesObject {
        public static let apiVersion = "v1", kind = "PersistentVolumeClaim", plural = "persistentvolumeclaims", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var storageRequest: Quantity? { Quantity(json: object["spec"]?["resources"]?["requests"]?["storage"]) }
    }

    public struct Event: KubernetesObject {
        public static let apiVersion = "v1", kind = "Event", plural = "events", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var reason: String { object["reason"]?.stringValue ?? "" }
        public var message: String { object["message"]?.stringValue ?? "" }
        public var type: String { object["type"]?.stringValue ?? "Normal" }
        public var count: Int64 { object["count"]?.intValue ?? 1 }
        public var involvedObjectName: String { object.string("involvedObject", "name") ?? "" }
    }

    public struct ResourceQuota: KubernetesObject {
        public static let apiVersion = "v1", kind = "ResourceQuota", plural = "resourcequotas", namespaced = true
        public var object: JSONValue
        public init(object: JSONValue) { self.object = object }

        public var hard: [String: Quantity] { (object["spec"]?["hard"]?.objectValue ?? [:]).compactMapValues { Quantity(json: $0) } }
        public var used: [String: Quantity] { (object["status"]?["used"]?.objectValue ?? [:]).compactMapValues { Quantity(json: $0) } }
    }
}
