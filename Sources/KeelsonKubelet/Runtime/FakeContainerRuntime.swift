import Foundation
import Synchronization

/// An in-memory container runtime with CRI's semantics, for unit tests of the pod workers: sandboxes get
/// addresses, containers go created → running → exited, and a test makes a container exit (`exit`) or an image
/// missing (`images`) to drive the kubelet through restarts and failures. Every call is recorded.
public final class FakeContainerRuntime: ContainerRuntime {
    struct State {
        var sandboxes: [String: SandboxStatus] = [:]
        var containers: [String: ContainerInfo] = [:]
        var images: [String: String] = [:]
        var pullable: Set<String> = []
        var imageSizes: [String: UInt64] = [:]
        var calls: [String] = []
        var nextID = 0
        var clock: Int64 = 1_000_000_000_000
    }
    private let state = Mutex(State())

    public init(images: [String] = []) {
        state.withLock { s in
            for image in images { s.images[image] = "sha256:\(image.hashValue.magnitude)" }
        }
    }

    /// Calls so far, as `verb name` (`runSandbox web`, `start web`, `stop web`, …).
    public var calls: [String] { state.withLock { $0.calls } }
    public var containers: [ContainerInfo] { state.withLock { Array($0.containers.values) } }
    public var sandboxes: [SandboxStatus] { state.withLock { Array($0.sandboxes.values) } }

    /// Makes an image pullable (it is present only after a pull).
    public func allowPull(_ image: String) { _ = state.withLock { $0.pullable.insert(image) } }

    /// Advances the runtime's clock (container timestamps), in seconds.
    public func advance(seconds: Double) { state.withLock { $0.clock += Int64(seconds * 1e9) } }

    public var now: Int64 { state.withLock { $0.clock } }

    /// The running container named `name` exits with `code`.
    public func exit(_ name: String, code: Int32) {
        state.withLock { s in
            guard let id = s.containers.values.filter({ $0.name == name && $0.state == .running }).max(by: { $0.attempt < $1.attempt })?.id
            else { return }
            s.containers[id]?.state = .exited
            s.containers[id]?.exitCode = code
            s.containers[id]?.finishedAt = s.clock
        }
    }

    /// The sandbox dies (its node rebooted, say); its containers with it.
    public func killSandboxes() {
        state.withLock { s in
            for id in s.sandboxes.keys { s.sandboxes[id]?.state = .notReady }
            for id in s.containers.keys where s.containers[id]?.state == .running {
                s.containers[id]?.state = .exited
                s.containers[id]?.exitCode = 137
                s.containers[id]?.finishedAt = s.clock
            }
        }
    }

    public func version() async throws -> RuntimeVersion { RuntimeVersion(name: "fake", version: "1.0") }
    public func status() async throws -> RuntimeReadiness { RuntimeReadiness(runtimeReady: true, networkReady: true) }

    public func runSandbox(_ config: SandboxConfig) async throws -> String {
        state.withLock { s in
            s.nextID += 1
            let id = "sandbox-\(s.nextID)"
            s.sandboxes[id] = SandboxStatus(id: id, podUID: config.uid, podName: config.name, podNamespace: config.namespace,
                attempt: config.attempt, state: .ready, createdAt: s.clock, ip: "10.42.0.\(s.nextID + 1)", labels: config.labels)
            s.calls.append("runSandbox \(config.name)")
            return id
        }
    }

    public func stopSandbox(_ id: String) async throws {
        state.withLock { s in
            s.sandboxes[id]?.state = .notReady
            for cid in s.containers.keys where s.containers[cid]?.sandboxID == id && s.containers[cid]?.state == .running {
                s.containers[cid]?.state = .exited
                s.containers[cid]?.exitCode = 137
                s.containers[cid]?.finishedAt = s.clock
            }
            s.calls.append("stopSandbox \(s.sandboxes[id]?.podName ?? id)")
        }
    }

    public func removeSandbox(_ id: String) async throws {
        state.withLock { s in
            s.calls.append("removeSandbox \(s.sandboxes[id]?.podName ?? id)")
            s.sandboxes[id] = nil
            s.containers = s.containers.filter { $0.value.sandboxID != id }
        }
    }

    public func sandboxStatus(_ id: String) async throws -> SandboxStatus {
        guard let sandbox = state.withLock({ $0.sandboxes[id] }) else { throw RuntimeError(.notFound, "sandbox \(id) not found") }
        return sandbox
    }

    public func listSandboxes() async throws -> [SandboxStatus] { sandboxes }

    public func createContainer(in sandboxID: String, _ config: ContainerConfig, sandbox: SandboxConfig) async throws -> String {
        try state.withLock { s in
            guard s.sandboxes[sandboxID]?.state == .ready else { throw RuntimeError(.other, "sandbox \(sandboxID) is not ready") }
            guard s.images[config.image] != nil else { throw RuntimeError(.notFound, "image \(config.image) not found") }
            s.nextID += 1
            let id = "container-\(s.nextID)"
            var info = ContainerInfo(id: id, sandboxID: sandboxID, name: config.name, attempt: config.attempt, state: .created, createdAt: s.clock)
            info.image = config.image
            info.imageRef = s.images[config.image] ?? ""
            info.labels = config.labels
            info.annotations = config.annotations
            info.logPath = "\(sandbox.logDirectory)/\(config.logPath)"
            s.containers[id] = info
            s.calls.append("create \(config.name)")
            return id
        }
    }

    public func startContainer(_ id: String) async throws {
        state.withLock { s in
            s.containers[id]?.state = .running
            s.containers[id]?.startedAt = s.clock
            s.calls.append("start \(s.containers[id]?.name ?? id)")
        }
    }

    public func stopContainer(_ id: String, gracePeriod: Int64) async throws {
        state.withLock { s in
            if s.containers[id]?.state == .running {
                s.containers[id]?.state = .exited
                s.containers[id]?.exitCode = 143
                s.containers[id]?.finishedAt = s.clock
            }
            s.calls.append("stop \(s.containers[id]?.name ?? id)")
        }
    }

    public func removeContainer(_ id: String) async throws {
        state.withLock { s in
            s.calls.append("remove \(s.containers[id]?.name ?? id)")
            s.containers[id] = nil
        }
    }

    public func listContainers() async throws -> [ContainerInfo] { containers }

    public func containerStatus(_ id: String) async throws -> ContainerInfo {
        guard let info = state.withLock({ $0.containers[id] }) else { throw RuntimeError(.notFound, "container \(id) not found") }
        return info
    }

    public func imageID(_ image: String) async throws -> String? { state.withLock { $0.images[image] } }

    public func pullImage(_ image: String, auth: RegistryAuth?) async throws -> String {
        try state.withLock { s in
            s.calls.append("pull \(image)")
            guard s.pullable.contains(image) else { throw RuntimeError(.imagePull, "\(image): not found") }
            let id = "sha256:pulled-\(s.images.count)"
            s.images[image] = id
            return id
        }
    }

    public func listImages() async throws -> [RuntimeImage] {
        state.withLock { s in
            Dictionary(grouping: s.images, by: \.value).map { id, names in RuntimeImage(id: id, tags: names.map(\.key).sorted(), size: s.imageSizes[id] ?? 0) }
                .sorted { $0.id < $1.id }
        }
    }

    public func removeImage(_ id: String) async throws {
        state.withLock { s in
            s.calls.append("removeImage \(id)")
            s.images = s.images.filter { $0.value != id }
        }
    }

    /// Sets the size `listImages` reports for an image (by ID), for garbage collection tests.
    public func setImageSize(_ id: String, _ size: UInt64) { state.withLock { $0.imageSizes[id] = size } }

    public func execSync(_ containerID: String, command: [String], timeout: Int64) async throws -> ExecResult {
        ExecResult(stdout: Data(), stderr: Data(), exitCode: 0)
    }

    public func reopenContainerLog(_ containerID: String) async throws {
        state.withLock { $0.calls.append("reopenLog \($0.containers[containerID]?.name ?? containerID)") }
    }

    public func streamURL(_ request: StreamRequest) async throws -> String {
        throw RuntimeError(.other, "the fake runtime has no streaming server")
    }
}
