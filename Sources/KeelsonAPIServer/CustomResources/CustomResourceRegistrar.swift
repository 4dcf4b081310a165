import Foundation
import KeelsonAPI
import KeelsonStore
import Logging
import ServiceLifecycle
import Synchronization

/// Serves the kinds of CustomResourceDefinitions, doing in the API server what apiextensions-apiserver's
/// controllers do: it follows the definitions in the store, accepts their names when no other definition of the
/// group holds them (`NamesAccepted`), marks them `Established`, records `storedVersions`, puts the served
/// versions into the registry (discovery and the REST handler read it), and deletes a definition's objects before
/// letting the definition itself go.
final class CustomResourceRegistrar: Sendable {
    static let keyPrefix = "/registry/apiextensions.k8s.io/customresourcedefinitions/"

    let handler: RESTHandler
    let logger: Logger
    private let definitions = Mutex<[String: JSONValue]>([:])
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    init(handler: RESTHandler, logger: Logger) {
        self.handler = handler
        self.logger = logger
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    private var store: any Store { handler.store }
    private var follower: StoreFollower { StoreFollower(store: store, prefix: Self.keyPrefix, logger: logger) }

    /// Loads the definitions once, so a restarted server serves their objects from its first request.
    @discardableResult
    func prime() async throws -> Int64 {
        let listing = try await follower.list()
        replaceAll(listing.objects)
        return listing.revision
    }

    /// Follows the definitions and reconciles them until cancelled or shut down.
    func run() async throws {
        let revision = try await prime()
        wake.yield()
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                await self.follower.run(listedAt: revision, reset: { self.replaceAll($0) }, apply: { key, object in
                    self.definitions.withLock { $0[key] = object }
                    self.publish()
                    self.wake.yield()
                })
            }
            group.addTask {
                try await cancelWhenGracefulShutdown {
                    // A terminating definition waits for its objects' finalizers: look again every few seconds.
                    for await _ in self.wakes {
                        let terminating = await self.reconcileAll()
                        if terminating {
                            Task {
                                try? await Task.sleep(for: .seconds(2))
                                self.wake.yield()
                            }
                        }
                    }
                }
            }
        }
    }

    private func replaceAll(_ objects: [String: JSONValue]) {
        definitions.withLock { $0 = objects }
        publish()
        wake.yield()
    }

    /// Puts the served versions of every established definition that is not being deleted into the registry.
    private func publish() {
        let current = definitions.withLock { Array($0.values) }
        let served = current
            .filter { Self.isEstablished($0) && $0.metadata?["deletionTimestamp"] == nil }
            .sorted { ($0.name ?? "") < ($1.name ?? "") }
            .flatMap { CustomResourceKinds.definitions(for: $0) }
        handler.registry.setCustom(served)
    }

    static func isEstablished(_ crd: JSONValue) -> Bool {
        (crd.value(at: ["status", "conditions"])?.arrayValue ?? []).contains { $0["type"] == "Established" && $0["status"] == "True" }
    }

    /// Returns whether some definition is still terminating.
    private func reconcileAll() async -> Bool {
        let keys = definitions.withLock { Array($0.keys) }.sorted()
        var terminating = false
        for key in keys {
            do {
                terminating = try await reconcile(key: key) || terminating
            } catch {
                logger.debug("custom resource definition not reconciled", metadata: ["key": "\(key)", "error": "\(error)"])
            }
        }
        return terminating
    }

    /// Returns whether the definition is still terminating.
    private func reconcile(key: String) async throws -> Bool {
        let (known, others) = definitions.withLock { map in (map[key], map.filter { $0.key != key }.map(\.value)) }
        // Most wakes change nothing for most definitions: decide from the followed copy before reading the store.
        if let known, known.metadata?["deletionTimestamp"] == nil,
            Self.desiredStatus(known, others: others, now: Date()) == known["status"]
        {
            return false
        }
        guard let stored = try await store.get(key, at: nil) else { return false }
        var crd = try ObjectCodec.decodeStored(stored)
        if crd.metadata?["deletionTimestamp"] != nil {
            return try await finishDeletion(crd, stored: stored)
        }
        let status = Self.desiredStatus(crd, others: others, now: Date())
        guard status != crd["status"] else { return false }
        crd["status"] = status
        do {
            let revision = try await store.update(key, value: ObjectCodec.encodeForStorage(crd), ifModRevision: stored.modRevision, ttl: nil)
            // Seen at once by the next definition of this pass, so two cannot accept the same name.
            crd.resourceVersion = String(revision)
            definitions.withLock { $0[key] = crd }
            publish()
        } catch let error as StoreError where error.code == .conflict {
            wake.yield()  // changed meanwhile: the follower brings the new version, and this runs again
        }
        return false
    }

    /// The status a definition should have: accepted names unless another definition of its group holds them,
    /// and `Established` once they are accepted.
    static func desiredStatus(_ crd: JSONValue, others: [JSONValue], now: Date) -> JSONValue {
        let names = crd.value(at: ["spec", "names"]) ?? [:]
        let group = crd.value(at: ["spec", "group"])?.stringValue ?? ""
        var status = crd["status"]?.objectValue ?? [:]
        let conflict = conflictingName(names, group: group, crd: crd, others: others)
        let accepted = conflict == nil
        if accepted { status["acceptedNames"] = names }
        var conditions = status["conditions"]?.arrayValue ?? []
        func set(_ type: String, _ value: Bool, reason: String, message: String) {
            let wanted: JSONValue = ["type": .string(type), "status": value ? "True" : "False", "reason": .string(reason), "message": .string(message)]
            if let i = conditions.firstIndex(where: { $0["type"]?.stringValue == type }) {
                var existing = conditions[i]
                let time = existing["status"] == wanted["status"] ? existing["lastTransitionTime"] : nil
                existing = wanted
                existing["lastTransitionTime"] = time ?? .string(Timestamp.format(now))
                conditions[i] = existing
            } else {
                var added = wanted
                added["lastTransitionTime"] = .string(Timestamp.format(now))
                conditions.append(added)
            }
        }
        if let conflict {
            set("NamesAccepted", false, reason: "NameConflict", message: conflict)
        } else {
            set("NamesAccepted", true, reason: "NoConflicts", message: "no conflicts found")
        }
        let wasEstablished = Self.isEstablished(crd)
        if accepted || wasEstablished {
            set("Established", true, reason: "InitialNamesAccepted", message: "the initial names have been accepted")
        } else {
            set("Established", false, reason: "NotAccepted", message: "not all names are accepted")
        }
        var stored = (status["storedVersions"]?.arrayValue ?? []).compactMap(\.stringValue)
        if let storage = (crd.value(at: ["spec", "versions"])?.arrayValue ?? []).first(where: { $0["storage"]?.boolValue == true })?["name"]?.stringValue,
            !stored.contains(storage)
        {
            stored.append(storage)
        }
        status["storedVersions"] = .array(stored.map(JSONValue.string))
        status["conditions"] = .array(conditions)
        return .object(status)
    }

    /// A message naming the first of the definition's names that another definition of its group has accepted
    /// (names a definition has accepted stay its own, as in apiextensions-apiserver).
    private static func conflictingName(_ names: JSONValue, group: String, crd: JSONValue, others: [JSONValue]) -> String? {
        let mine = crd.value(at: ["status", "acceptedNames"]) ?? [:]
        func held(_ accepted: JSONValue) -> Set<String> {
            var out = Set<String>()
            for field in ["plural", "singular", "kind", "listKind"] {
                if let value = accepted[field]?.stringValue, !value.isEmpty { out.insert(value) }
            }
            out.formUnion((accepted["shortNames"]?.arrayValue ?? []).compactMap(\.stringValue))
            return out
        }
        let alreadyMine = held(mine)
        var wanted: [String] = ["plural", "singular", "kind", "listKind"].compactMap { names[$0]?.stringValue }.filter { !$0.isEmpty }
        wanted += (names["shortNames"]?.arrayValue ?? []).compactMap(\.stringValue)
        for other in others where other.value(at: ["spec", "group"])?.stringValue == group {
            let theirs = held(other.value(at: ["status", "acceptedNames"]) ?? [:])
            if let taken = wanted.first(where: { theirs.contains($0) && !alreadyMine.contains($0) }) {
                return "\"\(taken)\" is already in use"
            }
        }
        return nil
    }

    /// Deletes the definition's objects; once none is left, drops the cleanup finalizer (and the definition, when
    /// no other finalizer holds it). Returns whether it must look again.
    private func finishDeletion(_ crd: JSONValue, stored: StoredValue) async throws -> Bool {
        let finalizers = (crd.metadata?["finalizers"]?.arrayValue ?? []).compactMap(\.stringValue)
        guard finalizers.contains(CustomResourceDefinitionStrategy.cleanupFinalizer) else { return false }
        guard let definition = CustomResourceKinds.definitions(for: crd, servedOnly: false).first else { return false }
        let objects = try await store.range(prefix: definition.keyPrefix, at: nil, startAfter: nil, limit: nil)
        for item in objects.items {
            let path = item.key.dropFirst(definition.keyPrefix.count).split(separator: "/").map(String.init)
            let namespace = definition.namespaced ? path.first : nil
            guard let name = path.last else { continue }
            do {
                _ = try await handler.delete(namespace: namespace, name: name, definition: definition, options: .init())
            } catch let status as Status where status.code == 404 {
                continue
            }
        }
        if try await !store.range(prefix: definition.keyPrefix, at: nil, startAfter: nil, limit: 1).items.isEmpty { return true }
        var updated = crd
        let remaining = finalizers.filter { $0 != CustomResourceDefinitionStrategy.cleanupFinalizer }
        do {
            if remaining.isEmpty {
                _ = try await store.delete(stored.key, ifModRevision: stored.modRevision)
            } else {
                updated.setValue(.array(remaining.map(JSONValue.string)), at: ["metadata", "finalizers"])
                _ = try await store.update(stored.key, value: ObjectCodec.encodeForStorage(updated), ifModRevision: stored.modRevision, ttl: nil)
            }
        } catch let error as StoreError where error.code == .conflict {
            return true
        }
        return false
    }
}
