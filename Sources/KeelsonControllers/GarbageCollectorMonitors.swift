import KeelsonAPI
import KeelsonClient
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps the garbage collector's monitors in step with what the server serves, as kube-controller-manager resyncs
/// its monitors: discovery runs again when a CustomResourceDefinition changes (and every `period` besides); each
/// new resource gets a metadata-only informer, whose objects' owners are then looked at, and a resource no longer
/// served is dropped. Without it, objects owned by custom resources created after the start would never be
/// collected.
struct GarbageCollectorMonitors: Service {
    let client: any KubernetesClient
    let collector: GarbageCollector
    /// CustomResourceDefinitions: any change may add or remove a served resource.
    let definitions: Informer
    let logger: Logger
    var period: Duration = .seconds(30)

    static let definitionsResource = ResourceReference(group: "apiextensions.k8s.io", version: "v1",
        resource: "customresourcedefinitions", namespaced: false)

    func run() async throws {
        let (changes, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        definitions.addHandler { _ in signal.yield() }
        let started = StartedInformers()
        defer { started.stopAll() }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isCancelled {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }
                    signal.yield()
                }
            }
            await cancelWhenGracefulShutdown {
                for await _ in changes {
                    await resync(started)
                }
            }
            group.cancelAll()
        }
    }

    /// Informers this service started, by resource id; stopped with it.
    final class StartedInformers: Sendable {
        private let tasks = Mutex<[String: Task<Void, Never>]>([:])

        func add(_ id: String, _ task: Task<Void, Never>) { tasks.withLock { $0[id] = task } }
        func stop(_ id: String) { tasks.withLock { $0.removeValue(forKey: id) }?.cancel() }
        func stopAll() { for task in tasks.withLock({ $0.values }) { task.cancel() } }
    }

    private func resync(_ started: StartedInformers) async {
        let discovered: [DiscoveredResource]
        do {
            discovered = try await client.discoverResources().filter(GarbageCollector.monitorable)
        } catch {
            logger.debug("discovery for the garbage collector failed; trying at the next change", metadata: ["error": "\(error)"])
            return
        }
        let monitored = collector.monitoredIDs
        var served = Set<String>()
        for resource in discovered {
            let id = GarbageCollector.id(resource.reference)
            served.insert(id)
            guard !monitored.contains(id) else { continue }
            let informer = Informer(client: client, resource: resource.reference, transform: Informer.metadataOnly, logger: logger)
            informer.addIndex(.ownerUID)
            collector.monitor(resource, informer: informer)
            let collector = self.collector
            started.add(id, Task {
                await withDiscardingTaskGroup { group in
                    group.addTask { try? await informer.run() }
                    group.addTask {
                        guard (try? await informer.waitUntilSynced()) != nil else { return }
                        collector.requeueDependents(ofGroup: resource.group, kind: resource.kind)
                    }
                }
            })
            logger.debug("garbage collector follows a new resource", metadata: ["resource": "\(id)"])
        }
        for id in monitored where !served.contains(id) {
            collector.forget(id)
            started.stop(id)
            logger.debug("garbage collector no longer follows a resource", metadata: ["resource": "\(id)"])
        }
    }
}
