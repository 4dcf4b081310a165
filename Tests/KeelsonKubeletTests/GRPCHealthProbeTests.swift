import GRPCCore
import GRPCNIOTransportHTTP2
import KeelsonAPI
import KeelsonTestKit
import Logging
import Testing

@testable import KeelsonKubelet

@Suite("gRPC health probes")
struct GRPCHealthProbeTests {
    /// A health service answering each service name with a fixed status (a name it does not know: NOT_FOUND).
    struct Health: RegistrableRPCService {
        let statuses: [String: UInt64]

        func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
            router.registerHandler(forMethod: GRPCHealthProbe.check, deserializer: GRPCHealthProbe.RawMessage(),
                serializer: GRPCHealthProbe.RawMessage()) { request, _ in
                var service = ""
                for try await message in request.messages where message.count > 2 {
                    service = String(decoding: message.dropFirst(2), as: UTF8.self)
                }
                guard let status = statuses[service] else { throw RPCError(code: .notFound, message: "unknown service") }
                return StreamingServerResponse(single: ServerResponse(message: status == 0 ? [] : [0x08] + GRPCHealthProbe.varint(status)))
            }
        }
    }

    @Test("the request and response encodings: the service name as field 1; the status read past unknown fields")
    func encoding() throws {
        #expect(GRPCHealthProbe.request(service: "") == [])
        #expect(GRPCHealthProbe.request(service: "db") == [0x0A, 2, 0x64, 0x62])
        #expect(try GRPCHealthProbe.status([]) == 0)
        #expect(try GRPCHealthProbe.status([0x08, 1]) == 1)
        // An unknown length-delimited field 2 first, then the status.
        #expect(try GRPCHealthProbe.status([0x12, 3, 1, 2, 3, 0x08, 2]) == 2)
        #expect(throws: GRPCHealthProbe.Malformed.self) { try GRPCHealthProbe.status([0x12, 9, 1]) }
    }

    @Test("SERVING passes; NOT_SERVING, an unknown service and a closed port fail")
    func probes() async throws {
        let transport = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext)
        try await withGRPCServer(transport: transport, services: [Health(statuses: ["": 1, "db": 2])]) { server in
            let port = try #require(try await transport.listeningAddress.ipv4?.port)
            #expect(await GRPCHealthProbe.isServing(host: "127.0.0.1", port: port, service: "", timeout: .seconds(30)))
            #expect(await !GRPCHealthProbe.isServing(host: "127.0.0.1", port: port, service: "db", timeout: .seconds(30)))
            #expect(await !GRPCHealthProbe.isServing(host: "127.0.0.1", port: port, service: "cache", timeout: .seconds(30)))
            // A pod's `grpc` probe goes to its pod IP and the port and service it names.
            let probes = ProbeManager(runtime: FakeContainerRuntime(), logger: Logger(label: "test")) { _ in }
            let pod = PodSpecView(["metadata": ["name": "p", "namespace": "default"], "spec": ["containers": [["name": "c"]]]])
            let healthy: JSONValue = ["grpc": ["port": .integer(Int64(port))]]
            let unhealthy: JSONValue = ["grpc": ["port": .integer(Int64(port)), "service": "db"]]
            #expect(await probes.run(healthy, id: "c1", pod: pod, container: [:], podIP: "127.0.0.1", timeout: .seconds(30)))
            #expect(await !probes.run(unhealthy, id: "c1", pod: pod, container: [:], podIP: "127.0.0.1", timeout: .seconds(30)))
            server.beginGracefulShutdown()
        }
        let closed = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext)
        let freed = try await withGRPCServer(transport: closed, services: []) { server in
            defer { server.beginGracefulShutdown() }
            return try #require(try await closed.listeningAddress.ipv4?.port)
        }
        let start = ContinuousClock.now
        #expect(await !GRPCHealthProbe.isServing(host: "127.0.0.1", port: freed, service: "", timeout: .seconds(2)))
        // Loose: the whole suite shares the machine; a refused connection is not waited on until some later retry.
        #expect(ContinuousClock.now - start < .seconds(20), "a refused connection fails within the probe's timeout")
    }
}
