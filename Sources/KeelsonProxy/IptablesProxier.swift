import Foundation

/// Keeps the kernel's rules in line with the services, one `iptables-restore` per sync: the chains of services
/// that changed since the last sync are rewritten, those of removed services deleted, the rest left alone (a full
/// sync rewrites everything, which also repairs rules someone else changed).
public actor IptablesProxier: ServiceProxier {

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
    public func sync(_ services: [ProxiedService], full: Bool = false) async throws -> ProxierSyncResult {
        let start = ContinuousClock.now
        if !prepared {
            try await runOffPool { [iptables] in try iptables.ensureJumps() }
            prepared = true
        }
        let (output, changed) = plan(services, full: full || applied.isEmpty)
        do {
            try await runOffPool { [iptables, text = output.text] in try iptables.restore(text) }
        } catch {
            // What the kernel holds is unknown now: the next sync rewrites everything.
            applied = [:]
            throw error
        }
        applied = Dictionary(services.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        chains = output.serviceChains
        return ProxierSyncResult(rules: output.ruleCount, changedServices: changed.count, duration: ContinuousClock.now - start)
    }
}
