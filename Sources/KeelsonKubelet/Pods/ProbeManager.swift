import AsyncHTTPClient
import Foundation
import KeelsonAPI
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Runs each container's startup, readiness and liveness probes (exec, httpGet, tcpSocket, grpc) and its postStart and
/// preStop hooks. Readiness is what the pod status reports; a failed liveness probe stops the container, which
/// the pod worker then restarts under the pod's restart policy — as kubelet's prober does.
final class ProbeManager: Sendable {
    let runtime: any ContainerRuntime
    let logger: Logger
    /// Called with the pod's key when a probe result changes what the pod status should say.
    let onChange: @Sendable (String) -> Void
    /// The process-wide client (redirects followed, as kubelet's prober does); each probe sets its own deadline.
    private var http: HTTPClient { .shared }
    private struct Entry {
        var ready: Bool
        var task: Task<Void, Never>?
    }
    private let entries = Mutex([String: Entry]())

    init(runtime: any ContainerRuntime, logger: Logger, onChange: @escaping @Sendable (String) -> Void) {
        self.runtime = runtime
        self.logger = logger
        self.onChange = onChange
    }

    func shutdown() async {
        let tasks = entries.withLock { entries in
            defer { entries.removeAll() }
            return entries.values.compactMap(\.task)
        }
        for task in tasks { task.cancel() }
    }

    /// Readiness as last probed; a container without a readiness probe is ready once its startup probe passed.
    func isReady(containerID: String) -> Bool {
        entries.withLock { $0[containerID]?.ready ?? true }
    }

    /// Whether the container's probes are running (they are not for containers adopted after a restart).
    func isTracking(containerID: String) -> Bool { entries.withLock { $0[containerID] != nil } }

    /// Starts the container's hooks and probes; `adopted` (found running after a kubelet restart) skips postStart,
    /// which ran when the container started.
    func containerStarted(pod: PodSpecView, container: JSONValue, id: String, podIP: String = "", adopted: Bool = false) {
        let key = "\(pod.namespace)/\(pod.name)"
        let readiness = container["readinessProbe"]
        let liveness = container["livenessProbe"]
        let startup = container["startupProbe"]
        let postStart = adopted ? nil : container["lifecycle"]?["postStart"]
        guard readiness != nil || liveness != nil || startup != nil || postStart != nil else { return }
        entries.withLock { $0[id] = Entry(ready: readiness == nil && startup == nil, task: nil) }
        let task = Task { [self] in
            if let postStart {
                await runHook(postStart, containerID: id, pod: pod, timeout: 30, podIP: podIP, container: container)
            }
            if let startup {
                guard await loop(startup, id: id, pod: pod, container: container, podIP: podIP, until: true) else {
                    await kill(id, pod: pod, reason: "startup")
                    return
                }
                if readiness == nil { setReady(id, true, key: key) }
            }
            await withTaskGroup(of: Void.self) { group in
                if let readiness {
                    group.addTask { [self] in
                        await watch(readiness, id: id, pod: pod, container: container, podIP: podIP) { ok in self.setReady(id, ok, key: key) }
                    }
                }
                if let liveness {
                    group.addTask { [self] in
                        await watch(liveness, id: id, pod: pod, container: container, podIP: podIP) { ok in
                            if !ok { Task { await self.kill(id, pod: pod, reason: "liveness") } }
                        }
                    }
                }
            }
        }
        entries.withLock { $0[id]?.task = task }
    }

    func containerGone(id: String) {
        let task = entries.withLock { $0.removeValue(forKey: id)?.task }
        task?.cancel()
    }

    private func setReady(_ id: String, _ ready: Bool, key: String) {
        let changed = entries.withLock { entries -> Bool in
            guard entries[id] != nil, entries[id]?.ready != ready else { return false }
            entries[id]?.ready = ready
            return true
        }
        if changed { onChange(key) }
    }

    private func kill(_ id: String, pod: PodSpecView, reason: String) async {
        logger.info("container failed its \(reason) probe; stopping it", metadata: ["pod": "\(pod.namespace)/\(pod.name)", "container": "\(id)"])
        try? await runtime.stopContainer(id, gracePeriod: pod.gracePeriod)
        onChange("\(pod.namespace)/\(pod.name)")
    }

    /// Probes until the result reaches `until` (success threshold met) or the failure threshold is crossed.
    private func loop(_ probe: JSONValue, id: String, pod: PodSpecView, container: JSONValue, podIP: String, until: Bool) async -> Bool {
        let settings = Settings(probe)
        if settings.initialDelay > .zero { try? await Task.sleep(for: settings.initialDelay) }
        var failures = 0
        while !Task.isCancelled {
            if await run(probe, id: id, pod: pod, container: container, podIP: podIP, timeout: settings.timeout) { return true }
            failures += 1
            if failures >= settings.failureThreshold { return false }
            try? await Task.sleep(for: settings.period)
        }
        return false
    }

    /// Probes every period and reports each change of the thresholded result.
    private func watch(_ probe: JSONValue, id: String, pod: PodSpecView, container: JSONValue, podIP: String,
        report: @escaping @Sendable (Bool) -> Void) async
    {
        let settings = Settings(probe)
        if settings.initialDelay > .zero { try? await Task.sleep(for: settings.initialDelay) }
        var successes = 0
        var failures = 0
        var last: Bool?
        while !Task.isCancelled {
            let ok = await run(probe, id: id, pod: pod, container: container, podIP: podIP, timeout: settings.timeout)
            if ok { successes += 1; failures = 0 } else { failures += 1; successes = 0 }
            if ok && successes >= settings.successThreshold && last != true { last = true; report(true) }
            if !ok && failures >= settings.failureThreshold && last != false { last = false; report(false) }
            try? await Task.sleep(for: settings.period)
        }
    }

    struct Settings {
        var initialDelay: Duration
        var period: Duration
        var timeout: Duration
        var successThreshold: Int
        var failureThreshold: Int

        init(_ probe: JSONValue) {
            initialDelay = .seconds(probe["initialDelaySeconds"]?.intValue ?? 0)
            period = .seconds(max(1, probe["periodSeconds"]?.intValue ?? 10))
            timeout = .seconds(max(1, probe["timeoutSeconds"]?.intValue ?? 1))
            successThreshold = Int(max(1, probe["successThreshold"]?.intValue ?? 1))
            failureThreshold = Int(max(1, probe["failureThreshold"]?.intValue ?? 3))
        }
    }

    /// One probe (or hook handler): exec in the container, an HTTP GET, a TCP connect, or a gRPC health check.
    func run(_ handler: JSONValue, id: String, pod: PodSpecView, container: JSONValue, podIP: String, timeout: Duration) async -> Bool {
        if let command = handler["exec"]?["command"]?.arrayValue?.compactMap(\.stringValue) {
            let result = try? await runtime.execSync(id, command: command, timeout: max(1, timeout.components.seconds))
            return result?.exitCode == 0
        }
        if let get = handler["httpGet"] {
            guard let port = Self.port(get["port"], container: container) else { return false }
            let host = get["host"]?.stringValue ?? podIP
            let scheme = (get["scheme"]?.stringValue ?? "HTTP").lowercased()
            let path = get["path"]?.stringValue ?? "/"
            var request = HTTPClientRequest(url: "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)\(path.hasPrefix("/") ? path : "/" + path)")
            request.headers.add(name: "User-Agent", value: "kube-probe/1.32")
            for header in get["httpHeaders"]?.arrayValue ?? [] {
                if let name = header["name"]?.stringValue, let value = header["value"]?.stringValue { request.headers.replaceOrAdd(name: name, value: value) }
            }
            guard let response = try? await http.execute(request, timeout: .nanoseconds(Int64(CrashBackoff.nanoseconds(timeout)))) else { return false }
            _ = try? await response.body.collect(upTo: 10 * 1024)
            return (200..<400).contains(Int(response.status.code))
        }
        if let socket = handler["tcpSocket"] {
            guard let port = Self.port(socket["port"], container: container) else { return false }
            let host = socket["host"]?.stringValue ?? podIP
            let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.nanoseconds(CrashBackoff.nanoseconds(timeout)))
            guard let channel = try? await bootstrap.connect(host: host, port: port).get() else { return false }
            try? await channel.close()
            return true
        }
        if let grpc = handler["grpc"] {
            guard let port = grpc["port"]?.intValue else { return false }
            return await GRPCHealthProbe.isServing(host: podIP, port: Int(port), service: grpc["service"]?.stringValue ?? "", timeout: timeout)
        }
        logger.warning("unsupported probe or hook handler", metadata: ["pod": "\(pod.namespace)/\(pod.name)"])
        return false
    }

    func runHook(_ hook: JSONValue, containerID: String, pod: PodSpecView, timeout: Int64, podIP: String = "",
        container: JSONValue = [:]) async
    {
        if let sleep = hook["sleep"]?["seconds"]?.intValue {
            try? await Task.sleep(for: .seconds(min(sleep, timeout)))
            return
        }
        _ = await run(hook, id: containerID, pod: pod, container: container, podIP: podIP, timeout: .seconds(max(1, timeout)))
    }

    /// A probe's port: a number or the name of one of the container's ports.
    static func port(_ value: JSONValue?, container: JSONValue) -> Int? {
        if let number = value?.intValue { return Int(number) }
        guard let name = value?.stringValue else { return nil }
        if let number = Int(name) { return number }
        return (container["ports"]?.arrayValue ?? []).first { $0["name"]?.stringValue == name }?["containerPort"]?.intValue.map(Int.init)
    }
}
