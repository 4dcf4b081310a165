import Foundation
import KeelsonAPI
import KeelsonClient
import Logging
import ServiceLifecycle

/// Many simulated nodes in one process — Keelson's kubemark/KWOK: each has a Node object reporting Ready with the
/// configured capacity, a Lease in `kube-node-lease` renewed every `heartbeat`, and a simulated kubelet that marks
/// the pods bound to it Running and Ready after `startDelay` (probes always succeed) and confirms their deletion.
/// Nothing runs: pod IPs come from the node's `podCIDR` and are never reachable.
public struct SimulatedNodes: Service {
    public struct Configuration: Sendable {
        public var count: Int
        public var namePrefix = "sim-node-"
        public var cpu = "32"
        public var memory = "256Gi"
        public var pods = 110
        public var startDelay: Duration = .zero
        public var heartbeat: Duration = .seconds(10)
        /// Extra labels of node `i` (zones, say).
        public var labels: @Sendable (Int) -> [String: String] = { _ in [:] }

        public init(count: Int) { self.count = count }
    }

    let client: any KubernetesClient
    let configuration: Configuration
    let logger: Logger

    public init(client: any KubernetesClient, configuration: Configuration, logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
    }

    public func nodeName(_ i: Int) -> String { "\(configuration.namePrefix)\(i)" }

    public func run() async throws {
        try await register()
        let pods = Informer(client: client, resource: .pods, logger: logger)
        pods.addIndex(.nodeName)
        let queue = WorkQueue<String>(name: "simulated-kubelet")
        let prefix = configuration.namePrefix
        pods.addHandler { event in
            switch event {
            case .added(let pod), .updated(_, let pod):
                guard let node = pod["spec"]?["nodeName"]?.stringValue, node.hasPrefix(prefix) else { return }
                let needsStart = pod["status"]?["phase"]?.stringValue == "Pending" || pod["status"]?["phase"] == nil
                if needsStart || pod.deletionTimestamp != nil { queue.add(Informer.key(of: pod)) }
            case .deleted: break
            }
        }
        let runner = PodRunner(client: client, pods: pods, startDelay: configuration.startDelay)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await pods.run() }
            group.addTask { try await heartbeats() }
            for _ in 0..<8 {
                group.addTask {
                    try await cancelWhenGracefulShutdown {
                        while let key = await queue.next() {
                            do {
                                try await runner.sync(key)
                            } catch {
                                queue.addRateLimited(key)
                            }
                            queue.done(key)
                        }
                    }
                }
            }
            group.addTask {
                try? await gracefulShutdown()
                queue.shutDown()
            }
        }
    }

    /// Creates (or takes over) every node and its Lease, 16 at a time.
    func register() async throws {
        try await forEachNode { i in
            let name = nodeName(i)
            var labels: [String: JSONValue] = ["kubernetes.io/hostname": .string(name), "kubernetes.io/os": "linux",
                                               "kubernetes.io/arch": "amd64", "type": "simulated"]
            for (key, value) in configuration.labels(i) { labels[key] = .string(value) }
            let node: JSONValue = ["apiVersion": "v1", "kind": "Node", "metadata": ["name": .string(name), "labels": .object(labels)]]
            do {
                try await client.create(.nodes, node)
            } catch let error as APIError where error.isAlreadyExists {}
            try await reportStatus(name)
            try await NodeLease.renew(name, client: client)
        }
    }

    private func reportStatus(_ name: String) async throws {
        let now = JSONValue.string(Timestamp.format(Date()))
        let resources: JSONValue = ["cpu": .string(configuration.cpu), "memory": .string(configuration.memory),
                                    "pods": .string(String(configuration.pods)), "ephemeral-storage": "100Gi"]
        try await client.patch(.nodes, namespace: nil, name: name, ["status": [
            "capacity": resources, "allocatable": resources,
            "conditions": [
                ["type": "Ready", "status": "True", "reason": "KubeletReady", "message": "simulated kubelet is posting ready status",
                 "lastHeartbeatTime": now, "lastTransitionTime": now],
                ["type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "lastHeartbeatTime": now, "lastTransitionTime": now],
                ["type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "lastHeartbeatTime": now, "lastTransitionTime": now],
                ["type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "lastHeartbeatTime": now, "lastTransitionTime": now],
            ],
            "nodeInfo": ["kubeletVersion": "v1.32.0-keelson-simulated", "containerRuntimeVersion": "simulated://0", "operatingSystem": "linux",
                         "architecture": "amd64", "osImage": "simulated", "kernelVersion": "simulated", "kubeProxyVersion": "",
                         "machineID": "", "systemUUID": "", "bootID": ""],
        ]], type: .merge, subresource: "status")
    }

    private func heartbeats() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: configuration.heartbeat) }
            if Task.isShuttingDownGracefully { return }
            try? await forEachNode { i in try await NodeLease.renew(nodeName(i), client: client) }
        }
    }

    private func forEachNode(_ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    for i in stride(from: worker, to: configuration.count, by: 16) { try await body(i) }
                }
            }
            try await group.waitForAll()
        }
    }
}

/// What a simulated kubelet does for one pod: start it (Running, Ready, an IP), or confirm its deletion.
struct PodRunner: Sendable {
    let client: any KubernetesClient
    let pods: Informer
    let startDelay: Duration

    func sync(_ key: String) async throws {
        guard let pod = pods.get(key) else { return }
        if pod.deletionTimestamp != nil {
            // The containers "stopped": confirm with a zero-grace delete, as a kubelet does.
            do {
                try await client.delete(.pods, namespace: pod.namespace, name: pod.name ?? "",
                    options: ["apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "preconditions": ["uid": .string(pod.uid ?? "")]])
            } catch let error as APIError where error.isNotFound || error.isConflict {}
            return
        }
        guard pod["status"]?["phase"]?.stringValue != "Running" else { return }
        if startDelay > .zero { try await Task.sleep(for: startDelay) }
        let now = JSONValue.string(Timestamp.format(Date()))
        let ip = Self.address(for: key)
        let containers = (pod["spec"]?["containers"]?.arrayValue ?? []).map { container -> JSONValue in
            ["name": container["name"] ?? "", "image": container["image"] ?? "", "imageID": "", "ready": true, "restartCount": 0, "started": true,
             "state": ["running": ["startedAt": now]], "containerID": .string("simulated://\(pod.uid ?? "")")]
        }
        do {
            try await client.patch(.pods, namespace: pod.namespace, name: pod.name ?? "", ["status": [
                "phase": "Running", "podIP": .string(ip), "podIPs": [["ip": .string(ip)]], "hostIP": "192.0.2.1", "startTime": now,
                "conditions": [
                    ["type": "Initialized", "status": "True", "lastTransitionTime": now],
                    ["type": "Ready", "status": "True", "lastTransitionTime": now],
                    ["type": "ContainersReady", "status": "True", "lastTransitionTime": now],
                    ["type": "PodScheduled", "status": "True", "lastTransitionTime": now],
                ],
                "containerStatuses": .array(containers),
            ]], type: .strategic, subresource: "status")
        } catch let error as APIError where error.isNotFound {}
    }

    /// A stable address per pod in 10.42.0.0/16 (documentation-only; simulated pods are never reached).
    static func address(for key: String) -> String {
        var hash: UInt32 = 2_166_136_261
        for byte in key.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return "10.42.\(hash >> 8 & 0xff).\(max(hash & 0xff, 2))"
    }
}
