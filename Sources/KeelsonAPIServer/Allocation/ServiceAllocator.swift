import KeelsonAPI
import KeelsonStore
import Logging
import Synchronization

/// Hands out Service cluster IPs from the service CIDR and node ports from the node-port range, as kube-apiserver's
/// allocators do. Each allocation is a key in the store (`/registry/allocations/...`) created only if absent, so
/// two API servers sharing a store can never hand out the same address; the in-memory set only speeds up the
/// search. `repair` reconciles the keys with the stored Services at start-up (after a crash between reserving and
/// writing a Service, or a Service deleted while the server was down).
final class ServiceAllocator: Sendable {
    static let ipPrefix = "/registry/allocations/serviceips/"
    static let portPrefix = "/registry/allocations/servicenodeports/"

    /// What one write reserved, to be released if the write fails.
    struct Reservation: Sendable {
        var ips: [UInt32] = []
        var ports: [Int] = []
        var isEmpty: Bool { ips.isEmpty && ports.isEmpty }
    }

    let store: any Store
    let serviceRange: IPv4Range
    let nodePorts: ClosedRange<Int>
    let logger: Logger
    private let usedIPs = Mutex(Set<UInt32>())
    private let usedPorts = Mutex(Set<Int>())

    init(store: any Store, serviceRange: IPv4Range, nodePorts: ClosedRange<Int>, logger: Logger) {
        self.store = store
        self.serviceRange = serviceRange
        self.nodePorts = nodePorts
        self.logger = logger
    }

    /// The address of the `kubernetes` Service: the first of the range.
    var apiServerServiceIP: String { IPv4Range.format(serviceRange.address(at: 1)) }

    // MARK: Assigning

    /// Fills in `spec.clusterIP(s)`, IP family fields and node ports of a Service being created or updated (`old`),
    /// reserving what it hands out. Throws 422 for requested values outside the ranges or already taken.
    func assign(_ svc: inout JSONValue, old: JSONValue?, dryRun: Bool) async throws -> Reservation {
        var reservation = Reservation()
        do {
            try await assignClusterIP(&svc, old: old, dryRun: dryRun, into: &reservation)
            try await assignNodePorts(&svc, old: old, dryRun: dryRun, into: &reservation)
        } catch {
            await release(reservation)
            throw error
        }
        return reservation
    }

    private func assignClusterIP(_ svc: inout JSONValue, old: JSONValue?, dryRun: Bool, into reservation: inout Reservation) async throws {
        let type = svc["spec"]?["type"]?.stringValue ?? "ClusterIP"
        if type == "ExternalName" {
            svc.setValue(nil, at: ["spec", "clusterIP"])
            svc.setValue(nil, at: ["spec", "clusterIPs"])
            return
        }
        var requested = svc["spec"]?["clusterIP"]?.stringValue ?? svc["spec"]?["clusterIPs"]?.arrayValue?.first?.stringValue ?? ""
        let previous = old?["spec"]?["clusterIP"]?.stringValue ?? ""
        if requested.isEmpty && !previous.isEmpty { requested = previous }  // an update that left the field out keeps it
        if requested == "None" {
            setClusterIP(&svc, "None")
            return
        }
        if !requested.isEmpty && requested == previous {
            setClusterIP(&svc, requested)
            return
        }
        let address: UInt32
        if requested.isEmpty {
            address = try await allocateAnyIP(owner: svc, dryRun: dryRun)
        } else {
            guard let parsed = IPv4Range.parse(requested) else {
                throw Self.invalid(svc, "spec.clusterIPs[0]", requested, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
            }
            guard serviceRange.contains(parsed) else {
                throw Self.invalid(svc, "spec.clusterIPs[0]", requested,
                    "failed to allocate IP \(requested): provided IP is not in the valid range. The range of valid IPs is \(serviceRange)")
            }
            guard try await reserveIP(parsed, owner: svc, dryRun: dryRun) else {
                throw Self.invalid(svc, "spec.clusterIPs[0]", requested, "failed to allocate IP \(requested): provided IP is already allocated")
            }
            address = parsed
        }
        if !dryRun { reservation.ips.append(address) }
        setClusterIP(&svc, IPv4Range.format(address))
    }

    private func setClusterIP(_ svc: inout JSONValue, _ ip: String) {
        svc.setValue(.string(ip), at: ["spec", "clusterIP"])
        svc.setValue([.string(ip)], at: ["spec", "clusterIPs"])
        svc.setDefault(["IPv4"], at: ["spec", "ipFamilies"])
        svc.setDefault("SingleStack", at: ["spec", "ipFamilyPolicy"])
    }

    private func assignNodePorts(_ svc: inout JSONValue, old: JSONValue?, dryRun: Bool, into reservation: inout Reservation) async throws {
        let type = svc["spec"]?["type"]?.stringValue ?? "ClusterIP"
        let wantsNodePorts = type == "NodePort" || (type == "LoadBalancer" && svc["spec"]?["allocateLoadBalancerNodePorts"]?.boolValue != false)
        guard var ports = svc["spec"]?["ports"]?.arrayValue else { return }
        let oldPorts = Set((old?["spec"]?["ports"]?.arrayValue ?? []).compactMap { $0["nodePort"]?.intValue.map(Int.init) })
        var taken = Set<Int>()
        for index in ports.indices {
            guard wantsNodePorts else {
                ports[index]["nodePort"] = nil
                continue
            }
            let field = "spec.ports[\(index)].nodePort"
            if let requested = ports[index]["nodePort"]?.intValue.map(Int.init), requested != 0 {
                if oldPorts.contains(requested) || taken.contains(requested) {
                    taken.insert(requested)
                    continue  // kept from before, or shared by two protocols of one port
                }
                guard nodePorts.contains(requested) else {
                    throw Self.invalid(svc, field, String(requested),
                        "provided port is not in the valid range. The range of valid ports is \(nodePorts.lowerBound)-\(nodePorts.upperBound)")
                }
                guard try await reservePort(requested, owner: svc, dryRun: dryRun) else {
                    throw Self.invalid(svc, field, String(requested), "provided port is already allocated")
                }
                if !dryRun { reservation.ports.append(requested) }
                taken.insert(requested)
            } else {
                let port = try await allocateAnyPort(owner: svc, dryRun: dryRun)
                if !dryRun { reservation.ports.append(port) }
                ports[index]["nodePort"] = .integer(Int64(port))
                taken.insert(port)
            }
        }
        svc.setValue(.array(ports), at: ["spec", "ports"])
    }

    // MARK: Releasing

    /// What `old` held and `new` (nil when deleted) no longer holds.
    static func released(from old: JSONValue, to new: JSONValue?) -> Reservation {
        func held(_ svc: JSONValue?) -> (Set<UInt32>, Set<Int>) {
            guard let svc else { return ([], []) }
            let ips = Set((svc["spec"]?["clusterIPs"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(IPv4Range.parse) })
                .union([svc["spec"]?["clusterIP"]?.stringValue.flatMap(IPv4Range.parse)].compactMap { $0 })
            let ports = Set((svc["spec"]?["ports"]?.arrayValue ?? []).compactMap { $0["nodePort"]?.intValue.map(Int.init) })
            return (ips, ports)
        }
        let (oldIPs, oldPorts) = held(old)
        let (newIPs, newPorts) = held(new)
        return Reservation(ips: Array(oldIPs.subtracting(newIPs)), ports: Array(oldPorts.subtracting(newPorts)))
    }

    func release(_ reservation: Reservation) async {
        for ip in reservation.ips {
            _ = try? await store.delete(Self.ipPrefix + IPv4Range.format(ip), ifModRevision: nil)
            _ = usedIPs.withLock { $0.remove(ip) }
        }
        for port in reservation.ports {
            _ = try? await store.delete(Self.portPrefix + String(port), ifModRevision: nil)
            _ = usedPorts.withLock { $0.remove(port) }
        }
    }

    // MARK: Store-backed reservation

    private func reserveIP(_ ip: UInt32, owner: JSONValue, dryRun: Bool) async throws -> Bool {
        let key = Self.ipPrefix + IPv4Range.format(ip)
        if dryRun { return try await store.get(key, at: nil) == nil }
        if try await reserve(key, owner: owner) {
            _ = usedIPs.withLock { $0.insert(ip) }
            return true
        }
        _ = usedIPs.withLock { $0.insert(ip) }
        return false
    }

    private func reservePort(_ port: Int, owner: JSONValue, dryRun: Bool) async throws -> Bool {
        let key = Self.portPrefix + String(port)
        if dryRun { return try await store.get(key, at: nil) == nil }
        let ok = try await reserve(key, owner: owner)
        _ = usedPorts.withLock { $0.insert(port) }
        return ok
    }

    private func reserve(_ key: String, owner: JSONValue) async throws -> Bool {
        do {
            _ = try await store.create(key, value: Array("\(owner.namespace ?? "")/\(owner.name ?? "")".utf8))
            return true
        } catch let error as StoreError where error.code == .keyExists {
            return false
        }
    }

    /// A free address, searched from a random offset so concurrent servers rarely collide; the network address,
    /// the first address (the `kubernetes` Service's) and the broadcast address are never handed out.
    private func allocateAnyIP(owner: JSONValue, dryRun: Bool) async throws -> UInt32 {
        let size = serviceRange.size
        guard size > 3 else { throw Self.full("the service IP range \(serviceRange) is too small") }
        let usable = size - 3
        let start = UInt64.random(in: 0..<usable)
        for step in 0..<usable {
            let ip = serviceRange.address(at: 2 + (start + step) % usable)
            if usedIPs.withLock({ $0.contains(ip) }) { continue }
            if dryRun { return ip }
            if try await reserveIP(ip, owner: owner, dryRun: false) { return ip }
        }
        throw Self.full("range is full: no IP addresses left in \(serviceRange)")
    }

    private func allocateAnyPort(owner: JSONValue, dryRun: Bool) async throws -> Int {
        let count = nodePorts.count
        let start = Int.random(in: 0..<count)
        for step in 0..<count {
            let port = nodePorts.lowerBound + (start + step) % count
            if usedPorts.withLock({ $0.contains(port) }) { continue }
            if dryRun { return port }
            if try await reservePort(port, owner: owner, dryRun: false) { return port }
        }
        throw Self.full("range is full: no node ports left in \(nodePorts.lowerBound)-\(nodePorts.upperBound)")
    }

    // MARK: Repair

    /// Makes the reservations match the stored Services: keys are added for what Services hold and removed for
    /// what no Service holds. Two Services holding one address are reported, not changed.
    func repair(servicePrefix: String) async throws {
        var heldIPs: [UInt32: String] = [:]
        var heldPorts: [Int: String] = [:]
        for item in try await store.range(prefix: servicePrefix, at: nil, startAfter: nil, limit: nil).items {
            guard let svc = try? JSONParser.parse(item.value) else { continue }
            let owner = "\(svc.namespace ?? "")/\(svc.name ?? "")"
            let held = Self.released(from: svc, to: nil)
            for ip in held.ips {
                if let other = heldIPs[ip] { logger.warning("two services hold one cluster IP", metadata: ["ip": "\(IPv4Range.format(ip))", "services": "\(other), \(owner)"]) }
                heldIPs[ip] = owner
            }
            for port in held.ports {
                if let other = heldPorts[port] { logger.warning("two services hold one node port", metadata: ["port": "\(port)", "services": "\(other), \(owner)"]) }
                heldPorts[port] = owner
            }
        }
        try await reconcile(prefix: Self.ipPrefix, held: Dictionary(uniqueKeysWithValues: heldIPs.map { (IPv4Range.format($0.key), $0.value) }))
        try await reconcile(prefix: Self.portPrefix, held: Dictionary(uniqueKeysWithValues: heldPorts.map { (String($0.key), $0.value) }))
        usedIPs.withLock { $0 = Set(heldIPs.keys) }
        usedPorts.withLock { $0 = Set(heldPorts.keys) }
    }

    private func reconcile(prefix: String, held: [String: String]) async throws {
        var reserved = Set<String>()
        for item in try await store.range(prefix: prefix, at: nil, startAfter: nil, limit: nil).items {
            let id = String(item.key.dropFirst(prefix.count))
            reserved.insert(id)
            if held[id] == nil { _ = try? await store.delete(item.key, ifModRevision: item.modRevision) }
        }
        for (id, owner) in held where !reserved.contains(id) {
            _ = try? await store.create(prefix + id, value: Array(owner.utf8))
        }
    }

    private static func invalid(_ svc: JSONValue, _ field: String, _ value: String, _ detail: String) -> Status {
        Status.invalid(kind: "Service", group: "", name: svc.name ?? "", [FieldError(.invalid, field: field, detail: detail, badValue: value)])
    }

    private static func full(_ message: String) -> Status {
        Status(code: 500, reason: .internalError, message: "Internal error occurred: failed to allocate a serviceIP: \(message)")
    }
}
