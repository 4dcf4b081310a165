import Foundation
import KeelsonAPI
import KeelsonClient
import Logging
import ServiceLifecycle
import Synchronization

/// The node agent's kubelet: registers the Node, keeps its Lease and status fresh, and runs the pods bound to it
/// on the container runtime — one sync at a time per pod, triggered by the pod's changes, by the runtime's
/// (a relist every second, since containerd 1.6 has no container events), and by timers (back-offs).
public struct Kubelet: Service {
    public struct Configuration: Sendable {
        public var nodeName: String
        public var nodeIP: String
        /// `DATA_DIR/agent`: pods' volumes under `pods/`, container logs under `logs/`, static pod manifests in
        /// `pod-manifests/`.
        public var directory: URL
        public var labels: [String: String] = [:]
        public var taints: [JSONValue] = []
        public var cgroupRoot = "/keelson"
        public var clusterDNS: [String] = []
        public var clusterDomain = "cluster.local"
        /// The node's resolv.conf, for pods with dnsPolicy Default (and the search domains ClusterFirst adds).
        public var resolvConf: String?
        public var maxPods = 110
        /// Subtracted from capacity for allocatable (`--system-reserved` and `--kube-reserved` together).
        public var reserved: [String: Quantity] = [:]
        public var heartbeat: Duration = .seconds(10)
        public var relistPeriod: Duration = .seconds(1)
        public var kubeletPort = 10250
        /// Pods synced at once: most of a sync is waiting on the runtime (CNI, runc), so more than cores.
        public var workers = 16
        /// A running container's log is rotated past this size, keeping this many files (kubelet's defaults).
        public var containerLogMaxSize: Int64 = 10 * 1024 * 1024
        public var containerLogMaxFiles = 5
        public var evictionHard = EvictionThresholds()
        public var evictionPeriod: Duration = .seconds(10)
        /// Image garbage collection: thresholds, how often it looks, the filesystem the runtime keeps images on (the
        /// agent's directory when not known), and the images it never removes (the sandbox image).
        public var imageGC = ImageGCPolicy()
        public var imageGCPeriod: Duration = .seconds(300)
        public var imageFilesystem: String?
        public var pinnedImages: Set<String> = []
        /// How often the stats housekeeping samples the cgroups, and how much history it keeps (cAdvisor's defaults).
        public var housekeepingInterval: Duration = .seconds(1)
        public var statsHistory: Duration = .seconds(120)

        public init(nodeName: String, nodeIP: String, directory: URL) {
            self.nodeName = nodeName
            self.nodeIP = nodeIP
            self.directory = directory
        }
    }

    let client: any KubernetesClient
    let runtime: any ContainerRuntime
    let configuration: Configuration
    let logger: Logger
    /// Told the node's pod CIDR once the controller manager has allocated it (the runtime's CNI config needs it).
    let onPodCIDR: @Sendable (String) async -> Void
    /// The pods bound to this node.
    public let pods: Informer
    /// Resource usage of the node, its pods and their containers.
    public let stats: NodeStats

    public init(client: any KubernetesClient, runtime: any ContainerRuntime, configuration: Configuration, logger: Logger,
        onPodCIDR: @escaping @Sendable (String) async -> Void = { _ in })
    {
        self.client = client
        self.runtime = runtime
        self.configuration = configuration
        self.logger = logger
        self.onPodCIDR = onPodCIDR
        self.pods = Informer(client: client, resource: .pods,
            options: ListOptions(fieldSelector: "spec.nodeName=\(configuration.nodeName)"), logger: logger)
        self.stats = NodeStats(configuration: configuration)
    }

    public func run() async throws {
        let node = NodeStatusReporter(client: client, runtime: runtime, configuration: configuration, history: stats.history, logger: logger)
        try? await cancelWhenGracefulShutdown { try await node.register() }
        if Task.isShuttingDownGracefully { return }
        let queue = WorkQueue<String>(name: "kubelet-pods", baseDelay: .milliseconds(100), maxDelay: .seconds(30))
        pods.addHandler { event in
            switch event {
            case .added(let pod), .updated(_, let pod), .deleted(let pod): queue.add(Informer.key(of: pod))
            }
        }
        let events = EventRecorder(client: client, component: "kubelet", logger: logger)
        let probes = ProbeManager(runtime: runtime, logger: logger) { key in queue.add(key) }
        let evicted = EvictedPods()
        let sync = PodSynchronizer(
            worker: PodWorker(runtime: runtime, client: client, backoff: CrashBackoff(), images: ImagePuller(runtime: runtime, client: client),
                probes: probes, nodeName: configuration.nodeName, hostIP: configuration.nodeIP,
                podsDirectory: configuration.directory.appendingPathComponent("pods"),
                logsDirectory: configuration.directory.appendingPathComponent("logs"), cgroupRoot: configuration.cgroupRoot,
                dns: .init(clusterServers: configuration.clusterDNS, clusterDomain: configuration.clusterDomain,
                           node: PodDNS.Settings.nodeResolvConf(configuration.resolvConf)), events: events,
                logger: logger),
            pods: pods, runtime: runtime, client: client, evicted: evicted, logger: logger)
        let relist = RuntimeRelist(runtime: runtime, pods: pods, queue: queue, snapshot: stats.snapshot)
        try? await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await pods.run() }
            group.addTask { try await events.run() }
            group.addTask {
                let eviction = EvictionManager(thresholds: configuration.evictionHard, cgroupRoot: configuration.cgroupRoot,
                    directory: configuration.directory, history: stats.history, logger: logger)
                try? await cancelWhenGracefulShutdown {
                    try await pods.waitUntilSynced()
                    while !Task.isCancelled {
                        try await Task.sleep(for: configuration.evictionPeriod)
                        guard let (pod, message) = eviction.choose(eviction.observe(), pods: pods.list()), let uid = pod.uid,
                              evicted.message(uid: uid) == nil else { continue }
                        logger.warning("evicting a pod", metadata: ["pod": "\(Informer.key(of: pod))", "reason": "\(message)"])
                        events.record(pod, apiVersion: "v1", kind: "Pod", .warning, reason: "Evicted", message: message)
                        evicted.evict(uid: uid, message: message)
                        queue.add(Informer.key(of: pod))
                    }
                }
            }
            group.addTask { [node = configuration.nodeName] in
                let collector = ImageGarbageCollector(policy: configuration.imageGC, pinned: configuration.pinnedImages)
                let path = configuration.imageFilesystem ?? configuration.directory.path
                try? await cancelWhenGracefulShutdown {
                    var records = ImageGarbageCollector.Records()
                    while !Task.isCancelled {
                        try await Task.sleep(for: configuration.imageGCPeriod)
                        do {
                            if let message = try await collector.collect(runtime: runtime, path: path, records: &records, logger: logger) {
                                events.record(["metadata": ["name": .string(node), "uid": .string(node)]], apiVersion: "v1", kind: "Node", .warning,
                                    reason: "FreeDiskSpaceFailed", message: message)
                            }
                        } catch {
                            logger.warning("image garbage collection failed", metadata: ["error": "\(error)"])
                        }
                    }
                }
            }
            group.addTask {
                await cancelWhenGracefulShutdown {
                    await ContainerLogRotation(runtime: runtime, logger: logger, maxSize: configuration.containerLogMaxSize,
                        maxFiles: configuration.containerLogMaxFiles).run()
                }
            }
            group.addTask {
                try await StaticPods(client: client, directory: configuration.directory.appendingPathComponent("pod-manifests"),
                    nodeName: configuration.nodeName, pods: pods, logger: logger).run()
            }
            group.addTask { try await node.heartbeats(onPodCIDR: onPodCIDR) }
            group.addTask { [stats, runtime, pods, logger] in try await stats.housekeeping(runtime: runtime, pods: pods, logger: logger).run() }
            group.addTask {
                try? await cancelWhenGracefulShutdown {
                    try await pods.waitUntilSynced()
                    while !Task.isCancelled {
                        await relist.once()
                        try await Task.sleep(for: configuration.relistPeriod)
                    }
                }
            }
            for _ in 0..<configuration.workers {
                group.addTask {
                    try? await cancelWhenGracefulShutdown {
                        try await pods.waitUntilSynced()
                        while let key = await queue.next() {
                            do {
                                if let again = try await sync.sync(key) { queue.add(key, after: again) }
                                queue.forget(key)
                            } catch {
                                logger.info("pod sync failed; retrying", metadata: ["pod": "\(key)", "error": "\(error)"])
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
        // Pods keep running across a kubelet restart; only the probes stop with it.
        await probes.shutdown()
    }
}

/// What one sync of a pod key does: read the pod and what the runtime has of it, terminate or converge, write the
/// status back, and say when to look again.
struct PodSynchronizer: Sendable {
    let worker: PodWorker
    let pods: Informer
    let runtime: any ContainerRuntime
    let client: any KubernetesClient
    let evicted: EvictedPods
    let logger: Logger

    func sync(_ key: String) async throws -> Duration? {
        let pod = pods.get(key)
        let (namespace, name) = Informer.split(key: key)
        let all = try await runtimePods(namespace: namespace ?? "", name: name)
        // Whatever the runtime runs under this pod's name but another UID is a leftover of a deleted pod.
        for (uid, runtimePod) in all where uid != pod?.uid {
            try await worker.terminate(nil, runtimePod, gracePeriod: 2)
        }
        guard let pod, let uid = pod.uid else { return nil }
        let runtimePod = all[uid] ?? RuntimePod()
        if pod.deletionTimestamp != nil {
            evicted.forget(uid: uid)
            try await worker.terminate(pod, runtimePod, gracePeriod: PodSpecView(pod).gracePeriod)
            do {
                try await client.delete(.pods, namespace: namespace, name: name, options: ["apiVersion": "v1", "kind": "DeleteOptions",
                    "gracePeriodSeconds": 0, "preconditions": ["uid": .string(uid)]])
            } catch let error as APIError where error.isNotFound || error.isConflict {}
            return nil
        }
        if let message = evicted.message(uid: uid), pod["status"]?["phase"]?.stringValue != "Failed" {
            // A hard eviction: no grace period, as kubelet's. The pod stays, Failed, for its owner to replace.
            for container in runtimePod.containers where container.state == .running {
                try await runtime.stopContainer(container.id, gracePeriod: 0)
            }
            for sandbox in runtimePod.sandboxes where sandbox.state == .ready { try await runtime.stopSandbox(sandbox.id) }
            do {
                try await client.patch(.pods, namespace: namespace, name: name, ["metadata": ["uid": .string(uid)], "status": [
                    "phase": "Failed", "reason": "Evicted", "message": .string(message),
                    "conditions": .array([("DisruptionTarget", "True"), ("Ready", "False"), ("ContainersReady", "False")].map { type, status in
                        ["type": .string(type), "status": .string(status), "reason": type == "DisruptionTarget" ? "TerminationByKubelet" : "PodFailed",
                         "message": .string(message), "lastTransitionTime": .string(Timestamp.format(Date()))]
                    }),
                ]], type: .strategic, subresource: "status")
            } catch let error as APIError where error.isNotFound || error.isConflict {}
            return nil
        }
        let outcome = try await worker.sync(pod, runtimePod)
        if let status = outcome.status, status != pod["status"] {
            do {
                // Strategic: conditions merge by type, so one another component set meanwhile (the scheduler's,
                // a disruption's) is not dropped by this status, computed from an older copy of the pod. The
                // address lists, which also merge, are the kubelet's alone: replaced whole, never left stale.
                var patch = status
                for field in ["podIPs", "hostIPs"] {
                    if let list = patch[field]?.arrayValue { patch[field] = .array(list + [["$patch": "replace"]]) }
                }
                try await client.patch(.pods, namespace: namespace, name: name, ["metadata": ["uid": .string(uid)], "status": patch],
                    type: .strategic, subresource: "status")
            } catch let error as APIError where error.isNotFound || error.isConflict {}
        }
        return outcome.requeueAfter
    }

    /// The pods the runtime has under this pod's namespace and name, by UID, with each container's full status
    /// (exit codes and times); only their containers are asked for it.
    func runtimePods(namespace: String, name: String) async throws -> [String: RuntimePod] {
        let sandboxes = try await runtime.listSandboxes()
            .filter { $0.podNamespace == namespace && $0.podName == name && $0.labels[RuntimeLabels.podUID] != nil }
        var containers: [ContainerInfo] = []
        for summary in try await runtime.listContainers()
        where summary.labels[RuntimeLabels.podNamespace] == namespace && summary.labels[RuntimeLabels.podName] == name {
            guard var info = try? await runtime.containerStatus(summary.id) else { continue }
            info.sandboxID = summary.sandboxID
            containers.append(info)
        }
        var pods: [String: RuntimePod] = [:]
        for uid in Set(sandboxes.map(\.podUID)).union(containers.map(\.podUID)) {
            pods[uid] = RuntimePod(sandboxes: sandboxes.filter { $0.podUID == uid }, containers: containers.filter { $0.podUID == uid })
        }
        return pods
    }
}

/// The kubelet's PLEG: compares the runtime's containers and sandboxes with the last look, and queues the pods
/// whose state changed — including pods the API no longer has, whose leftovers must go.
final class RuntimeRelist: Sendable {
    let runtime: any ContainerRuntime
    let pods: Informer
    let queue: WorkQueue<String>
    /// Where the stats housekeeping finds the same listing instead of asking the runtime again.
    let snapshot: RuntimeSnapshot
    private let last = Mutex([String: String]())

    init(runtime: any ContainerRuntime, pods: Informer, queue: WorkQueue<String>, snapshot: RuntimeSnapshot) {
        self.runtime = runtime
        self.pods = pods
        self.queue = queue
        self.snapshot = snapshot
    }

    func once() async {
        // Sandboxes and containers without the kubelet's labels were made by someone else (crictl, say).
        guard let sandboxes = try? await runtime.listSandboxes().filter({ $0.labels[RuntimeLabels.podUID] != nil }),
              let containers = try? await runtime.listContainers().filter({ $0.labels[RuntimeLabels.podUID] != nil }) else { return }
        snapshot.update(sandboxes: sandboxes, containers: containers)
        var now: [String: String] = [:]
        var keys: [String: String] = [:]
        for sandbox in sandboxes {
            now["s/" + sandbox.id] = "\(sandbox.state)"
            keys["s/" + sandbox.id] = Informer.key(namespace: sandbox.podNamespace, name: sandbox.podName)
        }
        for container in containers {
            now["c/" + container.id] = "\(container.state)"
            keys["c/" + container.id] = Informer.key(namespace: container.labels[RuntimeLabels.podNamespace], name: container.labels[RuntimeLabels.podName] ?? "")
        }
        let previous = last.withLock { state in
            defer { state = now }
            return state
        }
        var changed = Set<String>()
        for (id, state) in now where previous[id] != state { if let key = keys[id] { changed.insert(key) } }
        for id in previous.keys where now[id] == nil { if let key = keys[id] { changed.insert(key) } }
        // Sandboxes of pods the API server no longer has (deleted while this kubelet was down, say).
        let known = Set(pods.list().compactMap(\.uid))
        for sandbox in sandboxes where !known.contains(sandbox.podUID) {
            changed.insert(Informer.key(namespace: sandbox.podNamespace, name: sandbox.podName))
        }
        for key in changed { queue.add(key) }
    }
}

/// The runtime's sandboxes and containers (the kubelet's own) as the last relist saw them.
final class RuntimeSnapshot: Sendable {
    private let state = Mutex<(at: ContinuousClock.Instant, sandboxes: [SandboxStatus], containers: [ContainerInfo])?>(nil)

    func update(sandboxes: [SandboxStatus], containers: [ContainerInfo]) {
        state.withLock { $0 = (ContinuousClock.now, sandboxes, containers) }
    }

    /// The listing, if one was taken within `age`.
    func recent(within age: Duration) -> (sandboxes: [SandboxStatus], containers: [ContainerInfo])? {
        state.withLock { state in
            guard let state, ContinuousClock.now - state.at <= age else { return nil }
            return (state.sandboxes, state.containers)
        }
    }
}
