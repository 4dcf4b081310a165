import KeelsonAPI
import Testing

@testable import KeelsonKubelet

/// The pod worker's decisions, rule by rule, without a runtime.
@Suite("Pod plan")
struct PodPlanTests {
    static func pod(restartPolicy: String = "Always", initContainers: [JSONValue] = [], containers: [String] = ["main"]) -> PodSpecView {
        var spec: [String: JSONValue] = ["restartPolicy": .string(restartPolicy),
                                         "containers": .array(containers.map { ["name": .string($0), "image": "busybox"] })]
        if !initContainers.isEmpty { spec["initContainers"] = .array(initContainers) }
        return PodSpecView(["metadata": ["name": "p", "namespace": "default", "uid": "u1"], "spec": .object(spec)])
    }

    static let sandbox = SandboxStatus(id: "s1", podUID: "u1", podName: "p", podNamespace: "default", attempt: 0, state: .ready,
        createdAt: 1, ip: "10.42.0.2")

    static func container(_ name: String, _ state: ContainerState, attempt: UInt32 = 0, exitCode: Int32 = 0) -> ContainerInfo {
        var info = ContainerInfo(id: "\(name)-\(attempt)", sandboxID: "s1", name: name, attempt: attempt, state: state, createdAt: Int64(attempt) + 1)
        info.exitCode = exitCode
        info.finishedAt = state == .exited ? 100 : 0
        return info
    }

    static func plan(_ spec: PodSpecView, _ runtime: RuntimePod, backoff: Duration? = nil) -> PodPlan {
        PodPlan.make(spec, runtime: runtime) { _, _ in backoff }
    }

    @Test("a new pod gets a sandbox first; its containers start once the sandbox is there")
    func newPod() {
        let spec = Self.pod(containers: ["a", "b"])
        #expect(Self.plan(spec, RuntimePod()).createSandbox == 0)
        let started = Self.plan(spec, RuntimePod(sandboxes: [Self.sandbox]))
        #expect(started.createSandbox == nil)
        #expect(started.start.map(\.name) == ["a", "b"])
        #expect(started.start.allSatisfy { $0.attempt == 0 && !$0.isInit })
    }

    @Test("init containers run one at a time, in order, and the regular ones only after the last succeeded")
    func initContainersInOrder() {
        let spec = Self.pod(initContainers: [["name": "first"], ["name": "second"]], containers: ["main"])
        var runtime = RuntimePod(sandboxes: [Self.sandbox])
        #expect(Self.plan(spec, runtime).start.map(\.name) == ["first"])
        runtime.containers = [Self.container("first", .running)]
        #expect(Self.plan(spec, runtime).start.isEmpty, "nothing starts while an init container runs")
        runtime.containers = [Self.container("first", .exited)]
        #expect(Self.plan(spec, runtime).start.map(\.name) == ["second"])
        runtime.containers += [Self.container("second", .exited)]
        #expect(Self.plan(spec, runtime).start.map(\.name) == ["main"])
    }

    @Test("a failed init container is retried, unless the pod never restarts: then the pod is finished")
    func failedInitContainer() {
        let failed = RuntimePod(sandboxes: [Self.sandbox], containers: [Self.container("setup", .exited, exitCode: 1)])
        let retried = Self.plan(Self.pod(initContainers: [["name": "setup"]]), failed)
        #expect(retried.start == [PodPlan.Start(name: "setup", isInit: true, attempt: 1)])
        let never = Self.plan(Self.pod(restartPolicy: "Never", initContainers: [["name": "setup"]]), failed)
        #expect(never.finished && never.start.isEmpty)
    }

    @Test("a sidecar (init container with restartPolicy Always) lets the next one start while it runs, and is restarted")
    func sidecars() {
        let spec = Self.pod(initContainers: [["name": "proxy", "restartPolicy": "Always"], ["name": "migrate"]], containers: ["main"])
        var runtime = RuntimePod(sandboxes: [Self.sandbox], containers: [Self.container("proxy", .running)])
        #expect(Self.plan(spec, runtime).start.map(\.name) == ["migrate"])
        runtime.containers = [Self.container("proxy", .running), Self.container("migrate", .exited)]
        #expect(Self.plan(spec, runtime).start.map(\.name) == ["main"])
        runtime.containers = [Self.container("proxy", .exited, exitCode: 0), Self.container("migrate", .exited), Self.container("main", .running)]
        #expect(Self.plan(spec, runtime).start == [PodPlan.Start(name: "proxy", isInit: true, attempt: 1)])
    }

    @Test("restart policies: Always restarts any exit, OnFailure only failures, Never none")
    func restartPolicies() {
        let succeeded = RuntimePod(sandboxes: [Self.sandbox], containers: [Self.container("main", .exited, attempt: 2, exitCode: 0)])
        let failed = RuntimePod(sandboxes: [Self.sandbox], containers: [Self.container("main", .exited, attempt: 2, exitCode: 3)])
        #expect(Self.plan(Self.pod(restartPolicy: "Always"), succeeded).start.map(\.attempt) == [3])
        #expect(Self.plan(Self.pod(restartPolicy: "OnFailure"), failed).start.map(\.attempt) == [3])
        let done = Self.plan(Self.pod(restartPolicy: "OnFailure"), succeeded)
        #expect(done.start.isEmpty && done.finished)
        let never = Self.plan(Self.pod(restartPolicy: "Never"), failed)
        #expect(never.start.isEmpty && never.finished)
    }

    @Test("a crashed container waiting out its back-off is not started, and the wait is reported")
    func backoff() {
        let failed = RuntimePod(sandboxes: [Self.sandbox], containers: [Self.container("main", .exited, attempt: 1, exitCode: 1)])
        let plan = Self.plan(Self.pod(), failed, backoff: .seconds(7))
        #expect(plan.start.isEmpty)
        #expect(plan.backingOff == ["main": .seconds(7)])
        #expect(!plan.finished)
    }

    @Test("a dead sandbox is replaced with the next attempt, unless the pod is done")
    func deadSandbox() {
        var dead = Self.sandbox
        dead.state = .notReady
        dead.attempt = 2
        let running = RuntimePod(sandboxes: [dead], containers: [Self.container("main", .exited, exitCode: 137)])
        #expect(Self.plan(Self.pod(), running).createSandbox == 3)
        let completed = RuntimePod(sandboxes: [dead], containers: [Self.container("main", .exited, exitCode: 0)])
        #expect(Self.plan(Self.pod(restartPolicy: "OnFailure"), completed).finished)
        #expect(Self.plan(Self.pod(restartPolicy: "Never"), running).finished)
        #expect(Self.plan(Self.pod(restartPolicy: "OnFailure"), running).createSandbox == 3, "a failed container is retried in a new sandbox")
    }
}
