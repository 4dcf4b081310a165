import Foundation
import KeelsonAPI

/// Pods and pod templates: the defaults every workload shares, validation, and the printing of `kubectl get pods`.
enum PodStrategy {
    /// `SetDefaults_PodSpec` and friends, for the fields clients look at.
    static func defaultPodSpec(_ spec: inout JSONValue) {
        spec.setDefault("Always", at: ["restartPolicy"])
        spec.setDefault("ClusterFirst", at: ["dnsPolicy"])
        spec.setDefault(30, at: ["terminationGracePeriodSeconds"])
        spec.setDefault("default-scheduler", at: ["schedulerName"])
        spec.setDefault(.object([:]), at: ["securityContext"])
        spec.setDefault(true, at: ["enableServiceLinks"])
        for field in ["containers", "initContainers"] {
            spec.updateEach(at: [field]) { defaultContainer(&$0) }
        }
        spec.updateEach(at: ["volumes"]) { volume in
            if volume["configMap"] != nil { volume.setDefault(420, at: ["configMap", "defaultMode"]) }
            if volume["secret"] != nil { volume.setDefault(420, at: ["secret", "defaultMode"]) }
            if volume["downwardAPI"] != nil { volume.setDefault(420, at: ["downwardAPI", "defaultMode"]) }
            if volume["projected"] != nil { volume.setDefault(420, at: ["projected", "defaultMode"]) }
            if volume["hostPath"] != nil { volume.setDefault("", at: ["hostPath", "type"]) }
            if let keys = volume.objectValue?.keys, keys.count == 1, keys.first == "name" {
                volume["emptyDir"] = .object([:])
            }
        }
    }

    static func defaultContainer(_ container: inout JSONValue) {
        if let image = container["image"]?.stringValue {
            container.setDefault(.string(defaultPullPolicy(image: image)), at: ["imagePullPolicy"])
        }
        container.setDefault("/dev/termination-log", at: ["terminationMessagePath"])
        container.setDefault("File", at: ["terminationMessagePolicy"])
        container.setDefault(.object([:]), at: ["resources"])
        container.updateEach(at: ["ports"]) { $0.setDefault("TCP", at: ["protocol"]) }
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] where container[probe] != nil {
            container.update(at: [probe]) { p in
                p.setDefault(1, at: ["timeoutSeconds"])
                p.setDefault(10, at: ["periodSeconds"])
                p.setDefault(1, at: ["successThreshold"])
                p.setDefault(3, at: ["failureThreshold"])
                if p["httpGet"] != nil {
                    p.setDefault("/", at: ["httpGet", "path"])
                    p.setDefault("HTTP", at: ["httpGet", "scheme"])
                }
            }
        }
    }

    /// `Always` for `:latest` or untagged images, `IfNotPresent` otherwise (digests count as tags).
    static func defaultPullPolicy(image: String) -> String {
        if image.contains("@") { return "IfNotPresent" }
        let lastComponent = image.split(separator: "/").last.map(String.init) ?? image
        guard let colon = lastComponent.lastIndex(of: ":") else { return "Always" }
        return lastComponent[lastComponent.index(after: colon)...] == "latest" ? "Always" : "IfNotPresent"
    }

    static func defaultTemplate(_ object: inout JSONValue, at path: [String]) {
        guard var spec = object.value(at: path + ["spec"]), case .object = spec else { return }
        defaultPodSpec(&spec)
        object.setValue(spec, at: path + ["spec"])
    }

    static func validatePodSpec(_ spec: JSONValue?, field: String) -> [FieldError] {
        guard let spec, case .object = spec else { return [.required(field, "")] }
        var errors: [FieldError] = []
        let containers = spec["containers"]?.arrayValue ?? []
        if containers.isEmpty { errors.append(.required("\(field).containers", "")) }
        var seen = Set<String>()
        for (listName, list) in [("initContainers", spec["initContainers"]?.arrayValue ?? []), ("containers", containers)] {
            for (i, container) in list.enumerated() {
                let path = "\(field).\(listName)[\(i)]"
                let name = container["name"]?.stringValue ?? ""
                if name.isEmpty {
                    errors.append(.required("\(path).name", ""))
                } else {
                    for message in NameValidation.dns1123Label(name) { errors.append(.invalid("\(path).name", name, message)) }
                    if !seen.insert(name).inserted { errors.append(FieldError(.duplicate, field: "\(path).name", badValue: name)) }
                }
                if (container["image"]?.stringValue ?? "").isEmpty { errors.append(.required("\(path).image", "")) }
                for (j, port) in (container["ports"]?.arrayValue ?? []).enumerated() {
                    let p = port["containerPort"]?.intValue ?? 0
                    if !(1...65535).contains(p) {
                        errors.append(.invalid("\(path).ports[\(j)].containerPort", String(p), "must be between 1 and 65535, inclusive"))
                    }
                    errors += Validation.oneOf(port, ["protocol"], "\(path).ports[\(j)].protocol", ["SCTP", "TCP", "UDP"])
                }
                errors += Validation.oneOf(container, ["imagePullPolicy"], "\(path).imagePullPolicy", ["Always", "IfNotPresent", "Never"])
            }
        }
        errors += Validation.oneOf(spec, ["restartPolicy"], "\(field).restartPolicy", ["Always", "OnFailure", "Never"])
        errors += Validation.oneOf(spec, ["dnsPolicy"], "\(field).dnsPolicy", ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"])
        errors += Validation.nonNegative(spec, ["terminationGracePeriodSeconds"], "\(field).terminationGracePeriodSeconds")
        var volumeNames = Set<String>()
        for (i, volume) in (spec["volumes"]?.arrayValue ?? []).enumerated() {
            let name = volume["name"]?.stringValue ?? ""
            if name.isEmpty {
                errors.append(.required("\(field).volumes[\(i)].name", ""))
            } else if !volumeNames.insert(name).inserted {
                errors.append(FieldError(.duplicate, field: "\(field).volumes[\(i)].name", badValue: name))
            }
        }
        return errors
    }

    /// Pod spec fields an update may change (`ValidatePodUpdate`): images, activeDeadlineSeconds, added
    /// tolerations, scheduling gates removal; everything else is fixed once the pod exists.
    static func validatePodUpdate(_ new: JSONValue, _ old: JSONValue) -> [FieldError] {
        guard var newSpec = new["spec"], var oldSpec = old["spec"] else { return [] }
        for spec in [0, 1] {
            var s = spec == 0 ? newSpec : oldSpec
            for field in ["containers", "initContainers"] {
                s.updateEach(at: [field]) { $0["image"] = nil }
            }
            for field in ["activeDeadlineSeconds", "tolerations", "schedulingGates", "terminationGracePeriodSeconds"] {
                s[field] = nil
            }
            if spec == 0 { newSpec = s } else { oldSpec = s }
        }
        // nodeName may be set once, by binding.
        if oldSpec["nodeName"] == nil { newSpec["nodeName"] = nil }
        if newSpec == oldSpec { return [] }
        return [.forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)")]
    }

    static func prepareForCreate(_ pod: inout JSONValue) {
        pod["status"] = ["phase": "Pending", "qosClass": .string(qosClass(pod["spec"]))]
    }

    /// Guaranteed, Burstable or BestEffort, from the containers' requests and limits (`GetPodQOS`).
    static func qosClass(_ spec: JSONValue?) -> String {
        let containers = (spec?["containers"]?.arrayValue ?? []) + (spec?["initContainers"]?.arrayValue ?? [])
        var anyResource = false
        var guaranteed = true
        for container in containers {
            let requests = container["resources"]?["requests"]?.objectValue ?? [:]
            let limits = container["resources"]?["limits"]?.objectValue ?? [:]
            if !requests.isEmpty || !limits.isEmpty { anyResource = true }
            for resource in ["cpu", "memory"] {
                guard let limit = limits[resource] else {
                    guaranteed = false
                    continue
                }
                if let request = requests[resource], request != limit { guaranteed = false }
            }
        }
        if !anyResource { return "BestEffort" }
        return guaranteed ? "Guaranteed" : "Burstable"
    }

    static func selectableFields(_ pod: JSONValue) -> [String: String] {
        [
            "spec.nodeName": pod["spec"]?["nodeName"]?.stringValue ?? "",
            "spec.restartPolicy": pod["spec"]?["restartPolicy"]?.stringValue ?? "",
            "spec.schedulerName": pod["spec"]?["schedulerName"]?.stringValue ?? "",
            "spec.serviceAccountName": pod["spec"]?["serviceAccountName"]?.stringValue ?? "",
            "spec.hostNetwork": (pod["spec"]?["hostNetwork"]?.boolValue ?? false) ? "true" : "false",
            "status.phase": pod["status"]?["phase"]?.stringValue ?? "",
            "status.podIP": pod["status"]?["podIP"]?.stringValue ?? "",
            "status.nominatedNodeName": pod["status"]?["nominatedNodeName"]?.stringValue ?? "",
        ]
    }

    static let columns: [TableColumn] = [
        TableColumn(name: "Ready", description: "The aggregate readiness state of this pod for accepting traffic."),
        TableColumn(name: "Status", description: "The aggregate status of the containers in this pod."),
        TableColumn(name: "Restarts", description: "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
        TableColumn(name: "Age", description: "CreationTimestamp is a timestamp representing the server time when this object was created."),
        TableColumn(name: "IP", description: "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", priority: 1),
        TableColumn(name: "Node", description: "NodeName is a request to schedule this pod onto a specific node.", priority: 1),
        TableColumn(name: "Nominated Node", description: "nominatedNodeName is set only when this pod preempts other pods on the node.", priority: 1),
        TableColumn(name: "Readiness Gates", description: "If specified, all readiness gates will be evaluated for pod readiness.", priority: 1),
    ]

    /// The cells `kubectl get pods` shows, following the reason logic of kubectl's pod printer.
    static func cells(_ pod: JSONValue, now: Date) -> [JSONValue] {
        let spec = pod["spec"]
        let status = pod["status"]
        let containerCount = spec?["containers"]?.arrayValue?.count ?? 0
        var ready = 0
        var restarts: Int64 = 0
        var reason = status?["reason"]?.stringValue ?? status?["phase"]?.stringValue ?? "Pending"
        let initStatuses = status?["initContainerStatuses"]?.arrayValue ?? []
        let initCount = spec?["initContainers"]?.arrayValue?.count ?? 0
        var initializing = false
        for (i, s) in initStatuses.enumerated() {
            restarts += s["restartCount"]?.intValue ?? 0
            if let terminated = s["state"]?["terminated"], terminated["exitCode"]?.intValue == 0 { continue }
            if let terminated = s["state"]?["terminated"] {
                reason = "Init:" + (terminated["reason"]?.stringValue ?? "ExitCode:\(terminated["exitCode"]?.intValue ?? 0)")
            } else if let waiting = s["state"]?["waiting"]?["reason"]?.stringValue, waiting != "PodInitializing" {
                reason = "Init:\(waiting)"
            } else {
                reason = "Init:\(i)/\(initCount)"
            }
            initializing = true
            break
        }
        if !initializing {
            var hasRunning = false
            for s in (status?["containerStatuses"]?.arrayValue ?? []).reversed() {
                restarts += s["restartCount"]?.intValue ?? 0
                if let waiting = s["state"]?["waiting"]?["reason"]?.stringValue, !waiting.isEmpty {
                    reason = waiting
                } else if let terminated = s["state"]?["terminated"] {
                    reason = terminated["reason"]?.stringValue
                        ?? (terminated["signal"]?.intValue).map { "Signal:\($0)" }
                        ?? "ExitCode:\(terminated["exitCode"]?.intValue ?? 0)"
                } else if s["ready"]?.boolValue == true, s["state"]?["running"] != nil {
                    hasRunning = true
                    ready += 1
                }
            }
            if reason == "Completed", hasRunning { reason = "Running" }
        }
        if pod.deletionTimestamp != nil {
            reason = status?["reason"]?.stringValue == "NodeLost" ? "Unknown" : "Terminating"
        }
        let podIP = status?["podIP"]?.stringValue ?? "<none>"
        let nodeName = spec?["nodeName"]?.stringValue ?? "<none>"
        let nominated = status?["nominatedNodeName"]?.stringValue ?? "<none>"
        let gates = spec?["readinessGates"]?.arrayValue ?? []
        let gateText = gates.isEmpty ? "<none>" : "\(0)/\(gates.count)"
        return [
            .string("\(ready)/\(containerCount)"), .string(reason), .integer(restarts),
            .string(TablePrinter.age(of: pod, now: now)), .string(podIP), .string(nodeName), .string(nominated),
            .string(gateText),
        ]
    }

    static let strategy = ResourceStrategy(
        applyDefaults: { pod in
            guard var spec = pod["spec"], case .object = spec else { return }
            defaultPodSpec(&spec)
            // A pod's containers (not a template's) request what they limit when they state no request, as
            // kube-apiserver's pod defaulting does: quota, LimitRanger and the scheduler all count requests.
            for field in ["initContainers", "containers"] {
                spec.updateEach(at: [field]) { container in
                    let limits = container["resources"]?["limits"]?.objectValue ?? [:]
                    guard !limits.isEmpty else { return }
                    var requests = container["resources"]?["requests"]?.objectValue ?? [:]
                    for (name, value) in limits where requests[name] == nil { requests[name] = value }
                    container["resources"]?["requests"] = .object(requests)
                }
            }
            pod["spec"] = spec
        },
        prepareForCreate: prepareForCreate,
        validate: { validatePodSpec($0["spec"], field: "spec") },
        validateUpdate: validatePodUpdate,
        selectableFields: selectableFields,
        columns: columns,
        cells: cells
    )
}
