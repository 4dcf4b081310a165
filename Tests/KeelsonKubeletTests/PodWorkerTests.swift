import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Testing

@testable import KeelsonKubelet

/// The pod worker against the fake runtime: the state machine from a new pod to running containers, restarts
/// with back-off, image failures, configuration errors and termination, with the statuses it reports.
struct PodWorkerFixture {
    let api = FakeKubernetesAPI()
    let runtime = FakeContainerRuntime(images: ["busybox:1"])
    let worker: PodWorker
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-kubelet-\(UUID().uuidString)")

    init() {
        let runtime = self.runtime
        var worker = PodWorker(runtime: runtime, client: api, backoff: CrashBackoff(), images: ImagePuller(runtime: runtime, client: api),
            probes: ProbeManager(runtime: runtime, logger: InformerFixture.logger) { _ in }, nodeName: "node-1", hostIP: "192.0.2.10",
            podsDirectory: directory.appendingPathComponent("pods"), logsDirectory: directory.appendingPathComponent("logs"),
            cgroupRoot: "", dns: .init(clusterServers: ["10.43.0.10"]), events: EventRecorder(client: api, component: "kubelet", logger: InformerFixture.logger),
            logger: InformerFixture.logger)
        worker.now = { runtime.now }
        self.worker = worker
    }

    static func pod(_ containers: [JSONValue], restartPolicy: String = "Always", extra: [String: JSONValue] = [:]) -> JSONValue {
        var spec: [String: JSONValue] = ["restartPolicy": .string(restartPolicy), "containers": .array(containers), "nodeName": "node-1"]
        for (key, value) in extra { spec[key] = value }
        return ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "web", "namespace": "default", "uid": "u1"], "spec": .object(spec),
                "status": ["phase": "Pending", "conditions": [["type": "PodScheduled", "status": "True"]]]]
    }

    /// One sync with what the runtime has now; the returned pod carries the reported status, as the API would.
    func sync(_ pod: JSONValue) async throws -> (pod: JSONValue, outcome: PodWorker.Outcome) {
        let runtimePod = RuntimePod(sandboxes: try await runtime.listSandboxes(), containers: try await runtime.listContainers())
        let outcome = try await worker.sync(pod, runtimePod)
        var updated = pod
        if let status = outcome.status { updated["status"] = status }
        return (updated, outcome)
    }

    func cleanUp() { try? FileManager.default.removeItem(at: directory) }
}

@Suite("Pod worker")
struct PodWorkerTests {
    static func state(_ pod: JSONValue, _ container: Int = 0) -> JSONValue? {
        pod["status"]?["containerStatuses"]?.arrayValue?[container]["state"]
    }

    @Test("a new pod: sandbox, then its container; Running with the sandbox's address, conditions True")
    func startsAPod() async throws {
        let f = PodWorkerFixture()
        defer { f.cleanUp() }
        var (pod, _) = try await f.sync(PodWorkerFixture.pod([["name": "main", "image": "busybox:1", "command": ["sleep", "1000"]]]))
        #expect(f.runtime.calls == ["runSandbox web", "create main", "start main"])
        #expect(pod["status"]?["phase"] == "Running")
        #expect(pod["status"]?["podIP"] == "10.42.0.2")
        #expect(pod["status"]?["hostIP"] == "192.0.2.10")
        #expect(Self.state(pod)?["running"] != nil)
        let conditions = pod["status"]?["conditions"]?.arrayValue ?? []
        for type in ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"] {
            #expect(conditions.contains { $0["type"]?.stringValue == type && $0["status"] == "True" }, "\(type)")
        }
        // A second sync with nothing changed does nothing and reports the same status.
        let before = pod["status"]
        (pod, _) = try await f.sync(pod)
        #expect(f.runtime.calls.count == 3)
        #expect(pod["status"] == before)
    }

    @Test("a crashing container restarts at once, then waits 10 s, then 20 s (CrashLoopBackOff in between)")
    func crashLoopBackoff() async throws {
        let f = PodWorkerFixture()
        defer { f.cleanUp() }
        var (pod, _) = try await f.sync(PodWorkerFixture.pod([["name": "main", "image": "busybox:1"]]))
        f.runtime.exit("main", code: 1)
        (pod, _) = try await f.sync(pod)
        #expect(pod["status"]?["containerStatuses"]?.arrayValue?[0]["restartCount"] == 1, "the first restart is immediate")
        f.runtime.advance(seconds: 1)
        f.runtime.exit("main", code: 1)
        var outcome: PodWorker.Outcome
        (pod, outcome) = try await f.sync(pod)
        #expect(Self.state(pod)?["waiting"]?["reason"] == "CrashLoopBackOff")
        #expect(pod["status"]?["containerStatuses"]?.arrayValue?[0]["lastState"]?["terminated"]?["exitCode"] == 1)
        #expect(outcome.requeueAfter == .seconds(10))
        #expect(pod["status"]?["phase"] == "Running", "a restarting pod stays Running")
        f.runtime.advance(seconds: 10)
        (pod, _) = try await f.sync(pod)
        #expect(pod["status"]?["containerStatuses"]?.arrayValue?[0]["restartCount"] == 2)
        f.runtime.advance(seconds: 1)
        f.runtime.exit("main", code: 1)
        (pod, outcome) = try await f.sync(pod)
        #expect(outcome.requeueAfter == .seconds(20), "the back-off doubles")
        #expect(f.runtime.containers.filter { $0.name == "main" }.count == 2, "only the newest dead instance is kept")
    }

    @Test("restartPolicy Never: a failed container makes the pod Failed, and its sandbox is stopped")
    func neverRestart() async throws {
        let f = PodWorkerFixture()
        defer { f.cleanUp() }
        var (pod, _) = try await f.sync(PodWorkerFixture.pod([["name": "job", "image": "busybox:1"]], restartPolicy: "Never"))
        f.runtime.exit("job", code: 2)
        (pod, _) = try await f.sync(pod)
        #expect(pod["status"]?["phase"] == "Failed")
        #expect(Self.state(pod)?["terminated"]?["exitCode"] == 2)
        #expect(Self.state(pod)?["terminated"]?["reason"] == "Error")
        #expect(f.runtime.calls.last == "stopSandbox web")
        #expect(f.runtime.sandboxes.allSatisfy { $0.state == .notReady })
    }

    @Test("an image that is missing and cannot be pulled: ErrImagePull, then ImagePullBackOff; a pull that works starts it")
    func imagePullFailures() async throws {
        let f = PodWorkerFixture()
        defer { f.cleanUp() }
        let spec = PodWorkerFixture.pod([["name": "main", "image": "registry.test/app:1"]])
        var (pod, outcome) = try await f.sync(spec)
        #expect(Self.state(pod)?["waiting"]?["reason"] == "ErrImagePull")
        #expect(outcome.requeueAfter != nil)
        (pod, _) = try await f.sync(pod)
        #expect(Self.state(pod)?["waiting"]?["reason"] == "ImagePullBackOff")
        #expect(pod["status"]?["phase"] == "Pending")
        #expect(f.runtime.calls.filter { $0.hasPrefix("pull") }.count == 1, "no second pull during the back-off")
    }

    @Test("a volume whose ConfigMap is missing holds the container, and the worker looks again within 300 ms, as kubelet's volume manager does")
    func volumeRetry() async throws {
        let f = PodWorkerFixture()
        defer { f.cleanUp() }
        let pod = PodWorkerFixture.pod([["name": "main", "image": "busybox:1", "volumeMounts": [["name": "config", "mountPath": "/etc/config"]]]],
            extra: ["volumes": [["name": "config", "configMap": ["name": "arrives-later"]]]])
        var (synced, outcome) = try await f.sync(pod)
        #expect(Self.state(synced)?["waiting"]?["reason"] == "CreateContainerConfigError")
        #expect(outcome.requeueAfter == .milliseconds(300))
        #expect(!f.runtime.calls.contains("create main"))
        f.api.seed(.configMaps, ["metadata": ["name": "arrives-later", "namespace": "default"], "data": ["k": "v"]])
        (synced, outcome) = try await f.sync(synced)
        #expect(Self.state(synced)?["running"] != nil, "\(synced)")
    }

    @Test("a missing ConfigMap key is CreateContainerConfigError; env from ConfigMaps, Secrets and the pod's fields, with $(VAR)")
    func environment() async throws {
        let f = PodWorkerFixture()
        defer { f.cleanUp() }
        f.api.seed(.configMaps, ["metadata": ["name": "settings", "namespace": "default"], "data": ["color": "blue"]])
        f.api.seed(.secrets, ["metadata": ["name": "creds", "namespace": "default"], "data": ["token": .string(Data("t0k".utf8).base64EncodedString())]])
        let broken = PodWorkerFixture.pod([["name": "main", "image": "busybox:1",
            "env": [["name": "X", "valueFrom": ["configMapKeyRef": ["name": "settings", "key": "size"]]]]]])
        let (pod, _) = try await f.sync(broken)
        #expect(Self.state(pod)?["waiting"]?["reason"] == "CreateContainerConfigError")
        #expect(Self.state(pod)?["waiting"]?["message"]?.stringValue?.contains("size") == true)

        let spec = PodSpecView(PodWorkerFixture.pod([]))
        let builder = ContainerConfigBuilder(spec: spec, client: f.api, hostIP: "192.0.2.10", podIP: "10.42.0.9", volumePaths: [:], logDirectory: "")
        let config = try await builder.build(["name": "main", "image": "busybox:1",
            "envFrom": [["configMapRef": ["name": "settings"], "prefix": "CM_"]],
            "env": [["name": "TOKEN", "valueFrom": ["secretKeyRef": ["name": "creds", "key": "token"]]],
                    ["name": "NAME", "valueFrom": ["fieldRef": ["fieldPath": "metadata.name"]]],
                    ["name": "IP", "valueFrom": ["fieldRef": ["fieldPath": "status.podIP"]]],
                    ["name": "GREETING", "value": "$(NAME) at $(IP)"]],
            "args": ["$(GREETING)", "$$(NAME)", "$(UNKNOWN)"],
            "resources": ["limits": ["cpu": "500m", "memory": "64Mi"]]], attempt: 2)
        #expect(config.env.map { "\($0.0)=\($0.1)" } == ["CM_color=blue", "TOKEN=t0k", "NAME=web", "IP=10.42.0.9", "GREETING=web at 10.42.0.9"])
        #expect(config.args == ["web at 10.42.0.9", "$(NAME)", "$(UNKNOWN)"])
        #expect(config.cpuQuota == 50_000 && config.cpuPeriod == 100_000)
        #expect(config.cpuShares == 512, "requests default to limits")
        #expect(config.memoryLimit == 64 * 1024 * 1024)
        #expect(config.logPath == "main/2.log")
        #expect(config.labels[RuntimeLabels.podUID] == "u1")
    }

    @Test("termination stops the containers and removes them and the sandbox")
    func terminate() async throws {
        let f = PodWorkerFixture()
        defer { f.cleanUp() }
        let (pod, _) = try await f.sync(PodWorkerFixture.pod([["name": "a", "image": "busybox:1"], ["name": "b", "image": "busybox:1"]]))
        let runtimePod = RuntimePod(sandboxes: try await f.runtime.listSandboxes(), containers: try await f.runtime.listContainers())
        try await f.worker.terminate(pod, runtimePod, gracePeriod: 30)
        #expect(f.runtime.containers.isEmpty)
        #expect(f.runtime.sandboxes.isEmpty)
        #expect(Set(f.runtime.calls.filter { $0.hasPrefix("stop ") }) == ["stop a", "stop b"])
    }

    @Test("QoS class: Guaranteed when limits equal requests for every container, BestEffort with none, else Burstable")
    func qosClass() {
        func qos(_ resources: [JSONValue]) -> String {
            let spec = PodSpecView(PodWorkerFixture.pod(resources.map { ["name": "c", "image": "busybox:1", "resources": $0] }))
            return PodStatusBuilder(spec: spec, runtime: RuntimePod(), plan: PodPlan(), waitingReasons: [:], readiness: [:], hostIP: "",
                previous: nil).qosClass()
        }
        #expect(qos([[:]]) == "BestEffort")
        #expect(qos([["limits": ["cpu": "1", "memory": "1Gi"]]]) == "Guaranteed")
        #expect(qos([["limits": ["cpu": "1", "memory": "1Gi"], "requests": ["cpu": "1000m", "memory": "1Gi"]]]) == "Guaranteed")
        #expect(qos([["requests": ["cpu": "100m"]]]) == "Burstable")
        #expect(qos([["limits": ["cpu": "1", "memory": "1Gi"]], [:]]) == "Burstable")
    }
}

@Suite("Crash back-off")
struct CrashBackoffTests {
    @Test("the first restart is free; then 10 s doubling to the cap; a long run resets it")
    func sequence() {
        let backoff = CrashBackoff(initial: .seconds(10), maximum: .seconds(40))
        let second: Int64 = 1_000_000_000
        #expect(backoff.remaining("k", finishedAt: 0, now: 0) == nil)
        backoff.restarted("k", now: 0)
        #expect(backoff.remaining("k", finishedAt: 5 * second, now: 5 * second) == .seconds(10))
        #expect(backoff.remaining("k", finishedAt: 5 * second, now: 12 * second) == .seconds(3))
        for _ in 0..<4 { backoff.restarted("k", now: 20 * second) }
        #expect(backoff.remaining("k", finishedAt: 25 * second, now: 25 * second) == .seconds(40), "capped")
        #expect(backoff.remaining("k", finishedAt: 200 * second, now: 200 * second) == nil, "ran for more than twice the cap")
    }
}
