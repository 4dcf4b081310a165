import KeelsonAPI

/// The next steps that bring the runtime to a pod's spec, decided from the spec and what the runtime has — a pure
/// function, so every rule is unit-tested without a runtime (as kubelet's computePodActions is).
struct PodPlan: Equatable {
    struct Start: Equatable {
        var name: String
        var isInit: Bool
        /// The new instance's attempt: its restart count.
        var attempt: UInt32
    }

    /// A new sandbox with this attempt (the old one, if any, is stopped and its containers killed first).
    var createSandbox: UInt32?
    var start: [Start] = []
    /// Containers waiting for their crash back-off: name → seconds left.
    var backingOff: [String: Duration] = [:]
    /// The pod can make no more progress: every container ran to its end under its restart policy.
    var finished = false

    /// Decides the plan. `backoff(name, finishedAt)` is the time a crashed container must still wait before its
    /// next start, nil when it may start now.
    static func make(_ spec: PodSpecView, runtime: RuntimePod, backoff: (String, Int64) -> Duration?) -> PodPlan {
        var plan = PodPlan()
        let everyContainerRan = spec.containers.allSatisfy { runtime.latest($0["name"]?.stringValue ?? "") != nil }
        guard let sandbox = runtime.sandbox, sandbox.state == .ready else {
            // A pod whose containers all ran to an end its restart policy accepts keeps its results instead of
            // getting a new sandbox.
            let allSucceeded = spec.containers.allSatisfy {
                let latest = runtime.latest($0["name"]?.stringValue ?? "")
                return latest?.state == .exited && latest?.exitCode == 0
            }
            if runtime.sandbox != nil && everyContainerRan
                && (spec.restartPolicy == .never || (spec.restartPolicy == .onFailure && allSucceeded)) {
                plan.finished = true
                return plan
            }
            plan.createSandbox = runtime.sandbox.map { $0.attempt + 1 } ?? 0
            // Containers start in the new sandbox on the next sync, once it is there.
            return plan
        }
        // Init containers, one at a time and in order; a sidecar must be running before the next one starts.
        for container in spec.initContainers {
            let name = container["name"]?.stringValue ?? ""
            let sidecar = PodSpecView.isSidecar(container)
            guard let latest = runtime.latest(name) else {
                plan.start.append(Start(name: name, isInit: true, attempt: 0))
                return plan
            }
            switch latest.state {
            case .running:
                if sidecar { continue }
                return plan
            case .created, .unknown:
                return plan
            case .exited:
                if !sidecar && latest.exitCode == 0 { continue }
                if !sidecar && spec.restartPolicy == .never {
                    plan.finished = true
                    return plan
                }
                plan.restart(name, isInit: true, latest, backoff)
                return plan
            }
        }
        for container in spec.containers {
            let name = container["name"]?.stringValue ?? ""
            guard let latest = runtime.latest(name) else {
                plan.start.append(Start(name: name, isInit: false, attempt: 0))
                continue
            }
            guard latest.state == .exited else { continue }
            let restart = switch spec.restartPolicy {
            case .always: true
            case .onFailure: latest.exitCode != 0
            case .never: false
            }
            if restart { plan.restart(name, isInit: false, latest, backoff) }
        }
        if plan.start.isEmpty && plan.backingOff.isEmpty && !runtime.containers.contains(where: { $0.state == .running })
            && everyContainerRan && spec.restartPolicy != .always {
            plan.finished = true
        }
        return plan
    }

    private mutating func restart(_ name: String, isInit: Bool, _ latest: ContainerInfo, _ backoff: (String, Int64) -> Duration?) {
        if let wait = backoff(name, latest.finishedAt) {
            backingOff[name] = wait
        } else {
            start.append(Start(name: name, isInit: isInit, attempt: latest.attempt + 1))
        }
    }
}
