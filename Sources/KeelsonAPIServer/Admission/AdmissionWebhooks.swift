import AsyncHTTPClient
import Foundation
import KeelsonAPI
import KeelsonStore
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// Dynamic admission: the webhooks of MutatingWebhookConfigurations and ValidatingWebhookConfigurations, called
/// with an `AdmissionReview` (admission.k8s.io/v1) over HTTPS for the creates and updates their rules match.
/// Mutating webhooks run in order before validation and may answer with a JSON patch; validating ones run after.
/// A denial is the webhook's status (403 unless it gives a code), worded `admission webhook "NAME" denied the
/// request: …`; a webhook that cannot be called fails the request (500) unless its `failurePolicy` is `Ignore`.
/// Webhooks are addressed by `clientConfig.url`, or by `clientConfig.service`: that Service's ready endpoint is
/// called directly (as kube-apiserver with `--enable-aggregator-routing`, which k3s sets), with the certificate
/// checked against `NAME.NAMESPACE.svc`, so it works on a server without a proxy in front of cluster IPs.
public final class AdmissionWebhooks: Service, Sendable {
    struct Rule: Sendable {
        var operations: Set<String>
        var groups: Set<String>
        var versions: Set<String>
        var resources: Set<String>
        var scope: String

        func matches(operation: String, definition: ResourceDefinition, subresource: String?) -> Bool {
            let resource = subresource.map { "\(definition.plural)/\($0)" } ?? definition.plural
            let resourceMatches = resources.contains("*/*") || resources.contains(resource)
                || (subresource == nil && resources.contains("*")) || (subresource.map { resources.contains("*/\($0)") } ?? false)
            let scopeMatches = scope == "*" || (scope == "Namespaced") == definition.namespaced
            return (operations.contains("*") || operations.contains(operation)) && (groups.contains("*") || groups.contains(definition.group))
                && (versions.contains("*") || versions.contains(definition.version)) && resourceMatches && scopeMatches
        }
    }

    struct ServiceReference: Sendable, Equatable {
        var namespace: String
        var name: String
        var port: Int64
        var path: String

        /// The name its serving certificate must carry.
        var host: String { "\(name).\(namespace).svc" }
    }

    struct Webhook: Sendable {
        var name: String
        var mutating: Bool
        var url: String?
        var service: ServiceReference?
        var caBundle: String?
        var rules: [Rule]
        var failOpen: Bool
        var timeout: Int64
        var namespaceSelector: LabelSelector
        var objectSelector: LabelSelector
        /// `reinvocationPolicy: IfNeeded`.
        var reinvokeIfNeeded = false
    }

    static let keyPrefixes = ["/registry/admissionregistration.k8s.io/mutatingwebhookconfigurations/",
                              "/registry/admissionregistration.k8s.io/validatingwebhookconfigurations/"]

    private let store: any Store
    private let logger: Logger
    private let configurations = Mutex<[String: [Webhook]]>([:])
    private let clients = Mutex<[String: HTTPClient]>([:])

    init(store: any Store, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    var isEmpty: Bool { configurations.withLock { $0.values.allSatisfy(\.isEmpty) } }

    static func parse(_ configuration: JSONValue, mutating: Bool) -> [Webhook] {
        (configuration["webhooks"]?.arrayValue ?? []).compactMap { hook in
            guard let name = hook["name"]?.stringValue else { return nil }
            let rules: [Rule] = (hook["rules"]?.arrayValue ?? []).map { rule in
                func set(_ key: String) -> Set<String> { Set(rule[key]?.arrayValue?.compactMap(\.stringValue) ?? []) }
                return Rule(operations: set("operations"), groups: set("apiGroups"), versions: set("apiVersions"), resources: set("resources"),
                    scope: rule["scope"]?.stringValue ?? "*")
            }
            let namespaceSelector = (try? LabelSelector.from(hook["namespaceSelector"])) ?? LabelSelector(requirements: [])
            let objectSelector = (try? LabelSelector.from(hook["objectSelector"])) ?? LabelSelector(requirements: [])
            let service = hook["clientConfig"]?["service"].flatMap { service -> ServiceReference? in
                guard let namespace = service["namespace"]?.stringValue, let name = service["name"]?.stringValue else { return nil }
                return ServiceReference(namespace: namespace, name: name, port: service["port"]?.intValue ?? 443,
                    path: service["path"]?.stringValue ?? "/")
            }
            return Webhook(name: name, mutating: mutating, url: hook["clientConfig"]?["url"]?.stringValue, service: service,
                caBundle: hook["clientConfig"]?["caBundle"]?.stringValue, rules: rules,
                failOpen: hook["failurePolicy"]?.stringValue == "Ignore", timeout: hook["timeoutSeconds"]?.intValue ?? 10,
                namespaceSelector: namespaceSelector, objectSelector: objectSelector,
                reinvokeIfNeeded: mutating && hook["reinvocationPolicy"]?.stringValue == "IfNeeded")
        }
    }

    /// The webhooks that apply to one request, in the order of their configurations' names (as Kubernetes orders them).
    func matching(mutating: Bool, operation: String, definition: ResourceDefinition, subresource: String?, object: JSONValue,
        old: JSONValue?, namespaceLabels: [String: String]?) -> [Webhook]
    {
        let all = configurations.withLock { $0 }.sorted { $0.key < $1.key }.flatMap(\.value).filter { $0.mutating == mutating }
        return all.filter { hook in
            guard hook.rules.contains(where: { $0.matches(operation: operation, definition: definition, subresource: subresource) }) else { return false }
            if definition.namespaced, let namespaceLabels, !hook.namespaceSelector.matches(namespaceLabels) { return false }
            let labels = (object.metadata?["labels"]?.objectValue ?? old?.metadata?["labels"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
            return hook.objectSelector.matches(labels)
        }
    }

    /// Runs the matching webhooks; returns the object as mutating webhooks left it, and their warnings.
    func admit(mutating: Bool, operation: String, object: JSONValue, old: JSONValue?, definition: ResourceDefinition, subresource: String?,
        namespace: String?, namespaceLabels: [String: String]?, user: UserInfo?, dryRun: Bool) async throws -> JSONValue
    {
        var current = object
        let hooks = matching(mutating: mutating, operation: operation, definition: definition, subresource: subresource, object: object,
            old: old, namespaceLabels: namespaceLabels)
        // Calls in order; then, once, the `reinvocationPolicy: IfNeeded` webhooks that ran before a later one
        // changed the object, as kube-apiserver reinvokes them.
        var queue = Array(hooks.indices)
        var lastChange = -1
        var position = 0
        while position < queue.count {
            defer {
                position += 1
                if position == queue.count, queue.count == hooks.count, lastChange > 0 {
                    queue += hooks.indices.filter { hooks[$0].reinvokeIfNeeded && $0 < lastChange }
                }
            }
            let hook = hooks[queue[position]]
            let uid = UUID().uuidString.lowercased()
            var request: JSONValue = [
                "uid": .string(uid),
                "kind": ["group": .string(definition.group), "version": .string(definition.version), "kind": .string(definition.kind)],
                "resource": ["group": .string(definition.group), "version": .string(definition.version), "resource": .string(definition.plural)],
                "requestKind": ["group": .string(definition.group), "version": .string(definition.version), "kind": .string(definition.kind)],
                "requestResource": ["group": .string(definition.group), "version": .string(definition.version), "resource": .string(definition.plural)],
                "name": .string(current.name ?? ""), "operation": .string(operation), "object": current, "dryRun": .bool(dryRun),
                "options": ["apiVersion": "meta.k8s.io/v1", "kind": operation == "CREATE" ? "CreateOptions" : "UpdateOptions"],
            ]
            if let namespace { request["namespace"] = .string(namespace) }
            if let subresource { request["subResource"] = .string(subresource) }
            if let old { request["oldObject"] = old }
            if let user {
                var info: JSONValue = ["username": .string(user.name), "groups": .array(user.groups.map(JSONValue.string))]
                if !user.uid.isEmpty { info["uid"] = .string(user.uid) }
                request["userInfo"] = info
            }
            let review: JSONValue = ["apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request]
            let response: JSONValue
            do {
                response = try await call(hook, review)
            } catch {
                if hook.failOpen {
                    logger.warning("admission webhook failed; ignored by its failure policy", metadata: ["webhook": "\(hook.name)", "error": "\(error)"])
                    continue
                }
                throw Status.internalError("failed calling webhook \"\(hook.name)\": \(error)")
            }
            guard response["uid"]?.stringValue == uid else {
                if hook.failOpen { continue }
                throw Status.internalError("failed calling webhook \"\(hook.name)\": the response does not answer request \(uid)")
            }
            for warning in response["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? [] { RequestWarnings.add(warning) }
            guard response["allowed"]?.boolValue == true else {
                let status = response["status"]
                let code = Int(status?["code"]?.intValue ?? 403)
                let message = status?["message"]?.stringValue ?? ""
                throw Status(code: code >= 400 ? code : 403, reason: StatusReason(rawValue: status?["reason"]?.stringValue ?? "Forbidden"),
                    message: "admission webhook \"\(hook.name)\" denied the request" + (message.isEmpty ? "" : ": \(message)"))
            }
            if hook.mutating, let encoded = response["patch"]?.stringValue, let bytes = Data(base64Encoded: encoded) {
                guard (response["patchType"]?.stringValue ?? "JSONPatch") == "JSONPatch" else {
                    throw Status.internalError("webhook \"\(hook.name)\" answered with an unsupported patch type")
                }
                do {
                    let patched = try JSONPatch.apply(try JSONParser.parse(Array(bytes)), to: current)
                    if patched != current, position < hooks.count { lastChange = position }
                    current = patched
                } catch {
                    throw Status.internalError("webhook \"\(hook.name)\" answered with a patch that does not apply: \(error)")
                }
            }
        }
        return current
    }

    private func call(_ hook: Webhook, _ review: JSONValue) async throws -> JSONValue {
        let url: String
        var route: (host: String, address: String)?
        if let given = hook.url {
            guard given.hasPrefix("https://") else { throw Status.internalError("webhook \"\(hook.name)\" has no https clientConfig.url") }
            url = given
        } else if let service = hook.service {
            let endpoint = try await resolve(service)
            route = (service.host, endpoint.address)
            let path = service.path.hasPrefix("/") ? service.path : "/" + service.path
            url = "https://\(service.host):\(endpoint.port)\(path)"
        } else {
            throw Status.internalError("webhook \"\(hook.name)\" has neither clientConfig.url nor clientConfig.service")
        }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: review.encoded()))
        let response = try await client(caBundle: hook.caBundle, route: route).execute(request, timeout: .seconds(max(1, min(hook.timeout, 30))))
        let body = try await response.body.collect(upTo: 8 * 1024 * 1024)
        guard response.status == .ok else { throw Status.internalError("the webhook answered \(response.status.code)") }
        let answer = try JSONParser.parse(Array(buffer: body))
        guard let reviewResponse = answer["response"] else { throw Status.internalError("the webhook's AdmissionReview has no response") }
        return reviewResponse
    }

    /// A ready endpoint of the Service port a webhook names: its address and the endpoint port behind it.
    private func resolve(_ reference: ServiceReference) async throws -> (address: String, port: Int64) {
        let what = "service \(reference.namespace)/\(reference.name)"
        guard let stored = try await store.get("/registry/services/\(reference.namespace)/\(reference.name)", at: nil) else {
            throw Status.internalError("\(what) not found")
        }
        let service = try ObjectCodec.decodeStored(stored)
        guard let port = service.value(at: ["spec", "ports"])?.arrayValue?.first(where: { $0["port"]?.intValue == reference.port }) else {
            throw Status.internalError("\(what) has no port \(reference.port)")
        }
        let portName = port["name"]?.stringValue ?? ""
        let slices = try await store.range(prefix: "/registry/discovery.k8s.io/endpointslices/\(reference.namespace)/", at: nil,
            startAfter: nil, limit: nil)
        var candidates: [(String, Int64)] = []
        for stored in slices.items {
            let slice = try ObjectCodec.decodeStored(stored)
            guard slice.value(at: ["metadata", "labels", "kubernetes.io/service-name"])?.stringValue == reference.name,
                let slicePort = slice["ports"]?.arrayValue?.first(where: { ($0["name"]?.stringValue ?? "") == portName })?["port"]?.intValue
            else { continue }
            for endpoint in slice["endpoints"]?.arrayValue ?? [] where endpoint["conditions"]?["ready"]?.boolValue != false {
                if let address = endpoint["addresses"]?.arrayValue?.first?.stringValue { candidates.append((address, slicePort)) }
            }
        }
        guard let chosen = candidates.randomElement() else { throw Status.internalError("\(what) has no ready endpoint") }
        return chosen
    }

    /// One client per CA bundle (a webhook's TLS trust) and, for a Service's webhook, per endpoint it is routed to
    /// (the client's name-to-address override), kept for the server's life.
    private func client(caBundle: String?, route: (host: String, address: String)?) throws -> HTTPClient {
        let key = (caBundle ?? "") + (route.map { "|\($0.host)=\($0.address)" } ?? "")
        if let existing = clients.withLock({ $0[key] }) { return existing }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let caBundle, !caBundle.isEmpty {
            guard let pem = Data(base64Encoded: caBundle) else { throw Status.internalError("the webhook's caBundle is not base64") }
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem)))
        }
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        if let route { configuration.dnsOverride = [route.host: route.address] }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let (kept, spare) = clients.withLock { clients -> (HTTPClient, HTTPClient?) in
            if let raced = clients[key] { return (raced, client) }
            clients[key] = client
            return (client, nil)
        }
        if let spare { Task { try? await spare.shutdown() } }
        return kept
    }

    // MARK: Following the configurations

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for (index, prefix) in Self.keyPrefixes.enumerated() {
                group.addTask { await self.follow(prefix, mutating: index == 0) }
            }
        }
        let all = clients.withLock { clients in defer { clients.removeAll() }; return Array(clients.values) }
        for client in all { try? await client.shutdown() }
    }

    private func follow(_ prefix: String, mutating: Bool) async {
        await StoreFollower(store: store, prefix: prefix, logger: logger).run(
            reset: { objects in
                self.configurations.withLock { all in
                    for key in all.keys where key.hasPrefix(prefix) { all[key] = nil }
                    for (key, object) in objects { all[key] = Self.parse(object, mutating: mutating) }
                }
            },
            apply: { key, object in
                self.configurations.withLock { $0[key] = object.map { Self.parse($0, mutating: mutating) } }
            })
    }
}
