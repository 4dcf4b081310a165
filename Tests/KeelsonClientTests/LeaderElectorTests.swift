import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import NIOHTTP1
import Synchronization
import Testing

/// A client that can be cut off from the API, as a crashed or partitioned candidate is.
final class CuttableClient: KubernetesClient {
    let inner: FakeKubernetesAPI
    let cut = Atomic<Bool>(false)

    init(_ inner: FakeKubernetesAPI) { self.inner = inner }

    private func check() throws {
        if cut.load(ordering: .relaxed) { throw APIError(status: .serviceUnavailable("cut off"), method: "", path: "") }
    }

    func get(_ r: ResourceReference, namespace: String?, name: String, subresource: String?) async throws -> JSONValue {
        try check(); return try await inner.get(r, namespace: namespace, name: name, subresource: subresource)
    }
    func list(_ r: ResourceReference, namespace: String?, options: ListOptions) async throws -> ObjectList {
        try check(); return try await inner.list(r, namespace: namespace, options: options)
    }
    func create(_ r: ResourceReference, namespace: String?, _ o: JSONValue, subresource: String?) async throws -> JSONValue {
        try check(); return try await inner.create(r, namespace: namespace, o, subresource: subresource)
    }
    func update(_ r: ResourceReference, namespace: String?, _ o: JSONValue, subresource: String?) async throws -> JSONValue {
        try check(); return try await inner.update(r, namespace: namespace, o, subresource: subresource)
    }
    func patch(_ r: ResourceReference, namespace: String?, name: String, _ p: JSONValue, type: PatchType, subresource: String?) async throws -> JSONValue {
        try check(); return try await inner.patch(r, namespace: namespace, name: name, p, type: type, subresource: subresource)
    }
    func delete(_ r: ResourceReference, namespace: String?, name: String, options: JSONValue?) async throws -> JSONValue {
        try check(); return try await inner.delete(r, namespace: namespace, name: name, options: options)
    }
    func deleteCollection(_ r: ResourceReference, namespace: String?, options: ListOptions) async throws -> JSONValue {
        try check(); return try await inner.deleteCollection(r, namespace: namespace, options: options)
    }
    func raw(_ method: HTTPMethod, _ path: String, body: JSONValue?) async throws -> JSONValue {
        try check(); return try await inner.raw(method, path, body: body)
    }
    func watch(_ r: ResourceReference, namespace: String?, options: ListOptions) -> AsyncThrowingStream<WatchEvent, any Error> {
        inner.watch(r, namespace: namespace, options: options)
    }
}

/// Who leads, as the candidates' lead functions report it.
final class Leadership: Sendable {
    private let state = Mutex((current: Set<String>(), history: [String]()))

    func lead(_ id: String) async throws {
        state.withLock { s in
            s.current.insert(id)
            s.history.append(id)
        }
        defer { _ = state.withLock { $0.current.remove(id) } }
        while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(5)) }
    }

    var current: Set<String> { state.withLock { $0.current } }
    var history: [String] { state.withLock { $0.history } }
}

@Suite("Leader election")
struct LeaderElectorTests {
    static func elector(_ client: any KubernetesClient, _ id: String, lease: Duration, renew: Duration) -> LeaderElector {
        LeaderElector(client: client, configuration: .init(name: "test", identity: id, leaseDuration: lease, renewDeadline: renew,
            retryPeriod: .milliseconds(20)), logger: InformerFixture.logger)
    }

    // Whether the two ever overlap depends on scheduling (the cut-off leader must notice its renew deadline before
    // the standby's lease clock runs out), as it does upstream; asserted here is what does not: the cut-off leader
    // stops leading, and the standby takes the Lease over with one transition.
    @Test("one candidate leads; when it is cut off, it stops leading and the other takes over")
    func takeoverAfterCrash() async throws {
        let api = FakeKubernetesAPI()
        let a = CuttableClient(api)
        let leadership = Leadership()
        let first = Task { try await Self.elector(a, "a", lease: .seconds(2), renew: .milliseconds(500)).run { try await leadership.lead("a") } }
        try await waitUntil("a leads") { leadership.current == ["a"] }
        let second = Task { try await Self.elector(api, "b", lease: .seconds(2), renew: .milliseconds(500)).run { try await leadership.lead("b") } }
        // b keeps seeing a's renewals and waits.
        try await waitUntil("b has looked at the lease") { api.actions.contains { $0.verb == "get" && $0.resource == "leases" } }
        #expect(leadership.current == ["a"])
        a.cut.store(true, ordering: .relaxed)
        try await waitUntil(timeout: .seconds(10), "b leads and a does not") { leadership.current == ["b"] }
        #expect(leadership.history == ["a", "b"])
        let lease = try #require(api.stored(.leases, namespace: "kube-system", name: "test"))
        #expect(lease["spec"]?["holderIdentity"] == "b")
        #expect(lease["spec"]?["leaseTransitions"] == 1)
        first.cancel()
        second.cancel()
        _ = await (first.result, second.result)
    }

    @Test("a candidate that stops releases the Lease, so the standby takes over without waiting for it to expire")
    func releaseOnStop() async throws {
        let api = FakeKubernetesAPI()
        let leadership = Leadership()
        let first = Task { try await Self.elector(api, "a", lease: .seconds(60), renew: .seconds(40)).run { try await leadership.lead("a") } }
        try await waitUntil("a leads") { leadership.current == ["a"] }
        let second = Task { try await Self.elector(api, "b", lease: .seconds(60), renew: .seconds(40)).run { try await leadership.lead("b") } }
        first.cancel()
        _ = await first.result
        // Well inside the 60 s the lease would otherwise have to expire.
        try await waitUntil(timeout: .seconds(10), "b leads") { leadership.current == ["b"] }
        #expect(leadership.history == ["a", "b"])
        second.cancel()
        _ = await second.result
    }
}
