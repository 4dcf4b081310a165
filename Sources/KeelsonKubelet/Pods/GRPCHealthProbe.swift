import GRPCCore
import GRPCNIOTransportHTTP2

/// The `grpc` probe: `grpc.health.v1.Health/Check` on the pod's port over plaintext HTTP/2, as kubelet's prober
/// calls it; healthy only when the answer says SERVING. The two messages are one field each, so they are written
/// and read here rather than generated.
enum GRPCHealthProbe {
    static let check = MethodDescriptor(fullyQualifiedService: "grpc.health.v1.Health", method: "Check")
    /// `HealthCheckResponse.ServingStatus.SERVING`.
    static let serving: UInt64 = 1

    /// Messages as their encoded bytes.
    struct RawMessage: MessageSerializer, MessageDeserializer {
        func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
        func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> [UInt8] { bytes.withUnsafeBytes { Array($0) } }
    }

    struct Malformed: Error {}

    /// `HealthCheckRequest { string service = 1; }`.
    static func request(service: String) -> [UInt8] {
        guard !service.isEmpty else { return [] }
        return [0x0A] + varint(UInt64(service.utf8.count)) + Array(service.utf8)
    }

    /// The `status` (field 1, an enum) of a `HealthCheckResponse`; 0 (UNKNOWN) when absent.
    static func status(_ message: [UInt8]) throws -> UInt64 {
        var index = 0
        func readVarint() throws -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while index < message.count, shift < 64 {
                let byte = message[index]
                index += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            throw Malformed()
        }
        var status: UInt64 = 0
        while index < message.count {
            let key = try readVarint()
            switch (key >> 3, key & 7) {
            case (1, 0): status = try readVarint()
            case (_, 0): _ = try readVarint()
            case (_, 1): index += 8
            case (_, 2): index += Int(try readVarint())
            case (_, 5): index += 4
            default: throw Malformed()
            }
            guard index <= message.count else { throw Malformed() }
        }
        return status
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        return bytes + [UInt8(value)]
    }

    /// Whether the server at the pod's address answers SERVING for `service` within `timeout`.
    static func isServing(host: String, port: Int, service: String, timeout: Duration) async -> Bool {
        do {
            if host.contains(":") { return try await check(.ipv6(host: host, port: port), service: service, timeout: timeout) }
            return try await check(.ipv4(host: host, port: port), service: service, timeout: timeout)
        } catch {
            return false
        }
    }

    private static func check(_ target: some ResolvableTarget, service: String, timeout: Duration) async throws -> Bool {
        let transport = try HTTP2ClientTransport.Posix(target: target, transportSecurity: .plaintext)
        return try await withGRPCClient(transport: transport) { client in
            var options = CallOptions.defaults
            options.timeout = timeout
            let request = ClientRequest(message: Self.request(service: service), metadata: ["user-agent": "kube-probe/1.32"])
            return try await client.unary(request: request, descriptor: Self.check, serializer: RawMessage(), deserializer: RawMessage(),
                options: options) { response in try status(try response.message) == serving }
        }
    }
}
