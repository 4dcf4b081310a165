import KeelsonAPI
import Testing
@testable import KeelsonProxy

@Suite("cluster DNS names")
struct ClusterDNSZoneTests {
    static let services: [JSONValue] = [
        ["metadata": ["name": "web", "namespace": "shop"],
         "spec": ["clusterIP": "10.43.0.7", "clusterIPs": ["10.43.0.7", "fd00:43::7"],
                  "ports": [["name": "http", "port": 80, "protocol": "TCP"], ["port": 9000]]]],
        ["metadata": ["name": "db", "namespace": "shop"],
         "spec": ["clusterIP": "None", "ports": [["name": "pg", "port": 5432, "protocol": "TCP"]]]],
        ["metadata": ["name": "empty", "namespace": "shop"], "spec": ["clusterIP": "None"]],
        ["metadata": ["name": "docs", "namespace": "shop"], "spec": ["type": "ExternalName", "externalName": "docs.example.org."]],
        ["metadata": ["name": "inside", "namespace": "shop"], "spec": ["type": "ExternalName", "externalName": "web.shop.svc.cluster.local"]],
    ]
    static let slices: [JSONValue] = [
        ["metadata": ["name": "db-1", "namespace": "shop", "labels": ["kubernetes.io/service-name": "db"]],
         "addressType": "IPv4", "ports": [["name": "pg", "port": 5433, "protocol": "TCP"]],
         "endpoints": [
            ["addresses": ["10.42.0.5"], "hostname": "db-0", "conditions": ["ready": true]],
            ["addresses": ["10.42.1.6"], "conditions": ["ready": true]],
            ["addresses": ["10.42.1.9"], "hostname": "db-2", "conditions": ["ready": false]],
         ]],
    ]
    let zone = ClusterDNSZone.build(services: services, slices: slices, configuration: .init(domain: "cluster.local."))

    func ask(_ name: String, _ type: DNSRecordType) -> DNSMessage {
        var query = DNSMessage(id: 7)
        query.recursionDesired = true
        query.questions = [DNSQuestion(name: name, type: type)]
        guard case .reply(let reply) = zone.resolve(query) else {
            Issue.record("\(name) \(type) was not answered from the zone")
            return DNSMessage(id: 0)
        }
        #expect(reply.id == 7 && reply.isResponse && reply.questions == query.questions)
        return reply
    }

    func data(_ message: DNSMessage) -> [String] {
        message.answers.map { record in
            switch record.data {
            case .a(let address): "A \(address)"
            case .aaaa(let bytes): "AAAA \(bytes.map { String($0, radix: 16) }.joined(separator: ":"))"
            case .cname(let target): "CNAME \(target)"
            case .ptr(let target): "PTR \(target)"
            case .srv(_, _, let port, let target): "SRV \(port) \(target)"
            case .soa: "SOA"
            case .other(let type, _): "\(type)"
            }
        }
    }

    @Test("a service's name answers its cluster IPs, in any case, with the asker's spelling kept")
    func clusterIP() {
        let reply = ask("WEB.shop.svc.Cluster.Local", .a)
        #expect(reply.authoritative && reply.responseCode == .noError)
        #expect(data(reply) == ["A 10.43.0.7"])
        #expect(reply.answers.first?.name == "WEB.shop.svc.Cluster.Local" && reply.answers.first?.ttl == 5)
        #expect(data(ask("web.shop.svc.cluster.local", .aaaa)) == ["AAAA fd:0:0:43:0:0:0:0:0:0:0:0:0:0:0:7"])
    }

    @Test("a headless service answers its ready endpoints; each has a name of its own; unready ones are left out")
    func headless() {
        #expect(Set(data(ask("db.shop.svc.cluster.local", .a))) == ["A 10.42.0.5", "A 10.42.1.6"])
        #expect(data(ask("db-0.db.shop.svc.cluster.local", .a)) == ["A 10.42.0.5"])
        #expect(data(ask("10-42-1-6.db.shop.svc.cluster.local", .a)) == ["A 10.42.1.6"])
        #expect(ask("db-2.db.shop.svc.cluster.local", .a).responseCode == .nameError)
        let empty = ask("empty.shop.svc.cluster.local", .a)
        #expect(empty.responseCode == .noError && empty.answers.isEmpty && empty.authority.first?.type == .soa)
    }

    @Test("named ports have SRV records: the service for a cluster IP, each endpoint for a headless service, with addresses")
    func srv() {
        let web = ask("_http._tcp.web.shop.svc.cluster.local", .srv)
        #expect(data(web) == ["SRV 80 web.shop.svc.cluster.local"])
        #expect(web.additional.map(\.type) == [.a, .aaaa])
        let db = ask("_pg._tcp.db.shop.svc.cluster.local", .srv)
        #expect(Set(data(db)) == ["SRV 5433 db-0.db.shop.svc.cluster.local", "SRV 5433 10-42-1-6.db.shop.svc.cluster.local"])
        #expect(Set(db.additional.map(\.name)) == ["db-0.db.shop.svc.cluster.local", "10-42-1-6.db.shop.svc.cluster.local"])
        #expect(ask("_http._udp.web.shop.svc.cluster.local", .srv).responseCode == .nameError)
    }

    @Test("PTR records lead from service and endpoint addresses back to their names; unknown addresses go to the node's resolvers")
    func reverse() {
        #expect(data(ask("7.0.43.10.in-addr.arpa", .ptr)) == ["PTR web.shop.svc.cluster.local"])
        #expect(data(ask("5.0.42.10.in-addr.arpa", .ptr)) == ["PTR db-0.db.shop.svc.cluster.local"])
        #expect(ClusterDNSZone.reverseName("fd00:43::7") == "7.0" + String(repeating: ".0", count: 22) + ".3.4.0.0.0.0.d.f.ip6.arpa")
        #expect(data(ask(ClusterDNSZone.reverseName("fd00:43::7")!, .ptr)) == ["PTR web.shop.svc.cluster.local"])
        var query = DNSMessage(id: 1)
        query.questions = [DNSQuestion(name: "1.2.0.192.in-addr.arpa", type: .ptr)]
        #expect(zone.resolve(query) == .forward)
    }

    @Test("an ExternalName service is a CNAME: followed here inside the cluster, by the node's resolvers outside it")
    func externalName() {
        #expect(data(ask("inside.shop.svc.cluster.local", .a)) == ["CNAME web.shop.svc.cluster.local", "A 10.43.0.7"])
        #expect(data(ask("docs.shop.svc.cluster.local", .cname)) == ["CNAME docs.example.org"])
        var query = DNSMessage(id: 1)
        query.questions = [DNSQuestion(name: "docs.shop.svc.cluster.local", type: .a)]
        guard case .forwardAfterAlias(let alias, let target) = zone.resolve(query) else {
            Issue.record("an outside ExternalName was not forwarded")
            return
        }
        #expect(alias.data == .cname("docs.example.org") && target == "docs.example.org")
    }

    @Test("unknown names are NXDOMAIN with the SOA; names that exist without the asked type are NODATA")
    func absence() {
        for name in ["nope.shop.svc.cluster.local", "web.other.svc.cluster.local", "x.cluster.local"] {
            let reply = ask(name, .a)
            #expect(reply.responseCode == .nameError, "\(name)")
            #expect(reply.authority.map(\.type) == [.soa] && reply.authority.first?.name == "cluster.local")
        }
        for name in ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"] {
            let reply = ask(name, .a)
            #expect(reply.responseCode == .noError && reply.answers.isEmpty && reply.authority.map(\.type) == [.soa], "\(name)")
        }
        let noTXT = ask("web.shop.svc.cluster.local", .txt)
        #expect(noTXT.responseCode == .noError && noTXT.answers.isEmpty)
        #expect(data(ask("cluster.local", .soa)) == ["SOA"])
    }

    @Test("pods answer by their dashed address in any namespace")
    func pods() {
        #expect(data(ask("10-42-0-9.shop.pod.cluster.local", .a)) == ["A 10.42.0.9"])
        #expect(ask("10-42-0-x.shop.pod.cluster.local", .a).responseCode == .nameError)
    }

    @Test("names outside the cluster domain are forwarded; other opcodes and several questions are refused with a code")
    func outside() {
        var query = DNSMessage(id: 1)
        query.questions = [DNSQuestion(name: "example.org", type: .a)]
        #expect(zone.resolve(query) == .forward)
        query.opcode = 2
        guard case .reply(let status) = zone.resolve(query) else { Issue.record("not answered"); return }
        #expect(status.responseCode == .notImplemented)
        query.opcode = 0
        query.questions.append(DNSQuestion(name: "cluster.local", type: .a))
        guard case .reply(let two) = zone.resolve(query) else { Issue.record("not answered"); return }
        #expect(two.responseCode == .formatError)
    }
}
