import Foundation
import KeelsonAPI

/// The pod's `status` as the API shows it, from the spec, what the runtime has, and the worker's last plan.
struct PodStatusBuilder {
    let spec: PodSpecView
    let runtime: RuntimePod
    let plan: PodPlan
    /// Containers whose image could not be had: name → (reason, message).
    let waitingReasons: [String: (reason: String, message: String)]
    /// Readiness as the probes last said; containers without a readiness probe are ready while running.
    let readiness: [String: Bool]
    let hostIP: String
    let previous: JSONValue?

    func build(now: Date = Date()) -> JSONValue {
        let nowText = JSONValue.string(Timestamp.format(now))
        let initStatuses = spec.initContainers.map { containerStatus($0, isInit: true) }
        // Sorted by name, as kubelet reports them; init containers keep their order.
        let statuses = spec.containers.map { containerStatus($0, isInit: false) }
            .sorted { ($0["name"]?.stringValue ?? "") < ($1["name"]?.stringValue ?? "") }
        let phase = phase()
        var status: [String: JSONValue] = ["phase": .string(phase), "hostIP": .string(hostIP), "hostIPs": [["ip": .string(hostIP)]],
                                           "qosClass": .string(qosClass())]
        if let ip = podIP {
            status["podIP"] = .string(ip)
            status["podIPs"] = [["ip": .string(ip)]]
        }
        status["startTime"] = previous?["startTime"] ?? nowText
        if !initStatuses.isEmpty { status["initContainerStatuses"] = .array(initStatuses) }
        status["containerStatuses"] = .array(statuses)

        let sandboxReady = runtime.sandbox?.state == .ready
        let initialized = spec.initContainers.allSatisfy { container in
            let latest = runtime.latest(container["name"]?.stringValue ?? "")
            return PodSpecView.isSidecar(container) ? latest?.state == .running
                : (latest?.state == .exited && latest?.exitCode == 0) || phase == "Succeeded"
        }
        let containersReady = statuses.allSatisfy { $0["ready"]?.boolValue == true }
        var conditions: [(String, Bool, String?)] = [
            ("PodReadyToStartContainers", sandboxReady, nil),
            ("Initialized", initialized, initialized ? nil : "ContainersNotInitialized"),
            ("Ready", containersReady, containersReady ? nil : (phase == "Succeeded" ? "PodCompleted" : "ContainersNotReady")),
            ("ContainersReady", containersReady, containersReady ? nil : (phase == "Succeeded" ? "PodCompleted" : "ContainersNotReady")),
        ]
        if phase == "Succeeded" || phase == "Failed" { conditions[0].1 = false }
        var out: [JSONValue] = conditions.map { type, value, reason in
            var condition: [String: JSONValue] = ["type": .string(type), "status": value ? "True" : "False", "lastProbeTime": .null]
            if let reason { condition["reason"] = .string(reason) }
            let old = previous?["conditions"]?.arrayValue?.first { $0["type"]?.stringValue == type }
            condition["lastTransitionTime"] = old?["status"] == condition["status"] ? (old?["lastTransitionTime"] ?? nowText) : nowText
            return .object(condition)
        }
        // The scheduler's condition is not the kubelet's to change.
        if let scheduled = previous?["conditions"]?.arrayValue?.first(where: { $0["type"]?.stringValue == "PodScheduled" }) {
            out.append(scheduled)
        }
        status["conditions"] = .array(out)
        return .object(status)
    }

    var podIP: String? {
        if spec.hostNetwork { return hostIP }
        guard let ip = runtime.sandbox?.ip, !ip.isEmpty else { return nil }
        return ip
    }

    func phase() -> String {
        if plan.finished {
            let initFailed = spec.initContainers.contains { container in
                let latest = runtime.latest(container["name"]?.stringValue ?? "")
                return !PodSpecView.isSidecar(container) && latest?.state == .exited && latest?.exitCode != 0
            }
            let anyFailed = spec.containers.contains { runtime.latest($0["name"]?.stringValue ?? "")?.exitCode ?? 0 != 0 }
            return initFailed || anyFailed ? "Failed" : "Succeeded"
        }
        let initDone = spec.initContainers.allSatisfy { container in
            let latest = runtime.latest(container["name"]?.stringValue ?? "")
            return PodSpecView.isSidecar(container) ? latest != nil : latest?.state == .exited && latest?.exitCode == 0
        }
        guard initDone else { return "Pending" }
        let started = spec.containers.contains { runtime.latest($0["name"]?.stringValue ?? "").map { $0.state != .created } ?? false }
        return started ? "Running" : "Pending"
    }

    func containerStatus(_ container: JSONValue, isInit: Bool) -> JSONValue {
        let name = container["name"]?.stringValue ?? ""
        let instances = runtime.instances(of: name)
        var status: [String: JSONValue] = ["name": .string(name), "image": container["image"] ?? "", "imageID": "",
                                           "restartCount": .integer(Int64(instances.first?.attempt ?? 0)), "ready": false, "started": false]
        if let latest = instances.first {
            status["containerID"] = .string("containerd://\(latest.id)")
            status["imageID"] = .string(latest.imageRef)
        }
        if let (reason, message) = waitingReasons[name] {
            status["state"] = ["waiting": ["reason": .string(reason), "message": .string(message)]]
        } else if let wait = plan.backingOff[name], let latest = instances.first {
            status["state"] = ["waiting": ["reason": "CrashLoopBackOff",
                "message": .string("back-off \(Int(wait.components.seconds))s restarting failed container=\(name) pod=\(spec.name)_\(spec.namespace)(\(spec.uid))")]]
            status["lastState"] = Self.terminated(latest)
        } else if let latest = instances.first {
            switch latest.state {
            case .running:
                status["state"] = ["running": ["startedAt": .string(Self.time(latest.startedAt))]]
                status["started"] = true
                status["ready"] = .bool(readiness[name] ?? true)
            case .exited:
                status["state"] = Self.terminated(latest)
            case .created, .unknown:
                status["state"] = ["waiting": ["reason": "ContainerCreating"]]
            }
            if instances.count > 1, status["lastState"] == nil { status["lastState"] = Self.terminated(instances[1]) }
        } else {
            status["state"] = ["waiting": ["reason": isInit || spec.initContainers.isEmpty ? "ContainerCreating" : "PodInitializing"]]
        }
        if status["lastState"] == nil { status["lastState"] = [:] }
        return .object(status)
    }

    static func terminated(_ info: ContainerInfo) -> JSONValue {
        var terminated: [String: JSONValue] = ["exitCode": .integer(Int64(info.exitCode)),
            "reason": .string(info.reason.isEmpty ? (info.exitCode == 0 ? "Completed" : "Error") : info.reason),
            "containerID": .string("containerd://\(info.id)")]
        if info.startedAt > 0 { terminated["startedAt"] = .string(time(info.startedAt)) }
        if info.finishedAt > 0 { terminated["finishedAt"] = .string(time(info.finishedAt)) }
        if !info.message.isEmpty { terminated["message"] = .string(info.message) }
        return ["terminated": .object(terminated)]
    }

    static func time(_ nanoseconds: Int64) -> String {
        Timestamp.format(Date(timeIntervalSince1970: Double(nanoseconds) / 1e9))
    }

    /// Guaranteed when every container limits and requests equal CPU and memory; BestEffort when none asks for
    /// any; Burstable otherwise.
    func qosClass() -> String {
        let all = spec.initContainers + spec.containers
        var anyRequest = false
        var guaranteed = true
        for container in all {
            let resources = container["resources"]
            for resource in ["cpu", "memory"] {
                let limit = resources?["limits"]?[resource]
                let request = resources?["requests"]?[resource] ?? limit
                if limit != nil || request != nil { anyRequest = true }
                guard let limit, let request, Quantity(json: limit) == Quantity(json: request) else {
                    guaranteed = false
                    continue
                }
            }
        }
        if !anyRequest { return "BestEffort" }
        return guaranteed ? "Guaranteed" : "Burstable"
    }
}
