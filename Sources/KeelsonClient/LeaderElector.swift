import Foundation
import KeelsonAPI
import Logging
import ServiceLifecycle

/// Leader election on a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection` package does it: a
/// candidate takes the Lease when its holder has not renewed it for `leaseDuration`, renews it every `retryPeriod`
/// while leading, and stops leading when it could not renew for `renewDeadline`. Expiry is judged by this process's
/// own clock from the moment it last saw the Lease change, never by comparing clocks across machines.
///
/// Only one candidate at a time runs the leader's work; when leadership is lost that work is cancelled and the
/// candidate goes back to waiting. On graceful shutdown the Lease is released so a standby takes over at once.
public struct LeaderElector: Sendable {
    public struct Configuration: Sendable {
        public var namespace: String
        public var name: String
        public var identity: String
        public var leaseDuration: Duration
        public var renewDeadline: Duration
        public var retryPeriod: Duration

        /// kube-controller-manager's and kube-scheduler's defaults: 15 s, 10 s, 2 s.
        public init(namespace: String = "kube-system", name: String, identity: String, leaseDuration: Duration = .seconds(15),
            renewDeadline: Duration = .seconds(10), retryPeriod: Duration = .seconds(2))
        {
            self.namespace = namespace
            self.name = name
            self.identity = identity
            self.leaseDuration = leaseDuration
            self.renewDeadline = renewDeadline
            self.retryPeriod = retryPeriod
        }
    }

    let client: any KubernetesClient
    public let configuration: Configuration
    let logger: Logger

    public init(client: any KubernetesClient, configuration: Configuration, logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
    }

    /// A unique identity for this process: host name plus a random suffix, as upstream builds it.
    public static func defaultIdentity() -> String {
        "\(ProcessInfo.processInfo.hostName)_\(UUID().uuidString.lowercased())"
    }

    /// What the candidate last saw of the Lease, and when it saw it change.
    struct Observation {
        var spec: JSONValue?
        var resourceVersion: String?
        var at: ContinuousClock.Instant
    }

    /// Campaigns until cancelled or shut down, running `lead` whenever this candidate holds the Lease.
    public func run(lead: @escaping @Sendable () async throws -> Void) async throws {
        var observation = Observation(spec: nil, resourceVersion: nil, at: .now)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if (try? await tryAcquireOrRenew(&observation)) == true {
                logger.info("became leader", metadata: ["lease": "\(configuration.namespace)/\(configuration.name)"])
                try await leadWhileRenewing(&observation, lead: lead)
                if Task.isCancelled || Task.isShuttingDownGracefully { break }
                logger.warning("lost leadership", metadata: ["lease": "\(configuration.namespace)/\(configuration.name)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: configuration.retryPeriod) }
        }
        await release(observation)
    }

    /// Runs the leader's work beside a renewal loop; whichever ends first ends the other.
    private func leadWhileRenewing(_ observation: inout Observation, lead: @escaping @Sendable () async throws -> Void) async throws {
        let start = observation
        let last = try await withThrowingTaskGroup(of: Observation?.self) { group in
            group.addTask {
                try await lead()
                return nil
            }
            group.addTask {
                var observation = start
                var lastRenewal = ContinuousClock.now
                while !Task.isCancelled {
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: configuration.retryPeriod) }
                    if Task.isCancelled || Task.isShuttingDownGracefully { return observation }
                    if (try? await tryAcquireOrRenew(&observation)) == true {
                        lastRenewal = .now
                    } else if ContinuousClock.now - lastRenewal > configuration.renewDeadline {
                        return observation  // could not renew in time: someone else may already lead
                    }
                }
                return observation
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let last { observation = last }
    }

    /// One attempt: create the Lease, renew it, or take it over once expired. True if this candidate holds it.
    func tryAcquireOrRenew(_ observation: inout Observation) async throws -> Bool {
        let now = Date()
        let micro = JSONValue.string(Timestamp.formatMicro(now))
        let durationSeconds = Int64(configuration.leaseDuration.components.seconds)
        let lease: JSONValue
        do {
            lease = try await client.get(.leases, namespace: configuration.namespace, name: configuration.name)
        } catch let error as APIError where error.isNotFound {
            let created = try await client.create(.leases, namespace: configuration.namespace, [
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": ["name": .string(configuration.name)],
                "spec": ["holderIdentity": .string(configuration.identity), "leaseDurationSeconds": .integer(durationSeconds),
                         "acquireTime": micro, "renewTime": micro, "leaseTransitions": 0],
            ])
            observation = Observation(spec: created["spec"], resourceVersion: created.resourceVersion, at: .now)
            return true
        }
        let spec = lease["spec"] ?? [:]
        if spec != observation.spec {
            observation = Observation(spec: spec, resourceVersion: lease.resourceVersion, at: .now)
        }
        let holder = spec["holderIdentity"]?.stringValue ?? ""
        let heldByMe = holder == configuration.identity
        let holderDuration = Duration.seconds(spec["leaseDurationSeconds"]?.intValue ?? durationSeconds)
        if !heldByMe && !holder.isEmpty && ContinuousClock.now - observation.at < holderDuration {
            return false  // someone else holds an unexpired lease
        }
        var updated = lease
        var newSpec = spec
        newSpec["holderIdentity"] = .string(configuration.identity)
        newSpec["leaseDurationSeconds"] = .integer(durationSeconds)
        newSpec["renewTime"] = micro
        if !heldByMe {
            newSpec["acquireTime"] = micro
            newSpec["leaseTransitions"] = .integer((spec["leaseTransitions"]?.intValue ?? 0) + 1)
        }
        updated["spec"] = newSpec
        // The resourceVersion makes this a compare-and-swap: of two candidates taking over, one gets a conflict.
        let written = try await client.update(.leases, namespace: configuration.namespace, updated)
        observation = Observation(spec: written["spec"], resourceVersion: written.resourceVersion, at: .now)
        return true
    }

    /// Gives the Lease up (holder cleared, duration 1 s) if this candidate still holds it, so a standby need not
    /// wait out the full duration.
    private func release(_ observation: Observation) async {
        guard observation.spec?["holderIdentity"]?.stringValue == configuration.identity else { return }
        guard var lease = try? await client.get(.leases, namespace: configuration.namespace, name: configuration.name),
            lease["spec"]?["holderIdentity"]?.stringValue == configuration.identity
        else { return }
        lease.setValue("", at: ["spec", "holderIdentity"])
        lease.setValue(1, at: ["spec", "leaseDurationSeconds"])
        _ = try? await client.update(.leases, namespace: configuration.namespace, lease)
    }
}
