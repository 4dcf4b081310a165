import KeelsonAPI

/// Amounts of resources in milli-units. CPU, memory and pods are fields because every decision reads them for
/// every node; other resources (ephemeral storage, extended resources) are looked up by name.
public struct ResourceAmounts: Sendable, Equatable {
    public var cpu: Int64 = 0
    public var memory: Int64 = 0
    public var pods: Int64 = 0
    public var other: [String: Int64] = [:]

    public init() {}

    public init(_ quantities: [String: Quantity]) {
        for (name, quantity) in quantities { self[name] = quantity.milli }
    }

    public subscript(name: String) -> Int64 {
        get {
            switch name {
            case "cpu": cpu
            case "memory": memory
            case "pods": pods
            default: other[name] ?? 0
            }
        }
        set {
            switch name {
            case "cpu": cpu = newValue
            case "memory": memory = newValue
            case "pods": pods = newValue
            default: other[name] = newValue == 0 ? nil : newValue
            }
        }
    }

    public static func += (a: inout ResourceAmounts, b: ResourceAmounts) {
        a.cpu += b.cpu
        a.memory += b.memory
        a.pods += b.pods
        for (name, value) in b.other { a[name] += value }
    }

    public static func -= (a: inout ResourceAmounts, b: ResourceAmounts) {
        a.cpu -= b.cpu
        a.memory -= b.memory
        a.pods -= b.pods
        for (name, value) in b.other { a[name] -= value }
    }
}
