import Foundation

/// Keeps the kernel's rules in line with the services, one `iptables-restore` per sync: the chains of services
/// that changed since the last sync are rewritten, those of removed services deleted, the rest left alone (a full
/// sync rewrites everything, which also repairs rules someone else changed).
public actor IptablesProxier {
    public struct SyncResult: Sendable {
        public var rules: Int
        public var changedServices: Int
        public var duration: Duration
    }

    let iptables: Iptables
    let options: IptablesRules.Options
    private var applied: [ProxiedService.Name: ProxiedService] = [:]
    private var chains: Set<String> = []
    private var prepared = false

    public init(iptables: Iptables, options: IptablesRules.Options) {
        self.iptables = iptables
        self.options = options
    }

    /// The text a sync of `services` would restore, and the services it would rewrite (for tests and benchmarks).
    func plan(_ services: [ProxiedService], full: Bool) -> (IptablesRules.Output, changed: Set<ProxiedService.Name>) {
        var changed: Set<ProxiedService.Name> = []
        if !full {
            for service in services where applied[service.name] != service { changed.insert(service.name) }
        }
        let output = IptablesRules.render(services, options: options, changed: full ? nil : changed, stale: chains)
        return (output, full ? Set(services.map(\.name)) : changed)
    }

    @discardableResult
    public func sync(_ services: [ProxiedService], full: Bool = false) async throws -> SyncResult {
        let start = ContinuousClock.now
        if !prepared {
            try await offPool { [iptables] in try iptables.ensureJumps() }
            prepared = true
        }
        let (output, changed) = plan(services, full: full || applied.isEmpty)
        do {
            try await offPool { [iptables, text = output.text] in try iptables.restore(text) }
        } catch {
            // What the kernel holds is unknown now: the next sync rewrites everything.
            applied = [:]
            throw error
        }
        applied = Dictionary(services.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        chains = output.serviceChains
        return SyncResult(rules: output.ruleCount, changedServices: changed.count, duration: ContinuousClock.now - start)
    }
}

/// Runs the iptables commands on a thread of their own: a restore takes seconds at scale, and must not hold one of
/// Swift's few cooperative threads (the agent's other components run on them).
private func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
