import KeelsonAPI

/// kube-apiserver's `LimitRanger` admission plugin for creates: the namespace's LimitRanges give containers the
/// requests and limits they leave out (noted in the `kubernetes.io/limit-ranger` annotation), then refuse a pod or
/// claim outside their `min`, `max` or `maxLimitRequestRatio`, with 403 and Kubernetes' messages. Pod updates are
/// not checked, as in Kubernetes: a pod's containers and their resources do not change.
enum LimitRanger {
    static let annotation = "kubernetes.io/limit-ranger"

    /// A LimitRange item of type Container with the server's defaulting applied (default from max, defaultRequest
    /// from default, then from min), as kube-apiserver stores it.
    static func defaultedItem(_ item: JSONValue) -> JSONValue {
        guard item["type"]?.stringValue == "Container" else { return item }
        var item = item
        var defaults = item["default"]?.objectValue ?? [:]
        var defaultRequests = item["defaultRequest"]?.objectValue ?? [:]
        for (name, value) in item["max"]?.objectValue ?? [:] where defaults[name] == nil { defaults[name] = value }
        for (name, value) in defaults where defaultRequests[name] == nil { defaultRequests[name] = value }
        for (name, value) in item["min"]?.objectValue ?? [:] where defaultRequests[name] == nil { defaultRequests[name] = value }
        if !defaults.isEmpty { item["default"] = .object(defaults) }
        if !defaultRequests.isEmpty { item["defaultRequest"] = .object(defaultRequests) }
        return item
    }

    /// Applies the LimitRange defaulting to a LimitRange being written.
    static func applyDefaults(toLimitRange object: inout JSONValue) {
        guard let items = object.value(at: ["spec", "limits"])?.arrayValue else { return }
        object["spec"]?["limits"] = .array(items.map(defaultedItem))
    }

    /// Sets the defaults and checks the constraints of `limitRanges` on a Pod or PersistentVolumeClaim being created.
    static func admit(_ object: inout JSONValue, kind: String, limitRanges: [JSONValue]) throws {
        let items = limitRanges.flatMap { ($0.value(at: ["spec", "limits"])?.arrayValue ?? []).map(defaultedItem) }
        guard !items.isEmpty else { return }
        let name = object.name ?? ""
        var problems: [String] = []
        switch kind {
        case "Pod":
            setContainerDefaults(&object, items: items.filter { $0["type"]?.stringValue == "Container" })
            for item in items {
                switch item["type"]?.stringValue {
                case "Container":
                    for field in ["initContainers", "containers"] {
                        for container in object.value(at: ["spec", field])?.arrayValue ?? [] {
                            problems += check(item, kind: "Container", requests: container["resources"]?["requests"]?.objectValue ?? [:],
                                limits: container["resources"]?["limits"]?.objectValue ?? [:])
                        }
                    }
                case "Pod":
                    problems += check(item, kind: "Pod", requests: PodResources.total(object, "requests").mapValues { .string($0.description) },
                        limits: PodResources.total(object, "limits").mapValues { .string($0.description) })
                default:
                    break
                }
            }
        case "PersistentVolumeClaim":
            // A claim is held to its request alone (its limits are not user input Kubernetes recognises here).
            let requests = object.value(at: ["spec", "resources", "requests"])?.objectValue ?? [:]
            for item in items where item["type"]?.stringValue == "PersistentVolumeClaim" {
                problems += check(item, kind: "PersistentVolumeClaim", requests: requests, limits: [:], requestOnly: true)
            }
        default:
            return
        }
        guard !problems.isEmpty else { return }
        let plural = kind == "Pod" ? "pods" : "persistentvolumeclaims"
        // Kubernetes' aggregate of several errors prints them in brackets.
        let detail = problems.count == 1 ? problems[0] : "[" + problems.joined(separator: ", ") + "]"
        throw Status(code: 403, reason: .forbidden, message: "\(plural) \"\(name)\" is forbidden: \(detail)",
            details: Status.Details(name: name, kind: plural))
    }

    private static func setContainerDefaults(_ pod: inout JSONValue, items: [JSONValue]) {
        var defaults: [String: JSONValue] = [:]
        var defaultRequests: [String: JSONValue] = [:]
        for item in items {
            defaults.merge(item["default"]?.objectValue ?? [:]) { _, new in new }
            defaultRequests.merge(item["defaultRequest"]?.objectValue ?? [:]) { _, new in new }
        }
        guard !defaults.isEmpty || !defaultRequests.isEmpty else { return }
        var notes: [String] = []
        for field in ["initContainers", "containers"] {
            guard var containers = pod.value(at: ["spec", field])?.arrayValue else { continue }
            for index in containers.indices {
                var resources = containers[index]["resources"]?.objectValue ?? [:]
                var requests = resources["requests"]?.objectValue ?? [:]
                var limits = resources["limits"]?.objectValue ?? [:]
                let setRequests = defaultRequests.keys.filter { requests[$0] == nil }.sorted()
                let setLimits = defaults.keys.filter { limits[$0] == nil }.sorted()
                for key in setRequests { requests[key] = defaultRequests[key] }
                for key in setLimits { limits[key] = defaults[key] }
                guard !setRequests.isEmpty || !setLimits.isEmpty else { continue }
                if !requests.isEmpty { resources["requests"] = .object(requests) }
                if !limits.isEmpty { resources["limits"] = .object(limits) }
                containers[index]["resources"] = .object(resources)
                let container = containers[index]["name"]?.stringValue ?? ""
                if !setRequests.isEmpty { notes.append("\(setRequests.joined(separator: ", ")) request for \(field == "containers" ? "" : "init ")container \(container)") }
                if !setLimits.isEmpty { notes.append("\(setLimits.joined(separator: ", ")) limit for \(field == "containers" ? "" : "init ")container \(container)") }
            }
            pod["spec"]?[field] = .array(containers)
        }
        guard !notes.isEmpty else { return }
        var annotations = pod.value(at: ["metadata", "annotations"])?.objectValue ?? [:]
        annotations[annotation] = .string("LimitRanger plugin set: " + notes.joined(separator: "; "))
        pod["metadata"]?["annotations"] = .object(annotations)
    }

    /// The constraint failures of one item for one container, pod total or claim, in Kubernetes' words.
    private static func check(_ item: JSONValue, kind: String, requests: [String: JSONValue], limits: [String: JSONValue],
        requestOnly: Bool = false) -> [String]
    {
        func text(_ value: JSONValue?) -> String {
            value?.stringValue ?? value?.intValue.map(String.init) ?? value.map { "\($0)" } ?? ""
        }
        var problems: [String] = []
        for (resource, bound) in (item["min"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let minimum = Quantity(json: bound) else { continue }
            let request = requests[resource].flatMap { Quantity(json: $0) }
            let limit = limits[resource].flatMap { Quantity(json: $0) }
            if request == nil {
                problems.append("minimum \(resource) usage per \(kind) is \(text(bound)).  No request is specified")
            } else if let request, request < minimum {
                problems.append("minimum \(resource) usage per \(kind) is \(text(bound)), but request is \(text(requests[resource]))")
            }
            if let limit, limit < minimum {
                problems.append("minimum \(resource) usage per \(kind) is \(text(bound)), but limit is \(text(limits[resource]))")
            }
        }
        for (resource, bound) in (item["max"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let maximum = Quantity(json: bound) else { continue }
            let request = requests[resource].flatMap { Quantity(json: $0) }
            let limit = limits[resource].flatMap { Quantity(json: $0) }
            if requestOnly {
                if request == nil {
                    problems.append("maximum \(resource) usage per \(kind) is \(text(bound)).  No request is specified")
                }
            } else if limit == nil {
                problems.append("maximum \(resource) usage per \(kind) is \(text(bound)).  No limit is specified")
            } else if let limit, limit > maximum {
                problems.append("maximum \(resource) usage per \(kind) is \(text(bound)), but limit is \(text(limits[resource]))")
            }
            if let request, request > maximum {
                problems.append("maximum \(resource) usage per \(kind) is \(text(bound)), but request is \(text(requests[resource]))")
            }
        }
        for (resource, bound) in (item["maxLimitRequestRatio"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let ratio = Quantity(json: bound) else { continue }
            let request = requests[resource].flatMap { Quantity(json: $0) }
            let limit = limits[resource].flatMap { Quantity(json: $0) }
            guard let request, request.milli > 0 else {
                problems.append("\(resource) max limit to request ratio per \(kind) is \(text(bound)), but no request is specified or request is 0")
                continue
            }
            guard let limit, limit.milli > 0 else {
                problems.append("\(resource) max limit to request ratio per \(kind) is \(text(bound)), but no limit is specified or limit is 0")
                continue
            }
            let provided = Double(limit.milli) / Double(request.milli)
            if provided > Double(ratio.milli) / 1000 {
                problems.append("\(resource) max limit to request ratio per \(kind) is \(text(bound)), but provided ratio is \(String(format: "%f", provided))")
            }
        }
        return problems
    }
}
