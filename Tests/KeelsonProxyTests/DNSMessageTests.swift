import NIOCore
import Testing
@testable import KeelsonProxy

@Suite("DNS wire format")
struct DNSMessageTests {
    @Test("a message with every record type survives encoding and parsing; repeated names are compressed")
    func roundTrip() throws {
        var message = DNSMessage(id: 0xbeef)
        message.isResponse = true
        message.authoritative = true
        message.recursionDesired = true
        message.recursionAvailable = true
        message.responseCode = .nameError
        message.questions = [DNSQuestion(name: "web.shop.svc.cluster.local", type: .any)]
        message.answers = [
            DNSRecord(name: "web.shop.svc.cluster.local", ttl: 5, data: .a(IPv4Address("10.43.0.7")!)),
            DNSRecord(name: "web.shop.svc.cluster.local", ttl: 5, data: .aaaa(Array(0..<16))),
            DNSRecord(name: "alias.shop.svc.cluster.local", ttl: 5, data: .cname("example.org")),
            DNSRecord(name: "7.0.43.10.in-addr.arpa", ttl: 5, data: .ptr("web.shop.svc.cluster.local")),
            DNSRecord(name: "_http._tcp.web.shop.svc.cluster.local", ttl: 5,
                      data: .srv(priority: 0, weight: 100, port: 80, target: "web.shop.svc.cluster.local")),
            DNSRecord(name: "x", ttl: 1, data: .other(.txt, [3, 0x61, 0x62, 0x63])),
        ]
        message.authority = [DNSRecord(name: "cluster.local", ttl: 5, data: .soa(primary: "ns.dns.cluster.local",
            mailbox: "hostmaster.cluster.local", serial: 42, refresh: 7200, retry: 1800, expire: 86400, minimum: 5))]
        message.ednsPayloadSize = 1232
        let bytes = message.encoded()
        #expect(try DNSMessage(parsing: bytes) == message)
        // Written out twice: in the question, which later names point back to, and as the SRV target, which
        // RFC 2782 forbids compressing.
        let spelled: [UInt8] = [3] + Array("web".utf8) + [4] + Array("shop".utf8)
        let all = Array(bytes.readableBytesView)
        let occurrences = (0...(all.count - spelled.count)).filter { Array(all[$0..<($0 + spelled.count)]) == spelled }
        #expect(occurrences.count == 2)
    }

    @Test("a message that does not fit the limit goes out as its question with the truncation bit")
    func truncation() throws {
        var message = DNSMessage(id: 1)
        message.isResponse = true
        message.questions = [DNSQuestion(name: "big.default.svc.cluster.local", type: .a)]
        message.answers = (0..<100).map { DNSRecord(name: "big.default.svc.cluster.local", ttl: 5, data: .a(IPv4Address(UInt32(0x0a2a_0000 + $0)))) }
        #expect(try DNSMessage(parsing: message.encoded()).answers.count == 100)
        let cut = try DNSMessage(parsing: message.encoded(limit: 512))
        #expect(cut.truncated && cut.answers.isEmpty && cut.questions == message.questions)
    }

    @Test("malformed input is a format error, never a crash or a hang", arguments: [
        ("shorter than a header", [UInt8](repeating: 0, count: 7)),
        ("question cut short", [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x77, 0x77]),
        ("pointer to itself", [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]),
        ("pointer forwards", [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 20, 0, 1, 0, 1, 0, 0, 1, 0x61, 0]),
        ("record length past the end", [0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 9, 1, 2]),
        ("A record of five bytes", [0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 5, 1, 2, 3, 4, 5]),
    ] as [(String, [UInt8])])
    func malformed(_ case: (String, [UInt8])) {
        #expect(throws: DNSFormatError.self, "\(`case`.0)") { try DNSMessage(parsing: ByteBuffer(bytes: `case`.1)) }
    }

    @Test("a name longer than 255 bytes is refused")
    func longName() {
        var bytes: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        for _ in 0..<5 { bytes += [63] + [UInt8](repeating: 0x61, count: 63) }
        bytes += [0, 0, 1, 0, 1]
        #expect(throws: DNSFormatError.self) { try DNSMessage(parsing: ByteBuffer(bytes: bytes)) }
    }

    @Test("resolv.conf nameservers become port-53 addresses; other lines are ignored")
    func resolvConf() {
        let servers = DNSForwarder.nameservers(resolvConf: "# comment\nsearch example.org\nnameserver 192.0.2.1\nnameserver\tfe80::1%eth0\noptions ndots:2\n")
        #expect(servers.map { "\($0.ipAddress ?? "")/\($0.port ?? 0)" } == ["192.0.2.1/53", "fe80::1/53"])
    }
}
