import Foundation
import KeelsonAPI
import KeelsonClient
import Logging

/// Converges the runtime to one pod's spec and reports the result as the pod's status. One sync does what can be
/// done now and says when to look again; the kubelet calls it on every change of the pod or its containers.
struct PodWorker: Sendable {
    let runtime: any ContainerRuntime
    let client: any KubernetesClient
    let backoff: CrashBackoff
    let images: ImagePuller
    let probes: ProbeManager
    let nodeName: String
    let hostIP: String
    /// Where pods' volumes (`UID/volumes`) and container logs (`NS_NAME_UID/CONTAINER/N.log`) live.
    let podsDirectory: URL
    let logsDirectory: URL
    let cgroupRoot: String
    let dns: PodDNS.Settings
    let events: EventRecorder
    let logger: Logger
    /// Nanoseconds since the epoch, on the clock the runtime stamps containers with.
    var now: @Sendable () -> Int64 = { PodWorker.nowNanoseconds() }

    struct Outcome {
        /// Sync again after this long even if nothing changes (a back-off ending, say).
        var requeueAfter: Duration?
        var status: JSONValue?
    }

    func sandboxConfig(_ spec: PodSpecView, attempt: UInt32) -> SandboxConfig {
        var config = SandboxConfig(name: spec.name, namespace: spec.namespace, uid: spec.uid, attempt: attempt,
            hostname: spec.pod["spec"]?["hostname"]?.stringValue ?? String(spec.name.prefix(63)),
            logDirectory: logDirectory(spec).path, hostNetwork: spec.hostNetwork)
        config.labels = [RuntimeLabels.podName: spec.name, RuntimeLabels.podNamespace: spec.namespace, RuntimeLabels.podUID: spec.uid]
        for (key, value) in spec.pod["metadata"]?["labels"]?.objectValue ?? [:] {
            if let text = value.stringValue { config.labels[key] = text }
        }
        config.annotations = [RuntimeLabels.terminationGracePeriod: String(spec.gracePeriod)]
        config.cgroupParent = cgroupRoot.isEmpty ? "" : "\(cgroupRoot)/pod\(spec.uid)"
        if let resolver = PodDNS.forPod(spec.pod, namespace: spec.namespace, hostNetwork: spec.hostNetwork, settings: dns) {
            config.dnsServers = resolver.servers
            config.dnsSearches = resolver.searches
            config.dnsOptions = resolver.options
        }
        for container in spec.containers {
            for port in container["ports"]?.arrayValue ?? [] {
                guard let hostPort = port["hostPort"]?.intValue, hostPort > 0, let containerPort = port["containerPort"]?.intValue else { continue }
                config.ports.append(.init(containerPort: Int32(containerPort), hostPort: Int32(hostPort), hostIP: port["hostIP"]?.stringValue ?? "",
                    udp: port["protocol"]?.stringValue == "UDP"))
            }
        }
        return config
    }

    func logDirectory(_ spec: PodSpecView) -> URL {
        logsDirectory.appendingPathComponent("\(spec.namespace)_\(spec.name)_\(spec.uid)")
    }

    static func hasServiceAccountToken(_ spec: PodSpecView) -> Bool {
        (spec.pod["spec"]?["volumes"]?.arrayValue ?? []).contains { volume in
            volume["projected"]?["sources"]?.arrayValue?.contains { $0["serviceAccountToken"] != nil } == true
        }
    }

    /// One step towards the spec.
    static let volumeRetryInterval: Duration = .milliseconds(300)

    func sync(_ pod: JSONValue, _ runtimePod: RuntimePod) async throws -> Outcome {
        let spec = PodSpecView(pod)
        let phase = pod["status"]?["phase"]?.stringValue
        if phase == "Succeeded" || phase == "Failed" {
            // A finished pod keeps its containers (for logs) but gives back its sandbox and address. Its outcome
            // is settled (an evicted pod stays Evicted); only its containers' states are brought up to date.
            try await stopSandboxes(runtimePod)
            var plan = PodPlan()
            plan.finished = true
            var status = status(spec, runtimePod, plan, [:], pod)
            for key in ["phase", "reason", "message", "conditions", "podIP", "podIPs", "startTime"] { status[key] = pod["status"]?[key] }
            return Outcome(status: status)
        }
        let now = self.now()
        var plan = PodPlan.make(spec, runtime: runtimePod) { name, finishedAt in
            backoff.remaining("\(spec.uid)/\(name)", finishedAt: finishedAt, now: now)
        }
        var current = runtimePod
        var waiting: [String: (reason: String, message: String)] = [:]
        if let attempt = plan.createSandbox {
            for container in runtimePod.containers where container.state == .running {
                try await runtime.stopContainer(container.id, gracePeriod: 0)
            }
            try await stopSandboxes(runtimePod)
            try FileManager.default.createDirectory(at: logDirectory(spec), withIntermediateDirectories: true)
            let id = try await runtime.runSandbox(sandboxConfig(spec, attempt: attempt))
            current.sandboxes.insert(try await runtime.sandboxStatus(id), at: 0)
            plan = PodPlan.make(spec, runtime: current) { name, finishedAt in
                backoff.remaining("\(spec.uid)/\(name)", finishedAt: finishedAt, now: now)
            }
        }
        var requeue: Duration? = plan.backingOff.values.min()
        for name in plan.backingOff.keys.sorted() {
            event(pod, .warning, "BackOff", "Back-off restarting failed container \(name) in pod \(spec.name)_\(spec.namespace)(\(spec.uid))")
        }
        if plan.finished {
            try await stopSandboxes(current)
        } else if let sandbox = current.sandbox, sandbox.state == .ready, !plan.start.isEmpty {
            let podIP = spec.hostNetwork ? hostIP : sandbox.ip
            let volumes: [String: String]
            do {
                volumes = try await PodVolumes(spec: spec, client: client, podDirectory: podsDirectory.appendingPathComponent(spec.uid),
                    hostIP: hostIP, podIP: podIP).prepare()
            } catch {
                for start in plan.start { waiting[start.name] = ("CreateContainerConfigError", "\(error)") }
                logger.info("volumes not ready", metadata: ["pod": "\(spec.namespace)/\(spec.name)", "error": "\(error)"])
                // What a volume waits for usually comes within moments (a new namespace's kube-root-ca.crt, a
                // Secret created next to the pod): kubelet's volume manager looks again every 300 ms.
                return Outcome(requeueAfter: Self.volumeRetryInterval, status: status(spec, current, plan, waiting, pod))
            }
            let builder = ContainerConfigBuilder(spec: spec, client: client, hostIP: hostIP, podIP: podIP, volumePaths: volumes,
                logDirectory: logDirectory(spec).path)
            let sandboxConfig = sandboxConfig(spec, attempt: sandbox.attempt)
            for start in plan.start {
                guard let container = (start.isInit ? spec.initContainers : spec.containers).first(where: { $0["name"]?.stringValue == start.name })
                else { continue }
                do {
                    try await images.ensure(container, pod: spec)
                } catch let error as ImagePuller.PullError {
                    waiting[start.name] = (error.reason, error.message)
                    event(pod, .warning, error.reason == "ImagePullBackOff" ? "BackOff" : "Failed", error.message)
                    requeue = min(requeue ?? error.retryAfter, error.retryAfter)
                    continue
                }
                let config: ContainerConfig
                do {
                    config = try await builder.build(container, attempt: start.attempt)
                } catch {
                    waiting[start.name] = ("CreateContainerConfigError", "\(error)")
                    event(pod, .warning, "Failed", "Error: \(error)")
                    requeue = min(requeue ?? .seconds(2), .seconds(2))
                    continue
                }
                // Of a container's dead instances only the newest is kept (for `logs --previous` and lastState).
                for old in current.instances(of: start.name).dropFirst() where old.state == .exited {
                    try? await runtime.removeContainer(old.id)
                    current.containers.removeAll { $0.id == old.id }
                }
                let id: String
                do {
                    id = try await runtime.createContainer(in: sandbox.id, config, sandbox: sandboxConfig)
                    try await runtime.startContainer(id)
                } catch {
                    waiting[start.name] = ("RunContainerError", "\(error)")
                    event(pod, .warning, "Failed", "Error: \(error)")
                    requeue = min(requeue ?? .seconds(10), .seconds(10))
                    continue
                }
                if start.attempt > 0 {
                    backoff.restarted("\(spec.uid)/\(start.name)", now: current.latest(start.name)?.finishedAt ?? now)
                }
                event(pod, .normal, "Started", "Started container \(start.name)")
                current.containers.append(try await runtime.containerStatus(id).with(sandboxID: sandbox.id))
                probes.containerStarted(pod: spec, container: container, id: id, podIP: podIP)
                // Init containers run one at a time: the next starts once this one is done.
                if start.isInit && !PodSpecView.isSidecar(container) { break }
            }
            // A just-started sidecar lets the next init container start right away.
            if plan.start.contains(where: { $0.isInit }) { requeue = min(requeue ?? .milliseconds(100), .milliseconds(100)) }
        }
        // Probes end with their container; containers this kubelet did not start (it restarted since) get theirs back.
        for ended in current.containers where ended.state == .exited && probes.isTracking(containerID: ended.id) {
            probes.containerGone(id: ended.id)
        }
        if let sandbox = current.sandbox, sandbox.state == .ready {
            for running in current.containers where running.state == .running && !probes.isTracking(containerID: running.id) {
                guard let container = (spec.containers + spec.initContainers).first(where: { $0["name"]?.stringValue == running.name }),
                      container["readinessProbe"] != nil || container["livenessProbe"] != nil || container["startupProbe"] != nil else { continue }
                probes.containerStarted(pod: spec, container: container, id: running.id,
                    podIP: spec.hostNetwork ? hostIP : sandbox.ip, adopted: true)
            }
            // Service account tokens expire: running pods get new ones before that, and the worker comes back then.
            if plan.start.isEmpty, Self.hasServiceAccountToken(spec) {
                let volumes = PodVolumes(spec: spec, client: client, podDirectory: podsDirectory.appendingPathComponent(spec.uid),
                    hostIP: hostIP, podIP: spec.hostNetwork ? hostIP : sandbox.ip)
                do {
                    if let due = try await volumes.refreshTokens() {
                        let wait = Duration.seconds(max(1, Int64(due.timeIntervalSinceNow)))
                        requeue = min(requeue ?? wait, wait)
                    }
                } catch {
                    logger.warning("cannot renew a service account token", metadata: ["pod": "\(spec.namespace)/\(spec.name)", "error": "\(error)"])
                    requeue = min(requeue ?? .seconds(10), .seconds(10))
                }
            }
        }
        return Outcome(requeueAfter: requeue, status: status(spec, current, plan, waiting, pod))
    }

    private func status(_ spec: PodSpecView, _ runtimePod: RuntimePod, _ plan: PodPlan,
        _ waiting: [String: (reason: String, message: String)], _ pod: JSONValue) -> JSONValue
    {
        var readiness: [String: Bool] = [:]
        for container in spec.containers {
            let name = container["name"]?.stringValue ?? ""
            if let latest = runtimePod.latest(name), latest.state == .running { readiness[name] = probes.isReady(containerID: latest.id) }
        }
        var waitingReasons = waiting
        for (name, reason) in images.failures(pod: spec.uid) where waitingReasons[name] == nil { waitingReasons[name] = reason }
        return PodStatusBuilder(spec: spec, runtime: runtimePod, plan: plan, waitingReasons: waitingReasons, readiness: readiness,
            hostIP: hostIP, previous: pod["status"]).build()
    }

    private func event(_ pod: JSONValue, _ type: EventRecorder.EventType, _ reason: String, _ message: String) {
        events.record(pod, apiVersion: "v1", kind: "Pod", type, reason: reason, message: message)
    }

    /// Stops every container (SIGTERM, SIGKILL after the grace period, preStop hooks first) and the sandbox, then
    /// removes them: the pod is gone from the node.
    func terminate(_ pod: JSONValue?, _ runtimePod: RuntimePod, gracePeriod: Int64) async throws {
        let spec = pod.map(PodSpecView.init)
        if let pod {
            for container in runtimePod.containers where container.state == .running {
                event(pod, .normal, "Killing", "Stopping container \(container.name)")
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for container in runtimePod.containers where container.state == .running {
                group.addTask {
                    if let spec, let definition = (spec.containers + spec.initContainers).first(where: { $0["name"]?.stringValue == container.name }),
                       let hook = definition["lifecycle"]?["preStop"] {
                        await probes.runHook(hook, containerID: container.id, pod: spec, timeout: gracePeriod)
                    }
                    try await runtime.stopContainer(container.id, gracePeriod: gracePeriod)
                }
            }
            try await group.waitForAll()
        }
        for container in runtimePod.containers {
            probes.containerGone(id: container.id)
            try? await runtime.removeContainer(container.id)
        }
        try await stopSandboxes(runtimePod)
        for sandbox in runtimePod.sandboxes { try await runtime.removeSandbox(sandbox.id) }
        if let uid = runtimePod.sandboxes.first?.podUID ?? runtimePod.containers.first?.podUID, !uid.isEmpty {
            backoff.forget(prefix: "\(uid)/")
            images.forget(pod: uid)
            MemoryVolume.unmountAll(under: podsDirectory.appendingPathComponent(uid).path)
            try? FileManager.default.removeItem(at: podsDirectory.appendingPathComponent(uid))
            if !cgroupRoot.isEmpty { CgroupCleanup.remove("\(cgroupRoot)/pod\(uid)") }
        }
        if let spec { try? FileManager.default.removeItem(at: logDirectory(spec)) }
    }

    private func stopSandboxes(_ runtimePod: RuntimePod) async throws {
        for sandbox in runtimePod.sandboxes where sandbox.state == .ready { try await runtime.stopSandbox(sandbox.id) }
    }

    static func nowNanoseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e9) }
}

extension ContainerInfo {
    func with(sandboxID: String) -> ContainerInfo {
        var copy = self
        if copy.sandboxID.isEmpty { copy.sandboxID = sandboxID }
        return copy
    }
}

/// Pod cgroups are the kubelet's to remove once the runtime has stopped everything in them (cgroup v1 keeps one
/// directory per controller; v2 one in the unified tree).
enum CgroupCleanup {
    static func remove(_ relative: String) {
        let root = "/sys/fs/cgroup"
        let controllers = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for directory in [root] + controllers.map({ "\(root)/\($0)" }) {
            let path = directory + relative
            // Children first: rmdir only removes empty cgroups.
            if let children = FileManager.default.enumerator(atPath: path)?.allObjects as? [String] {
                for child in children.sorted(by: { $0.count > $1.count }) { rmdir(path + "/" + child) }
            }
            rmdir(path)
        }
    }
}
