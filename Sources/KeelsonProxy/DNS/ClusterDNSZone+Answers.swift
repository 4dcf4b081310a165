/// What the DNS server does with a query.
public enum DNSResolution: Sendable, Equatable {
    /// Answered from the cluster's names.
    case reply(DNSMessage)
    /// Not a cluster name: ask the node's resolvers.
    case forward
    /// An ExternalName service: the alias is the first answer, the rest comes from asking the node's resolvers
    /// for `target`, since pods' stub resolvers do not follow a CNAME themselves.
    case forwardAfterAlias(DNSRecord, target: String)
}

extension ClusterDNSZone {
    /// The UDP payload size this server advertises, the size DNS Flag Day 2020 settled on.
    public static let ednsPayloadSize: UInt16 = 1232

    public func resolve(_ query: DNSMessage) -> DNSResolution {
        var reply = DNSMessage(id: query.id)
        reply.isResponse = true
        reply.opcode = query.opcode
        reply.recursionDesired = query.recursionDesired
        reply.recursionAvailable = true
        reply.questions = query.questions
        if query.ednsPayloadSize != nil { reply.ednsPayloadSize = Self.ednsPayloadSize }
        guard query.opcode == 0 else {
            reply.responseCode = .notImplemented
            return .reply(reply)
        }
        guard query.questions.count == 1, !query.isResponse else {
            reply.responseCode = .formatError
            return .reply(reply)
        }
        let question = query.questions[0]
        let name = question.name.lowercased()
        let domain = configuration.domain
        guard name == domain || name.hasSuffix("." + domain) else {
            // Reverse names the cluster knows are answered here; the rest falls through to the node's resolvers.
            if question.type == .ptr || question.type == .any, let pointers = entries[name]?.pointers, !pointers.isEmpty {
                reply.authoritative = true
                reply.answers = pointers.map { DNSRecord(name: question.name, ttl: configuration.ttl, data: .ptr($0)) }
                return .reply(reply)
            }
            return .forward
        }
        reply.authoritative = true
        guard question.recordClass == 1 else {
            reply.responseCode = .refused
            return .reply(reply)
        }
        if let entry = entries[name] ?? podEntry(name) {
            if let alias = entry.cname {
                let record = DNSRecord(name: question.name, ttl: configuration.ttl, data: .cname(alias))
                if question.type == .cname { reply.answers = [record]; return .reply(reply) }
                if alias != domain && !alias.hasSuffix("." + domain) { return .forwardAfterAlias(record, target: alias) }
                reply.answers = [record]
                if let target = entries[alias] { reply.answers += records(of: target, named: alias, type: question.type) }
            } else {
                reply.answers = records(of: entry, named: question.name, type: question.type)
                if question.type == .srv || question.type == .any {
                    for target in Set(entry.services.map(\.target)).sorted() {
                        guard let targetEntry = entries[target] else { continue }
                        reply.additional += records(of: targetEntry, named: target, type: .a) + records(of: targetEntry, named: target, type: .aaaa)
                    }
                }
            }
        } else if name == domain && question.type == .soa {
            reply.answers = [soa]
        } else if !nonTerminals.contains(name) {
            reply.responseCode = .nameError
        }
        if reply.answers.isEmpty { reply.authority = [soa] }
        return .reply(reply)
    }

    private func records(of entry: Entry, named name: String, type: DNSRecordType) -> [DNSRecord] {
        let ttl = configuration.ttl
        var result: [DNSRecord] = []
        if type == .a || type == .any { result += entry.ipv4.map { DNSRecord(name: name, ttl: ttl, data: .a($0)) } }
        if type == .aaaa || type == .any { result += entry.ipv6.map { DNSRecord(name: name, ttl: ttl, data: .aaaa($0)) } }
        if type == .srv || type == .any {
            result += entry.services.map { DNSRecord(name: name, ttl: ttl, data: .srv(priority: 0, weight: $0.weight, port: $0.port, target: $0.target)) }
        }
        if type == .ptr || type == .any { result += entry.pointers.map { DNSRecord(name: name, ttl: ttl, data: .ptr($0)) } }
        return result
    }

    /// `A-B-C-D.NAMESPACE.pod.DOMAIN` answers A-B-C-D's address, for any namespace (CoreDNS's "pods insecure").
    private func podEntry(_ name: String) -> Entry? {
        let suffix = ".pod." + configuration.domain
        guard name.hasSuffix(suffix) else { return nil }
        let labels = name.dropLast(suffix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count == 2, let address = IPv4Address(labels[0].replacingOccurrences(of: "-", with: ".")) else { return nil }
        var entry = Entry()
        entry.ipv4 = [address]
        return entry
    }

    /// The zone's SOA, which NXDOMAIN and NODATA answers carry so that resolvers cache the absence for `ttl`.
    var soa: DNSRecord {
        let domain = configuration.domain
        return DNSRecord(name: domain, ttl: configuration.ttl, data: .soa(primary: "ns.dns.\(domain)", mailbox: "hostmaster.\(domain)",
            serial: serial, refresh: 7200, retry: 1800, expire: 86400, minimum: configuration.ttl))
    }
}
