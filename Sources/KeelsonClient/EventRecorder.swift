import Foundation
import KeelsonAPI
import Logging
import ServiceLifecycle
import Synchronization

/// Writes core/v1 Events about objects, as client-go's event recorder does, so `kubectl describe` and
/// `kubectl get events` show what controllers did. A repeat of the same event (same object, type, reason and
/// message) updates the first one's `count` and `lastTimestamp` instead of adding a new object.
///
/// `record` never blocks and never fails: events are queued (the newest 1,000 kept when the API server is slow) and
/// written by `run()`. Losing an event under pressure is acceptable; slowing a controller down is not.
public final class EventRecorder: Service, Sendable {
    public enum EventType: String, Sendable {
        case normal = "Normal"
        case warning = "Warning"
    }

    struct Pending: Sendable {
        var involved: JSONValue
        var namespace: String
        var type: EventType
        var reason: String
        var message: String
        var time: Date
    }

    private struct Aggregate {
        var name: String
        var count: Int64
        var firstTimestamp: String
        var lastUsed: UInt64
    }

    private let client: any KubernetesClient
    private let component: String
    private let logger: Logger
    private let stream: AsyncStream<Pending>
    private let continuation: AsyncStream<Pending>.Continuation
    private let aggregates = Mutex(([String: Aggregate](), UInt64(0)))
    private static let aggregateLimit = 4096

    public init(client: any KubernetesClient, component: String, logger: Logger) {
        self.client = client
        self.component = component
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1000))
    }

    /// Records an event about `object` (of the given kind), to be written shortly.
    public func record(_ object: JSONValue, apiVersion: String, kind: String, _ type: EventType, reason: String, message: String) {
        var involved: JSONValue = ["apiVersion": .string(apiVersion), "kind": .string(kind), "name": .string(object.name ?? "")]
        if let namespace = object.namespace { involved["namespace"] = .string(namespace) }
        if let uid = object.uid { involved["uid"] = .string(uid) }
        if let rv = object.resourceVersion { involved["resourceVersion"] = .string(rv) }
        continuation.yield(Pending(involved: involved, namespace: object.namespace ?? "default", type: type, reason: reason,
            message: message, time: Date()))
    }

    /// How long events still buffered at shutdown may take to be written. Against an API server that is gone
    /// each write would wait for its connect timeout, so the backlog is dropped after this — as client-go's
    /// broadcaster drops what it has not sent.
    public static let shutdownDrainLimit = Duration.seconds(2)

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in self.stream { await self.write(event) }
            }
            group.addTask {
                try? await gracefulShutdown()
                self.continuation.finish()
                try? await Task.sleep(for: Self.shutdownDrainLimit)
            }
            // Whichever ends first: the drain (all written) or its time limit; the other is cancelled.
            await group.next()
            group.cancelAll()
        }
    }

    func write(_ event: Pending) async {
        let aggregateKey = [event.namespace, event.involved["uid"]?.stringValue ?? event.involved["name"]?.stringValue ?? "",
                            event.type.rawValue, event.reason, event.message].joined(separator: "\u{0}")
        let timestamp = Timestamp.format(event.time)
        if let previous = touch(aggregateKey) {
            let patch: JSONValue = ["count": .integer(previous.count + 1), "lastTimestamp": .string(timestamp)]
            do {
                try await client.patch(.events, namespace: event.namespace, name: previous.name, patch)
                remember(aggregateKey, Aggregate(name: previous.name, count: previous.count + 1, firstTimestamp: previous.firstTimestamp, lastUsed: 0))
                return
            } catch {
                // The first event expired or was deleted: start a new series below.
            }
        }
        let name = "\(event.involved["name"]?.stringValue ?? "event").\(String(UInt64(event.time.timeIntervalSince1970 * 1e9), radix: 16))"
        let object: JSONValue = [
            "apiVersion": "v1", "kind": "Event",
            "metadata": ["name": .string(name), "namespace": .string(event.namespace)],
            "involvedObject": event.involved,
            "type": .string(event.type.rawValue), "reason": .string(event.reason), "message": .string(event.message),
            "source": ["component": .string(component)], "reportingComponent": .string(component),
            "firstTimestamp": .string(timestamp), "lastTimestamp": .string(timestamp), "count": 1,
        ]
        do {
            try await client.create(.events, namespace: event.namespace, object)
            remember(aggregateKey, Aggregate(name: name, count: 1, firstTimestamp: timestamp, lastUsed: 0))
        } catch {
            logger.debug("event not written", metadata: ["reason": "\(event.reason)", "error": "\(error)"])
        }
    }

    private func touch(_ key: String) -> Aggregate? {
        aggregates.withLock { state in
            state.1 += 1
            state.0[key]?.lastUsed = state.1
            return state.0[key]
        }
    }

    /// Keeps the aggregation cache bounded by dropping the least recently used half when it is full.
    private func remember(_ key: String, _ aggregate: Aggregate) {
        aggregates.withLock { state in
            state.1 += 1
            var aggregate = aggregate
            aggregate.lastUsed = state.1
            state.0[key] = aggregate
            if state.0.count > Self.aggregateLimit {
                let cutoff = state.0.values.map(\.lastUsed).sorted()[state.0.count / 2]
                state.0 = state.0.filter { $0.value.lastUsed >= cutoff }
            }
        }
    }
}
