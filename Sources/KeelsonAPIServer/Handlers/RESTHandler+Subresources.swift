import Foundation
import Hummingbird
import KeelsonAPI
import KeelsonStore

extension RESTHandler {
    /// Conditions of a CertificateSigningRequest as the server keeps them: lastUpdateTime and lastTransitionTime
    /// filled when a client left them out, Approved and Denied mutually exclusive.
    static func stampConditionTimes(_ conditions: JSONValue, old: JSONValue) -> JSONValue {
        let now = JSONValue.string(Timestamp.format(Date()))
        let previous = old.value(at: ["status", "conditions"])?.arrayValue ?? []
        let stamped: [JSONValue] = (conditions.arrayValue ?? []).map { condition in
            var condition = condition
            let same = previous.first { $0["type"] == condition["type"] && $0["status"] == condition["status"] }
            if condition["lastUpdateTime"] == nil || condition["lastUpdateTime"] == .null { condition["lastUpdateTime"] = same?["lastUpdateTime"] ?? now }
            if condition["lastTransitionTime"] == nil || condition["lastTransitionTime"] == .null {
                condition["lastTransitionTime"] = same?["lastTransitionTime"] ?? now
            }
            return condition
        }
        return .array(stamped)
    }

    /// Who asked for a CertificateSigningRequest, written by the server over whatever the client sent.
    static func stampRequester(_ object: inout JSONValue, user: UserInfo?) {
        guard let user else { return }
        var spec = object["spec"] ?? [:]
        spec["username"] = .string(user.name)
        spec["uid"] = user.uid.isEmpty ? nil : .string(user.uid)
        spec["groups"] = .array(user.groups.map(JSONValue.string))
        spec["extra"] = user.extra.isEmpty ? nil : .object(user.extra.mapValues { .array($0.map(JSONValue.string)) })
        object["spec"] = spec
    }

    func handleSubresource(_ sub: String, request: APIRequest, path: ResourcePath, definition: ResourceDefinition) async throws -> Response {
        guard let name = path.name else { throw Status.notFound(definition.plural, group: definition.group, name: "") }
        switch (sub, request.method) {
        case ("status", "GET") where definition.hasStatus:
            return respond(try await get(definition, namespace: path.namespace, name: name), request: request, definition: definition)
        case ("status", "PUT") where definition.hasStatus:
            var object = try ObjectCodec.decodeBody(request.body, contentType: request.contentType)
            try checkKind(object, definition)
            object.name = name
            let key = definition.key(namespace: path.namespace, name: name)
            guard let stored = try await store.get(key, at: nil) else {
                throw Status.notFound(definition.plural, group: definition.group, name: name)
            }
            let old = try decode(stored, definition)
            let updated = try await commitUpdate(object, old: old, stored: stored, definition: definition,
                statusOnly: true, dryRun: request.query["dryRun"] == "All")
            return Self.json(updated)
        case ("status", "PATCH") where definition.hasStatus:
            return Self.json(try await patch(request: request, path: path, name: name, definition: definition, subresource: "status").0)
        case ("approval", "GET") where definition.kind == "CertificateSigningRequest":
            return respond(try await get(definition, namespace: nil, name: name), request: request, definition: definition)
        case ("approval", "PUT") where definition.kind == "CertificateSigningRequest":
            // Only the conditions change through approval; the certificate is the signer's, through /status.
            let proposed = try ObjectCodec.decodeBody(request.body, contentType: request.contentType)
            try checkKind(proposed, definition)
            let key = definition.key(namespace: nil, name: name)
            guard let stored = try await store.get(key, at: nil) else {
                throw Status.notFound(definition.plural, group: definition.group, name: name)
            }
            let old = try decode(stored, definition)
            var object = old
            object.resourceVersion = proposed.resourceVersion
            var status = old["status"] ?? [:]
            status["conditions"] = Self.stampConditionTimes(proposed.value(at: ["status", "conditions"]) ?? [], old: old)
            object["status"] = status
            return Self.json(try await commitUpdate(object, old: old, stored: stored, definition: definition, statusOnly: true,
                dryRun: request.query["dryRun"] == "All"))
        case ("scale", _) where definition.scale != nil:
            return try await scale(request: request, path: path, name: name, definition: definition)
        case ("binding", "POST") where definition.kind == "Pod" && definition.group.isEmpty:
            return try await bind(request: request, path: path, name: name, definition: definition)
        case ("eviction", "POST") where definition.kind == "Pod" && definition.group.isEmpty:
            return try await evict(request: request, path: path, name: name, definition: definition)
        case ("token", "POST") where definition.kind == "ServiceAccount" && definition.group.isEmpty:
            return try await requestToken(request: request, namespace: path.namespace ?? "", name: name, definition: definition)
        case ("exec", "GET"), ("exec", "POST"), ("attach", "GET"), ("attach", "POST"):
            guard definition.kind == "Pod" && definition.group.isEmpty else { throw Status.notFound(definition.plural, group: definition.group, name: name) }
            // An upgrade the streaming proxy accepted never reaches here: this is what was wrong with it.
            let pod = try await get(definition, namespace: path.namespace, name: name)
            _ = try PodStreamProxy.container(pod, requested: request.query["container"])
            if pod["spec"]?["nodeName"]?.stringValue?.isEmpty ?? true { throw Status.badRequest("pod \(name) does not have a host assigned") }
            throw Status.badRequest("Upgrade request required: \(sub) takes a WebSocket (v5.channel.k8s.io or v4.channel.k8s.io) "
                + "or SPDY/3.1 (v4.channel.k8s.io), "
                + "and the container must be running")
        case ("portforward", "GET"), ("portforward", "POST"):
            guard definition.kind == "Pod" && definition.group.isEmpty else { throw Status.notFound(definition.plural, group: definition.group, name: name) }
            let pod = try await get(definition, namespace: path.namespace, name: name)
            if pod["spec"]?["nodeName"]?.stringValue?.isEmpty ?? true { throw Status.badRequest("pod \(name) does not have a host assigned") }
            throw Status.badRequest("Upgrade request required: portforward takes a WebSocket (\(PodStreamProxy.portForwardTunnel)) "
                + "or SPDY/3.1 (portforward.k8s.io), "
                + "and the pod must be running on its node")
        case ("log", "GET") where definition.kind == "Pod" && definition.group.isEmpty:
            return try await podLog(request: request, path: path, name: name, definition: definition)
        case ("proxy", "GET") where definition.kind == "Node" && definition.group.isEmpty:
            return try await nodeProxy(request: request, name: name, definition: definition)
        case ("finalize", "PUT") where definition.kind == "Namespace" && definition.group.isEmpty:
            return try await finalizeNamespace(request: request, name: name, definition: definition)
        case ("status", _), ("scale", _), ("binding", _), ("eviction", _), ("finalize", _), ("log", _):
            if definition.hasStatus && sub == "status" || definition.scale != nil && sub == "scale" {
                throw Status.methodNotAllowed("the server does not allow this method on the requested resource")
            }
            throw Status.notFound(definition.plural, group: definition.group, name: name)
        default:
            throw Status(code: 404, reason: .notFound, message: "the server could not find the requested resource")
        }
    }

    // MARK: node proxy

    /// `nodes/NAME/proxy/PATH`: a GET of the node's kubelet (its metrics, stats, pods), as kubectl's
    /// `get --raw /api/v1/nodes/NAME/proxy/metrics/cadvisor` and Prometheus' kubelet scrapes through the API server
    /// use it. Only the kubelet port is proxied (`NAME:PORT` forms are refused).
    private func nodeProxy(request: APIRequest, name: String, definition: ResourceDefinition) async throws -> Response {
        guard !name.contains(":") else { throw Status.badRequest("only the kubelet of node \(name) can be proxied to") }
        let marker = "/nodes/\(name)/proxy"
        guard let range = request.path.range(of: marker) else { throw Status.notFound(definition.plural, group: "", name: name) }
        let rest = String(request.path[range.upperBound...])
        guard let kubelets, let base = kubelets.kubeletURL(try await get(definition, namespace: nil, name: name)) else {
            throw Status(code: 503, reason: .serviceUnavailable, message: "node \(name) has no address for its kubelet")
        }
        let query = request.query.isEmpty ? "" : "?" + request.query.sorted { $0.key < $1.key }.map { key, value in
            "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? value)"
        }.joined(separator: "&")
        return try await kubelets.get(base + (rest.isEmpty ? "/" : rest) + query)
    }

    // MARK: log

    /// `pods/log`: checks what kube-apiserver checks (one container named, the container started), then streams
    /// the kubelet's answer.
    private func podLog(request: APIRequest, path: ResourcePath, name: String, definition: ResourceDefinition) async throws -> Response {
        let pod = try await get(definition, namespace: path.namespace, name: name)
        let containers = (pod["spec"]?["containers"]?.arrayValue ?? []) + (pod["spec"]?["initContainers"]?.arrayValue ?? [])
            + (pod["spec"]?["ephemeralContainers"]?.arrayValue ?? [])
        let names = containers.compactMap { $0["name"]?.stringValue }
        let container: String
        if let requested = request.query["container"], !requested.isEmpty {
            guard names.contains(requested) else {
                throw Status.badRequest("container \(requested) is not valid for pod \(name)")
            }
            container = requested
        } else {
            let regular = (pod["spec"]?["containers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
            guard regular.count == 1 else {
                throw Status.badRequest("a container name must be specified for pod \(name), choose one of: [\(regular.joined(separator: " "))]")
            }
            container = regular[0]
        }
        guard let nodeName = pod["spec"]?["nodeName"]?.stringValue, !nodeName.isEmpty else {
            throw Status.badRequest("pod \(name) does not have a host assigned")
        }
        let statuses = (pod["status"]?["containerStatuses"]?.arrayValue ?? []) + (pod["status"]?["initContainerStatuses"]?.arrayValue ?? [])
        let status = statuses.first { $0["name"]?.stringValue == container }
        if request.query["previous"] != "true", let waiting = status?["state"]?["waiting"], status?["lastState"]?["terminated"] == nil {
            throw Status.badRequest("container \"\(container)\" in pod \"\(name)\" is waiting to start: \(waiting["reason"]?.stringValue ?? "ContainerCreating")")
        }
        guard let nodes = registry.lookup(group: "", version: "v1", resource: "nodes"),
              let kubelets, let node = try? await get(nodes, namespace: nil, name: nodeName), let base = kubelets.kubeletURL(node) else {
            throw Status.internalError("the kubelet of node \(nodeName) cannot be reached")
        }
        var query: [String] = []
        for key in ["follow", "previous", "timestamps", "tailLines", "sinceSeconds", "sinceTime", "limitBytes"] {
            if let value = request.query[key], let encoded = value.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) {
                query.append("\(key)=\(encoded)")
            }
        }
        let url = "\(base)/containerLogs/\(path.namespace ?? "default")/\(name)/\(container)" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        return try await kubelets.get(url)
    }

    // MARK: scale

    /// The `autoscaling/v1 Scale` view of a workload.
    private func scaleObject(_ object: JSONValue, _ scale: ScaleSupport) -> JSONValue {
        var metadata: [String: JSONValue] = [:]
        for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
            if let value = object.metadata?[field] { metadata[field] = value }
        }
        // Workloads keep a LabelSelector object; custom resources point `labelSelectorPath` at its string form.
        let rawSelector = scale.selector.isEmpty ? nil : object.value(at: scale.selector)
        let selector = rawSelector?.stringValue ?? TablePrinter.selectorString(rawSelector)
        return [
            "kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": .object(metadata),
            "spec": ["replicas": .integer(object.value(at: scale.specReplicas)?.intValue ?? 0)],
            "status": ["replicas": .integer(object.value(at: scale.statusReplicas)?.intValue ?? 0),
                       "selector": .string(selector == "<none>" ? "" : selector)],
        ]
    }

    private func scale(request: APIRequest, path: ResourcePath, name: String, definition: ResourceDefinition) async throws -> Response {
        let scale = definition.scale!
        if request.method == "PATCH", try Self.patchType(request.contentType) == .apply {
            return Self.json(scaleObject(try await applyScale(request: request, path: path, name: name, definition: definition), scale))
        }
        let key = definition.key(namespace: path.namespace, name: name)
        for _ in 0..<5 {
            guard let stored = try await store.get(key, at: nil) else {
                throw Status.notFound(definition.plural, group: definition.group, name: name)
            }
            let old = try decode(stored, definition)
            let current = scaleObject(old, scale)
            let desired: JSONValue
            switch request.method {
            case "GET":
                return Self.json(current)
            case "PUT":
                desired = try ObjectCodec.decodeBody(request.body, contentType: request.contentType)
            case "PATCH":
                let type = try Self.patchType(request.contentType)
                let patch = try ObjectCodec.decodeBody(request.body, contentType: "application/json")
                desired = try Self.applyPatch(patch, type: type, to: current, schema: .none)
            default:
                throw Status.methodNotAllowed("the server does not allow this method on the requested resource")
            }
            guard let replicas = desired.value(at: ["spec", "replicas"])?.intValue else {
                throw Status.invalid(kind: "Scale", group: "autoscaling", name: name, [.required("spec.replicas", "")])
            }
            if replicas < 0 {
                throw Status.invalid(kind: "Scale", group: "autoscaling", name: name,
                    [.invalid("spec.replicas", String(replicas), "must be greater than or equal to 0")])
            }
            var updated = old
            updated.setValue(.integer(replicas), at: scale.specReplicas)
            let pinned = desired.resourceVersion.map { !$0.isEmpty && $0 != old.resourceVersion } ?? false
            if let rv = desired.resourceVersion, !rv.isEmpty { updated.resourceVersion = rv }
            do {
                let result = try await commitUpdate(updated, old: old, stored: stored, definition: definition,
                    statusOnly: false, dryRun: request.query["dryRun"] == "All", ownedThrough: "scale")
                return Self.json(scaleObject(result, scale))
            } catch let status as Status where status.code == 409 && !pinned && request.method == "PATCH" {
                continue
            }
        }
        throw Status.conflict(definition.plural, group: definition.group, name: name, "the object kept changing")
    }

    /// Server-side apply of a Scale: its replicas become the parent's, owned by the manager through `scale` (as
    /// kube-apiserver records it), with the conflicts and `force` of any apply.
    private func applyScale(request: APIRequest, path: ResourcePath, name: String, definition: ResourceDefinition) async throws -> JSONValue {
        let manager = try Self.applyManager(request)
        let applied = try ObjectCodec.decodeBody(request.body, contentType: request.contentType)
        guard applied.kind == "Scale", applied.apiVersion == "autoscaling/v1" else {
            throw Status.badRequest("an applied configuration of the scale subresource must be an autoscaling/v1 Scale")
        }
        if let bodyName = applied.name, !bodyName.isEmpty, bodyName != name {
            throw Status.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        var config: JSONValue = ["apiVersion": .string(definition.apiVersion), "kind": .string(definition.kind),
                                 "metadata": ["name": .string(name)]]
        if let replicas = applied.value(at: ["spec", "replicas"]), !replicas.isNull {
            guard let count = replicas.intValue, count >= 0 else {
                throw Status.invalid(kind: "Scale", group: "autoscaling", name: name,
                    [.invalid("spec.replicas", replicas.encodedString(), "must be greater than or equal to 0")])
            }
            config.setValue(.integer(Int64(count)), at: definition.scale!.specReplicas)
        }
        if let rv = applied.resourceVersion, !rv.isEmpty { config.resourceVersion = rv }
        let force = request.query["force"].map { $0 == "true" || $0 == "1" } ?? false
        return try await apply(config: config, manager: manager, request: request, path: path, name: name, definition: definition,
            subresource: "scale", force: force).0
    }

    // MARK: pods/binding and pods/eviction

    private func bind(request: APIRequest, path: ResourcePath, name: String, definition: ResourceDefinition) async throws -> Response {
        let binding = try ObjectCodec.decodeBody(request.body, contentType: request.contentType)
        guard let node = binding.value(at: ["target", "name"])?.stringValue, !node.isEmpty else {
            throw Status.invalid(kind: "Binding", group: "", name: name, [.required("target.name", "")])
        }
        if let kind = binding.value(at: ["target", "kind"])?.stringValue, !kind.isEmpty, kind != "Node" {
            throw Status.invalid(kind: "Binding", group: "", name: name, [.notSupported("target.kind", kind, supported: ["Node"])])
        }
        let key = definition.key(namespace: path.namespace, name: name)
        for _ in 0..<5 {
            guard let stored = try await store.get(key, at: nil) else {
                throw Status.notFound(definition.plural, group: definition.group, name: name)
            }
            var pod = try ObjectCodec.decodeStored(stored)
            if let uid = binding.uid, !uid.isEmpty, uid != pod.uid {
                throw Status.conflict("pods/binding", group: "", name: name, "Precondition failed: UID in precondition: \(uid), UID in object meta: \(pod.uid ?? "")")
            }
            if pod.deletionTimestamp != nil {
                throw Status.conflict("pods/binding", group: "", name: name, "pod \(name) is being deleted, cannot be assigned to a host")
            }
            if let existing = pod.value(at: ["spec", "nodeName"])?.stringValue, !existing.isEmpty {
                throw Status.conflict("pods/binding", group: "", name: name, "pod \(name) is already assigned to node \"\(existing)\"")
            }
            pod.setValue(.string(node), at: ["spec", "nodeName"])
            var conditions = pod.value(at: ["status", "conditions"])?.arrayValue ?? []
            conditions.removeAll { $0["type"]?.stringValue == "PodScheduled" }
            conditions.append(["type": "PodScheduled", "status": "True", "lastProbeTime": .null,
                               "lastTransitionTime": .string(Timestamp.format(Date()))])
            pod.setValue(.array(conditions), at: ["status", "conditions"])
            for (k, v) in binding.metadata?["annotations"]?.objectValue ?? [:] {
                var annotations = pod.metadata?["annotations"]?.objectValue ?? [:]
                annotations[k] = v
                pod.setMetadataField("annotations", .object(annotations))
            }
            do {
                _ = try await store.update(key, value: ObjectCodec.encodeForStorage(pod), ifModRevision: stored.modRevision)
                return Self.json(Status.success().jsonValue, status: .created)
            } catch let error as StoreError where error.code == .conflict {
                continue
            }
        }
        throw Status.conflict("pods/binding", group: "", name: name, "the pod kept changing")
    }

    private func evict(request: APIRequest, path: ResourcePath, name: String, definition: ResourceDefinition) async throws -> Response {
        let eviction = try ObjectCodec.decodeBody(request.body, contentType: request.contentType)
        if request.query["dryRun"] != "All" && eviction["deleteOptions"]?["dryRun"] == nil {
            try await checkDisruptionBudget(namespace: path.namespace ?? "", podName: name, podDefinition: definition)
        }
        var deleteRequest = request
        deleteRequest.body = eviction["deleteOptions"].map { $0.encoded() } ?? []
        deleteRequest.contentType = "application/json"
        _ = try await delete(request: deleteRequest, namespace: path.namespace, name: name, definition: definition)
        return Self.json(Status.success().jsonValue, status: .created)
    }

    /// The eviction half of PodDisruptionBudgets, as kube-apiserver does it: a healthy pod covered by a budget
    /// with no disruptions left is refused with 429 (clients such as `kubectl drain` retry); otherwise the budget's
    /// `disruptionsAllowed` is taken down by one (compare-and-swap on the budget) before the pod is deleted, so two
    /// concurrent evictions cannot both spend the last one. Finished, terminating and (while the budget is met)
    /// unhealthy pods pass without spending anything.
    private func checkDisruptionBudget(namespace: String, podName: String, podDefinition: ResourceDefinition) async throws {
        guard let budgets = registry.lookup(group: "policy", version: "v1", resource: "poddisruptionbudgets"),
            let storedPod = try await store.get(podDefinition.key(namespace: namespace, name: podName), at: nil)
        else { return }
        let pod = try ObjectCodec.decodeStored(storedPod)
        let phase = pod.value(at: ["status", "phase"])?.stringValue
        if pod.deletionTimestamp != nil || phase == "Succeeded" || phase == "Failed" { return }
        let podLabels = pod.labels
        for _ in 0..<5 {
            let page = try await store.range(prefix: budgets.prefix(namespace: namespace), at: nil, startAfter: nil, limit: nil)
            var matching: [(StoredValue, JSONValue)] = []
            for item in page.items {
                let budget = try ObjectCodec.decodeStored(item)
                guard let selector = try? LabelSelector.from(budget.value(at: ["spec", "selector"]) ?? [:]), selector.matches(podLabels) else { continue }
                matching.append((item, budget))
            }
            guard let (stored, budget) = matching.first else { return }
            if matching.count > 1 {
                throw Status.internalError("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")
            }
            let status = budget["status"] ?? [:]
            let name = budget.name ?? ""
            if (status["observedGeneration"]?.intValue ?? 0) < (budget.generation ?? 0) {
                throw Self.tooManyRequests("The disruption budget \(name) is still being processed by the server.")
            }
            let healthy = status["currentHealthy"]?.intValue ?? 0, desired = status["desiredHealthy"]?.intValue ?? 0
            let ready = (pod.value(at: ["status", "conditions"])?.arrayValue ?? []).contains { $0["type"] == "Ready" && $0["status"] == "True" }
            if !ready && (healthy >= desired || budget.value(at: ["spec", "unhealthyPodEvictionPolicy"])?.stringValue == "AlwaysAllow") {
                return
            }
            let allowed = status["disruptionsAllowed"]?.intValue ?? 0
            guard allowed > 0 else {
                throw Self.tooManyRequests("The disruption budget \(name) needs \(desired) healthy pods and has \(healthy) currently")
            }
            var spent = budget
            spent.setValue(.integer(allowed - 1), at: ["status", "disruptionsAllowed"])
            var disrupted = spent.value(at: ["status", "disruptedPods"])?.objectValue ?? [:]
            disrupted[podName] = .string(Timestamp.format(Date()))
            spent.setValue(.object(disrupted), at: ["status", "disruptedPods"])
            do {
                _ = try await store.update(stored.key, value: ObjectCodec.encodeForStorage(spent), ifModRevision: stored.modRevision)
                return
            } catch let error as StoreError where error.code == .conflict {
                continue
            }
        }
        throw Self.tooManyRequests("the disruption budget kept changing; try again")
    }

    private static func tooManyRequests(_ cause: String) -> Status {
        var status = Status(code: 429, reason: .tooManyRequests, message: "Cannot evict pod as it would violate the pod's disruption budget.")
        status.details = Status.Details(causes: [Status.Cause(reason: "DisruptionBudget", message: cause)])
        return status
    }

    // MARK: namespaces/finalize

    private func finalizeNamespace(request: APIRequest, name: String, definition: ResourceDefinition) async throws -> Response {
        let body = try ObjectCodec.decodeBody(request.body, contentType: request.contentType)
        let key = definition.key(namespace: nil, name: name)
        guard let stored = try await store.get(key, at: nil) else {
            throw Status.notFound(definition.plural, group: definition.group, name: name)
        }
        var namespace = try ObjectCodec.decodeStored(stored)
        namespace.setValue(body.value(at: ["spec", "finalizers"]) ?? .array([]), at: ["spec", "finalizers"])
        let remaining = namespace.value(at: ["spec", "finalizers"])?.arrayValue ?? []
        if namespace.deletionTimestamp != nil && remaining.isEmpty && namespace.finalizers.isEmpty {
            do {
                let deleted = try await store.delete(key, ifModRevision: stored.modRevision)
                namespace.resourceVersion = String(deleted.modRevision)
                return Self.json(namespace)
            } catch {
                throw Status(mapping: error, definition: definition, name: name)
            }
        }
        do {
            let revision = try await store.update(key, value: ObjectCodec.encodeForStorage(namespace), ifModRevision: stored.modRevision)
            namespace.resourceVersion = String(revision)
            return Self.json(namespace)
        } catch {
            throw Status(mapping: error, definition: definition, name: name)
        }
    }
}
