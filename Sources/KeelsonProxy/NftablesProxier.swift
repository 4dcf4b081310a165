import Foundation

/// Keeps the kernel's nftables table in line with the services (`NftablesRules`), one `nft -f` transaction per
/// sync: the first builds the table; the others add and delete the elements of the services that changed since
/// the last sync, so a change costs what that service holds, not the size of the table.
public actor NftablesProxier: ServiceProxier {
    let nftables: Nftables
    let options: NftablesRules.Options
    private var applied: [ProxiedService.Name: ProxiedService] = [:]
    private var objects: [ProxiedService.Name: NftablesRules.ServiceObjects] = [:]
    private var families: Set<NftablesRules.Family> = []
    /// Endpoint address → how many service ports use it (the hairpin set is shared).
    private var hairpin: [String: Int] = [:]
    private var built = false

    public init(nftables: Nftables, options: NftablesRules.Options) {
        self.nftables = nftables
        self.options = options
    }

    struct Plan {
        var commands: [String]
        var changed: Int
        /// A full sync's whole state, or a partial one's changes (nil: the service port is gone).
        var replaceAll: Bool
        var services: [ProxiedService.Name: ProxiedService?]
        var objects: [ProxiedService.Name: NftablesRules.ServiceObjects?]
        var families: Set<NftablesRules.Family>
        var hairpin: [String: Int]
    }

    /// The transaction a sync of `services` would apply (for tests and benchmarks). The table is built whole only
    /// when this proxier has not built it yet (at start, and after a refused transaction); a periodic full sync is
    /// otherwise a partial one: rebuilding would delete the affinity sets, and every ClientIP client would be
    /// sent to a new endpoint every sync period.
    func plan(_ services: [ProxiedService], full: Bool) -> Plan {
        if !built { return fullPlan(services) }
        // One lookup per service and no new dictionary: at 10,000 services this walk is most of a change's cost.
        var changes: [ProxiedService.Name: ProxiedService?] = [:]
        var known = 0
        for service in services where changes[service.name] == nil {
            if let old = applied[service.name] {
                known += 1
                if old == service { continue }
            }
            changes[service.name] = .some(service)
        }
        // Fewer known names than applied ones: some are gone.
        if known != applied.count {
            let present = Set(services.map(\.name))
            for name in applied.keys where !present.contains(name) { changes[name] = .some(nil) }
        }

        var updatedObjects: [ProxiedService.Name: NftablesRules.ServiceObjects?] = [:]
        var families = self.families
        var hairpin = self.hairpin
        var newFamilies: [NftablesRules.Family] = []
        var deleted: [NftablesRules.Element] = [], added: [NftablesRules.Element] = []
        var droppedChains: [NftablesRules.AffinityChain] = [], createdChains: [NftablesRules.AffinityChain] = []
        // Sorted for a stable command order.
        for name in changes.keys.sorted() {
            let service = changes[name]!
            let old = objects[name] ?? NftablesRules.ServiceObjects()
            let new = service.map(NftablesRules.objects) ?? NftablesRules.ServiceObjects()
            updatedObjects[name] = service == nil ? .some(nil) : .some(new)
            for family in new.families.subtracting(families).sorted() { newFamilies.append(family) }
            families.formUnion(new.families)
            let oldSet = Set(old.elements), newSet = Set(new.elements)
            deleted += old.elements.filter { !newSet.contains($0) }
            added += new.elements.filter { !oldSet.contains($0) }
            let keptChains = Set(old.affinity).intersection(new.affinity)
            for chain in old.affinity where !keptChains.contains(chain) {
                droppedChains.append(chain)
                deleted += chain.dispatch
            }
            for chain in new.affinity where !keptChains.contains(chain) {
                createdChains.append(chain)
                added += chain.dispatch
            }
            for address in old.endpointAddresses.subtracting(new.endpointAddresses) {
                hairpin[address, default: 0] -= 1
                if hairpin[address] == 0 {
                    hairpin[address] = nil
                    deleted.append(Self.hairpinElement(address))
                }
            }
            for address in new.endpointAddresses.subtracting(old.endpointAddresses) {
                hairpin[address, default: 0] += 1
                if hairpin[address] == 1 { added.append(Self.hairpinElement(address)) }
            }
        }
        // Maps of new counts first, then deletions (an element whose target changed is deleted, then added),
        // then the affinity chains, which must exist before the verdict map points at them.
        var commands = newFamilies.flatMap { $0.commands() }
        commands += NftablesRules.elementCommands("delete", deleted)
        commands += droppedChains.flatMap { $0.delete() }
        commands += createdChains.flatMap { $0.create() }
        commands += NftablesRules.elementCommands("add", added)
        return Plan(commands: commands, changed: changes.count, replaceAll: false, services: changes, objects: updatedObjects,
            families: families, hairpin: hairpin)
    }

    /// The whole table, rebuilt in one transaction.
    private func fullPlan(_ services: [ProxiedService]) -> Plan {
        var byName: [ProxiedService.Name: ProxiedService?] = Dictionary(minimumCapacity: services.count)
        var all: [ProxiedService.Name: NftablesRules.ServiceObjects?] = Dictionary(minimumCapacity: services.count)
        for service in services where byName[service.name] == nil {
            byName[service.name] = service
            all[service.name] = NftablesRules.objects(service)
        }
        let ordered = all.keys.sorted().map { all[$0]!! }
        let families = ordered.reduce(into: Set<NftablesRules.Family>()) { $0.formUnion($1.families) }
        var hairpin: [String: Int] = [:]
        for object in ordered { for address in object.endpointAddresses { hairpin[address, default: 0] += 1 } }
        var commands = NftablesRules.baseTable(options: options)
        let elements = ordered.flatMap { $0.elements + $0.affinity.flatMap(\.dispatch) } + hairpin.keys.sorted().map(Self.hairpinElement)
        let familyMaps = Set(families.map(\.map))
        let byMap = Dictionary(grouping: elements.filter { familyMaps.contains($0.set) }, by: \.set)
        commands += families.sorted().flatMap { $0.commands(elements: byMap[$0.map] ?? []) }
        commands += ordered.flatMap(\.affinity).flatMap { $0.create() }
        commands += NftablesRules.elementCommands("add", elements.filter { !familyMaps.contains($0.set) })
        return Plan(commands: commands, changed: all.count, replaceAll: true, services: byName, objects: all, families: families, hairpin: hairpin)
    }

    /// Takes `plan` as what the kernel now holds.
    func adopt(_ plan: Plan) {
        built = true
        if plan.replaceAll {
            applied = plan.services.compactMapValues { $0 }
            objects = plan.objects.compactMapValues { $0 }
        } else {
            for (name, service) in plan.services { applied[name] = service }
            for (name, object) in plan.objects { objects[name] = object }
        }
        families = plan.families
        hairpin = plan.hairpin
    }

    static func hairpinElement(_ address: String) -> NftablesRules.Element {
        NftablesRules.Element(set: "hairpin", key: "\(address) . \(address)", value: nil)
    }

    @discardableResult
    public func sync(_ services: [ProxiedService], full: Bool = false) async throws -> ProxierSyncResult {
        let start = ContinuousClock.now
        if !built { try await runOffPool { [nftables] in try nftables.enableRouteLocalnet() } }
        let plan = plan(services, full: full)
        if !plan.commands.isEmpty {
            do {
                try await runOffPool { [nftables, commands = plan.commands] in try nftables.apply(commands) }
            } catch {
                // The transaction was refused as a whole, but what this proxier believes may be off: rebuild next time.
                built = false
                throw error
            }
        }
        adopt(plan)
        return ProxierSyncResult(rules: plan.commands.count, changedServices: plan.changed, duration: ContinuousClock.now - start)
    }
}
