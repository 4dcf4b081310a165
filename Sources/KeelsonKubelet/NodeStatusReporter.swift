import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonStats
import Logging
import ServiceLifecycle

/// The Node object of a real node: registered with the machine's capacity, addresses and labels, its Lease
/// renewed every heartbeat, and its conditions (Ready from the runtime; memory, disk and PID pressure from the
/// machine, with Kubernetes' default hard eviction thresholds) posted at the same pace.
struct NodeStatusReporter: Sendable {
    let client: any KubernetesClient
    let runtime: any ContainerRuntime
    let configuration: Kubelet.Configuration
    /// The housekeeping's history: pressure conditions use the figures the summary API shows.
    var history: StatsHistory?
    let logger: Logger

    var name: String { configuration.nodeName }

    func register() async throws {
        var labels: [String: JSONValue] = ["kubernetes.io/hostname": .string(name), "kubernetes.io/os": "linux",
            "kubernetes.io/arch": .string(MachineInfo.architecture), "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": .string(MachineInfo.architecture)]
        for (key, value) in configuration.labels { labels[key] = .string(value) }
        var spec: [String: JSONValue] = [:]
        if !configuration.taints.isEmpty { spec["taints"] = .array(configuration.taints) }
        let node: JSONValue = ["apiVersion": "v1", "kind": "Node", "metadata": ["name": .string(name), "labels": .object(labels)], "spec": .object(spec)]
        var delay = Duration.milliseconds(200)
        while true {
            do {
                do {
                    try await client.create(.nodes, node)
                } catch let error as APIError where error.isAlreadyExists {
                    try await client.patch(.nodes, namespace: nil, name: name, ["metadata": ["labels": .object(labels)]])
                }
                try await postStatus()
                try await renewLease()
                return
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                logger.info("node registration failed; retrying", metadata: ["node": "\(name)", "error": "\(error)"])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    func heartbeats(onPodCIDR: @escaping @Sendable (String) async -> Void) async throws {
        try? await cancelWhenGracefulShutdown {
            var podCIDR: String?
            while !Task.isCancelled {
                if podCIDR == nil, let node = try? await client.get(.nodes, name: name), let cidr = node["spec"]?["podCIDR"]?.stringValue {
                    podCIDR = cidr
                    await onPodCIDR(cidr)
                    try? await postStatus()
                }
                // Until the pod CIDR is known the network is not ready: look again soon.
                try await Task.sleep(for: podCIDR == nil ? .seconds(1) : configuration.heartbeat)
                do {
                    try await renewLease()
                    try await postStatus()
                } catch {
                    logger.info("node heartbeat failed", metadata: ["node": "\(name)", "error": "\(error)"])
                }
            }
        }
    }

    func renewLease() async throws { try await NodeLease.renew(name, client: client) }

    func postStatus() async throws {
        let old = try? await client.get(.nodes, name: name)
        try await client.patch(.nodes, namespace: nil, name: name, ["status": try await status(previous: old?["status"])],
            type: .merge, subresource: "status")
    }

    func status(previous: JSONValue?) async throws -> JSONValue {
        let now = JSONValue.string(Timestamp.format(Date()))
        let machine = MachineInfo.read()
        let observation = EvictionObservation.current(history: history, directory: configuration.directory)
        let capacity: [String: Quantity] = [
            "cpu": Quantity(milli: Int64(machine.cores) * 1000),
            "memory": Quantity(milli: Int64(clamping: machine.memoryBytes) * 1000, format: .binarySI),
            "ephemeral-storage": Quantity(milli: observation.nodefsCapacity * 1000, format: .binarySI),
            "pods": Quantity(milli: Int64(configuration.maxPods) * 1000),
        ]
        var allocatable = capacity
        for (resource, amount) in configuration.reserved { allocatable[resource] = max(.zero, (allocatable[resource] ?? .zero) - amount) }
        // The hard eviction thresholds come off allocatable, as in Kubernetes.
        let thresholds = configuration.evictionHard
        allocatable["memory"] = max(.zero, allocatable["memory"]! - Quantity(milli: thresholds.memoryAvailable * 1000, format: .binarySI))
        allocatable["ephemeral-storage"] = Quantity(milli: Int64(Double(observation.nodefsCapacity) * (1 - thresholds.nodefsAvailable)) * 1000,
            format: .binarySI)
        let readiness = (try? await runtime.status()) ?? RuntimeReadiness(runtimeReady: false, networkReady: false, message: "container runtime is down")
        let version = try? await runtime.version()
        let ready = readiness.runtimeReady && readiness.networkReady
        func condition(_ type: String, _ value: Bool, _ reason: String, _ message: String) -> JSONValue {
            let old = previous?["conditions"]?.arrayValue?.first { $0["type"]?.stringValue == type }
            let status: JSONValue = value ? "True" : "False"
            return ["type": .string(type), "status": status, "reason": .string(reason), "message": .string(message),
                    "lastHeartbeatTime": now, "lastTransitionTime": old?["status"] == status ? (old?["lastTransitionTime"] ?? now) : now]
        }
        let memoryPressure = observation.memoryPressure(thresholds)
        let diskPressure = observation.diskPressure(thresholds)
        let usage = history?.latestNode ?? NodeUsage.read()
        let pidPressure = usage.maxPID > 0 && usage.maxPID < usage.processes + 1000
        return [
            "capacity": .object(capacity.mapValues { .string($0.description) }),
            "allocatable": .object(allocatable.mapValues { .string($0.description) }),
            "addresses": [["type": "InternalIP", "address": .string(configuration.nodeIP)], ["type": "Hostname", "address": .string(name)]],
            "daemonEndpoints": ["kubeletEndpoint": ["Port": .integer(Int64(configuration.kubeletPort))]],
            "conditions": [
                condition("MemoryPressure", memoryPressure, memoryPressure ? "KubeletHasInsufficientMemory" : "KubeletHasSufficientMemory",
                    memoryPressure ? "kubelet has insufficient memory available" : "kubelet has sufficient memory available"),
                condition("DiskPressure", diskPressure, diskPressure ? "KubeletHasDiskPressure" : "KubeletHasNoDiskPressure",
                    diskPressure ? "kubelet has disk pressure" : "kubelet has no disk pressure"),
                condition("PIDPressure", pidPressure, pidPressure ? "KubeletHasInsufficientPID" : "KubeletHasSufficientPID",
                    pidPressure ? "kubelet has insufficient PID available" : "kubelet has sufficient PID available"),
                condition("Ready", ready, ready ? "KubeletReady" : "KubeletNotReady",
                    ready ? "kubelet is posting ready status" : "container runtime not ready: \(readiness.message.isEmpty ? "network plugin is not ready" : readiness.message)"),
            ],
            "nodeInfo": [
                "kubeletVersion": .string(Kubelet.version), "kubeProxyVersion": "", "operatingSystem": "linux",
                "architecture": .string(MachineInfo.architecture), "osImage": .string(machine.osImage), "kernelVersion": .string(machine.kernel),
                "containerRuntimeVersion": .string(version.map { "\($0.name)://\($0.version)" } ?? ""),
                "machineID": .string(machine.machineID), "systemUUID": .string(machine.machineID), "bootID": .string(machine.bootID),
            ],
        ]
    }
}

extension Kubelet {
    /// The Kubernetes version this kubelet implements, with Keelson's mark.
    public static let version = "v1.32.0+keelson"
}
