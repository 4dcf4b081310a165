import Foundation

/// What a sync did: rules or commands written, service ports rewritten, and how long it took.
public struct ProxierSyncResult: Sendable {
    public var rules: Int
    public var changedServices: Int
    public var duration: Duration
}

/// A backend that programs the kernel with the services (`iptables` or `nftables` mode).
public protocol ServiceProxier: Actor {
    /// Brings the kernel in line with `services`; `full` rewrites everything (which also repairs what someone
    /// else changed), otherwise only the services that changed since the last sync.
    @discardableResult
    func sync(_ services: [ProxiedService], full: Bool) async throws -> ProxierSyncResult
}

/// The proxy modes, as kube-proxy names them.
public enum ProxyMode: String, Sendable, CaseIterable {
    case iptables, nftables
}

/// Runs a kernel-programming command on a thread of its own: a restore takes seconds at scale, and must not hold
/// one of Swift's few cooperative threads (the agent's other components run on them).
func runOffPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
