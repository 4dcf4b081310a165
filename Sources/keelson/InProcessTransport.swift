import KeelsonAPIServer
import KeelsonClient

/// The transport of `keelson server`'s own components: each request is answered by the API server of this process
/// as the component's user, the identity its client certificate would have proven over the network.
struct InProcessTransport: APITransport {
    let server: APIServer
    let user: UserInfo

    func send(_ request: APITransportRequest, timeout: Duration) async throws -> APITransportResponse {
        // No timeout of its own: nothing here can stall but the server's answer, and a watch ends at its own.
        let answer = await server.respondInProcess(method: request.method.rawValue, target: request.target,
            headers: request.headers.map { ($0.name, $0.value) }, body: request.body ?? [], as: user)
        return APITransportResponse(status: answer.status, body: answer.body)
    }

    func shutdown() async throws {}
}
