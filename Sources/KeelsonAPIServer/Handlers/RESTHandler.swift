import Foundation
import Hummingbird
import KeelsonAPI
import KeelsonStore
import Logging

/// The generic REST machinery: one handler serves every kind in the registry, running the kind's strategy in a
/// fixed order (defaults → prepare → validate → store), as kube-apiserver's generic registry does.
final class RESTHandler: Sendable {
    let store: any Store
    let registry: ResourceRegistry
    let logger: Logger
    let namespaces: NamespaceCache?
    let allocator: ServiceAllocator?
    let tolerationDefaults: DefaultTolerationSeconds?
    let watchLines = WatchEventCache()
    /// Where lists are answered from when it can (see `listFromCache`); nil reads every list from the store.
    let watchCache: WatchCache?
    /// Where `pods/log` goes; nil in tests without nodes.
    let kubelets: KubeletProxy?
    /// How long an Event lives after its last write (`--event-ttl`); nil keeps Events for good.
    let eventTTL: Duration?
    /// How often a watch that allows bookmarks gets one.
    let bookmarkInterval: Duration
    /// RBAC's escalation rule on role and binding writes; nil when the server authorizes nothing (unit tests).
    let escalation: EscalationCheck?
    /// Signs service account tokens (`serviceaccounts/NAME/token`); nil when the server has no signing key.
    let tokenIssuer: ServiceAccountTokenIssuer?
    /// Refuses creates over a ResourceQuota and charges the ones it admits.
    let quotaAdmission: ResourceQuotaAdmission?
    /// Dynamic admission; nil in servers that do not run it (unit tests of the REST machinery).
    let webhooks: AdmissionWebhooks?

    init(store: any Store, registry: ResourceRegistry, logger: Logger, namespaces: NamespaceCache? = nil, allocator: ServiceAllocator? = nil,
        tolerationDefaults: DefaultTolerationSeconds? = nil, kubelets: KubeletProxy? = nil, eventTTL: Duration? = nil,
        bookmarkInterval: Duration = .seconds(60), watchCache: WatchCache? = nil, escalation: EscalationCheck? = nil, tokenIssuer: ServiceAccountTokenIssuer? = nil, webhooks: AdmissionWebhooks? = nil)
    {
        self.webhooks = webhooks
        self.store = store
        self.escalation = escalation
        self.tokenIssuer = tokenIssuer
        self.quotaAdmission = registry.lookup(group: "", version: "v1", resource: "resourcequotas").map {
            ResourceQuotaAdmission(store: store, quotas: $0)
        }
        self.eventTTL = eventTTL
        self.bookmarkInterval = bookmarkInterval
        self.watchCache = watchCache
        self.kubelets = kubelets
        self.tolerationDefaults = tolerationDefaults
        self.allocator = allocator
        self.registry = registry
        self.logger = logger
        self.namespaces = namespaces
    }

    /// The time to live of objects of this kind: only Events have one, renewed by every write, as in Kubernetes.
    func ttl(_ definition: ResourceDefinition) -> Duration? {
        definition.kind == "Event" ? eventTTL : nil
    }

    static func supportedFieldSelectors(_ definition: ResourceDefinition) -> Set<String> {
        var fields: Set<String> = ["metadata.name"]
        if definition.namespaced { fields.insert("metadata.namespace") }
        fields.formUnion(definition.strategy.selectableFields(.object([:])).keys)
        return fields
    }

    func selectableFields(_ object: JSONValue, _ definition: ResourceDefinition) -> [String: String] {
        var fields = definition.strategy.selectableFields(object)
        fields["metadata.name"] = object.name ?? ""
        if definition.namespaced { fields["metadata.namespace"] = object.namespace ?? "" }
        return fields
    }

    func matches(_ object: JSONValue, _ options: ListOptions, _ definition: ResourceDefinition) -> Bool {
        (options.labelSelector.isEverything || options.labelSelector.matches(object.labels))
            && (options.fieldSelector.isEverything || options.fieldSelector.matches(selectableFields(object, definition)))
    }

    // MARK: Dispatch

    func handle(_ request: APIRequest, path: ResourcePath, definition: ResourceDefinition) async throws -> Response {
        guard ["POST", "PUT", "PATCH"].contains(request.method) else { return try await route(request, path: path, definition: definition) }
        let manager = try Self.fieldManager(of: request)
        return try await ManagedFields.$requestManager.withValue(manager) {
            try await route(request, path: path, definition: definition)
        }
    }

    /// The manager a write is recorded under: `fieldManager`, else the User-Agent's product name.
    static func fieldManager(of request: APIRequest) throws -> String {
        if let named = request.query["fieldManager"], !named.isEmpty {
            guard named.count <= 128, named.unicodeScalars.allSatisfy({ $0.properties.generalCategory != .control }) else {
                throw Status(code: 422, reason: .invalid,
                    message: "fieldManager: Invalid value: \"\(named)\": must be at most 128 printable characters",
                    details: Status.Details(causes: [.init(reason: "FieldValueInvalid", message: "must be at most 128 printable characters", field: "fieldManager")]))
            }
            return named
        }
        let product = request.userAgent?.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        return product.isEmpty ? "unknown" : String(product.prefix(128))
    }

    private func route(_ request: APIRequest, path: ResourcePath, definition: ResourceDefinition) async throws -> Response {
        if path.namespace == nil && definition.namespaced && path.name != nil {
            throw Status.notFound(definition.plural, group: definition.group, name: path.name ?? "")
        }
        if let sub = path.subresource {
            return try await handleSubresource(sub, request: request, path: path, definition: definition)
        }
        switch (request.method, path.name) {
        case ("GET", nil):
            let options = try ListOptions(query: request.query, definition: definition)
            if options.watch {
                return try await watch(request: request, path: path, definition: definition, options: options)
            }
            return try await list(request: request, path: path, definition: definition, options: options)
        case ("GET", let name?):
            if request.query["watch"] == "true" || request.query["watch"] == "1" {
                var query = request.query
                query["fieldSelector"] = "metadata.name=\(name)"
                let options = try ListOptions(query: query, definition: definition)
                return try await watch(request: request, path: path, definition: definition, options: options)
            }
            let object = try await get(definition, namespace: path.namespace, name: name)
            return respond(object, request: request, definition: definition)
        case ("POST", nil):
            let (object, body) = try await create(request: request, path: path, definition: definition)
            if let body { return Self.jsonBytes(body, status: .created) }
            return respond(object, request: request, definition: definition, status: .created)
        case ("PUT", let name?):
            let (object, created) = try await update(request: request, path: path, name: name, definition: definition)
            return respond(object, request: request, definition: definition, status: created ? .created : .ok)
        case ("PATCH", let name?):
            let (object, created) = try await patch(request: request, path: path, name: name, definition: definition, subresource: nil)
            return respond(object, request: request, definition: definition, status: created ? .created : .ok)
        case ("DELETE", let name?):
            let (object, _) = try await delete(request: request, namespace: path.namespace, name: name, definition: definition)
            return respond(object, request: request, definition: definition)
        case ("DELETE", nil):
            return try await deleteCollection(request: request, path: path, definition: definition)
        default:
            throw Status.methodNotAllowed("the server does not allow this method on the requested resource")
        }
    }

    // MARK: Responses

    func respond(_ object: JSONValue, request: APIRequest, definition: ResourceDefinition, status: HTTPResponse.Status = .ok) -> Response {
        if request.wantsTable && request.method == "GET" && object.kind != "Status" {
            let include = TablePrinter.IncludeObject(rawValue: request.query["includeObject"] ?? "") ?? .metadata
            let table = TablePrinter.table(for: definition, objects: [object],
                listMetadata: ["resourceVersion": .string(object.resourceVersion ?? "")], include: include)
            return Self.json(table, status: status)
        }
        return Self.json(object, status: status)
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: value.encoded())))
    }

    static func jsonBytes(_ bytes: [UInt8], status: HTTPResponse.Status) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func statusResponse(_ status: Status) -> Response {
        json(status.jsonValue, status: HTTPResponse.Status(code: status.code))
    }

    // MARK: Reads

    /// A stored object as served through `definition`: the versions of a custom resource share their objects, each
    /// answering with its own apiVersion.
    func decode(_ stored: StoredValue, _ definition: ResourceDefinition) throws(Status) -> JSONValue {
        var object = try ObjectCodec.decodeStored(stored)
        if definition.sharesStorageAcrossVersions { object["apiVersion"] = .string(definition.apiVersion) }
        return object
    }

    func get(_ definition: ResourceDefinition, namespace: String?, name: String) async throws -> JSONValue {
        let key = definition.key(namespace: namespace, name: name)
        guard let stored = try await store.get(key, at: nil) else {
            throw Status.notFound(definition.plural, group: definition.group, name: name)
        }
        return try decode(stored, definition)
    }

    func list(request: APIRequest, path: ResourcePath, definition: ResourceDefinition, options: ListOptions) async throws -> Response {
        let prefix = definition.prefix(namespace: path.namespace)
        var revision: Int64? = options.continueToken?.revision
        if revision == nil, let rv = options.resourceVersion, rv != "0", options.resourceVersionMatch == "Exact" {
            revision = Int64(rv)
        }
        var startAfter = options.continueToken?.startAfter
        // A name field selector narrows to one key, which kubectl's `get NAME -w`, `wait` and `rollout status` use.
        if let name = options.fieldSelector.exactValue(for: "metadata.name"), startAfter == nil {
            startAfter = nil
            let key = definition.key(namespace: path.namespace, name: name)
            if path.namespace != nil || !definition.namespaced {
                let stored = try await store.get(key, at: revision)
                let current = try await store.currentRevision()
                var items: [JSONValue] = []
                if let stored {
                    let object = try decode(stored, definition)
                    if matches(object, options, definition) { items.append(object) }
                }
                return listResponse(items, revision: revision ?? current, next: nil, request: request, definition: definition)
            }
        }
        if let cached = try await listFromCache(prefix: prefix, definition: definition, options: options) {
            var items: [JSONValue] = []
            for stored in cached.items {
                let object = try decode(stored, definition)
                if matches(object, options, definition) { items.append(object) }
            }
            return listResponse(items, revision: cached.revision, next: nil, request: request, definition: definition)
        }
        var items: [JSONValue] = []
        var readRevision = revision
        var lastKey: String?
        var more = false
        // Selectors filter after reading, so keep reading pages until the limit is met or the keys run out.
        repeat {
            let pageSize = options.limit.map { max($0 - items.count, 1) * (options.labelSelector.isEverything && options.fieldSelector.isEverything ? 1 : 4) }
            let page = try await store.range(prefix: prefix, at: readRevision, startAfter: startAfter, limit: pageSize)
            readRevision = page.revision
            more = page.more
            for stored in page.items {
                lastKey = stored.key
                let object = try decode(stored, definition)
                if matches(object, options, definition) {
                    items.append(object)
                    if let limit = options.limit, items.count == limit {
                        more = more || stored.key != page.items.last?.key
                        break
                    }
                }
            }
            startAfter = lastKey
        } while more && (options.limit.map { items.count < $0 } ?? false)
        let next: ContinueToken? = (more && options.limit != nil && lastKey != nil)
            ? ContinueToken(revision: readRevision ?? 0, startAfter: lastKey!) : nil
        return listResponse(items, revision: readRevision ?? 0, next: next, request: request, definition: definition)
    }

    /// The stored values a list is answered with from the watch cache, as kube-apiserver decides it: `resourceVersion=0`
    /// takes the cache as it is (and, as there, ignores `limit`); a consistent list (no resourceVersion) or one not
    /// older than a revision waits for the cache to reach it. Pages, exact revisions and continuations read the store.
    private func listFromCache(prefix: String, definition: ResourceDefinition, options: ListOptions) async throws
        -> (items: [StoredValue], revision: Int64)?
    {
        guard let watchCache, options.continueToken == nil, options.resourceVersionMatch != "Exact" else { return nil }
        switch options.resourceVersion {
        case "0":
            return await watchCache.list(prefix: prefix, notOlderThan: nil)
        case nil, "":
            guard options.limit == nil else { return nil }
            return await watchCache.list(prefix: prefix, notOlderThan: try await store.currentRevision())
        case let text?:
            guard options.limit == nil, let revision = Int64(text) else { return nil }
            return await watchCache.list(prefix: prefix, notOlderThan: revision)
        }
    }

    private func listResponse(_ items: [JSONValue], revision: Int64, next: ContinueToken?, request: APIRequest,
        definition: ResourceDefinition) -> Response
    {
        var metadata: [String: JSONValue] = ["resourceVersion": .string(String(revision))]
        if let next { metadata["continue"] = .string(next.encoded) }
        if request.wantsTable {
            let include = TablePrinter.IncludeObject(rawValue: request.query["includeObject"] ?? "") ?? .metadata
            return Self.json(TablePrinter.table(for: definition, objects: items, listMetadata: .object(metadata), include: include))
        }
        let list: JSONValue = [
            "kind": .string(definition.kind + "List"),
            "apiVersion": .string(definition.apiVersion),
            "metadata": .object(metadata),
            "items": .array(items),
        ]
        return Self.json(list)
    }

    // MARK: Create

    /// The created object and, when it could be spliced from the stored bytes, its encoded answer.
    func create(request: APIRequest, path: ResourcePath, definition: ResourceDefinition) async throws -> (JSONValue, [UInt8]?) {
        var (object, duplicates) = try ObjectCodec.decodeBodyNotingDuplicates(request.body, contentType: request.contentType)
        try checkKind(object, definition)
        try checkUnknownFields(object, duplicates: duplicates, request: request, definition: definition)
        return try await createEncoded(object: &object, namespace: path.namespace, definition: definition,
            dryRun: request.query["dryRun"] == "All")
    }

    func create(object: inout JSONValue, namespace: String?, definition: ResourceDefinition, dryRun: Bool) async throws -> JSONValue {
        try await createEncoded(object: &object, namespace: namespace, definition: definition, dryRun: dryRun).0
    }

    func createEncoded(object: inout JSONValue, namespace: String?, definition: ResourceDefinition, dryRun: Bool)
        async throws -> (JSONValue, [UInt8]?)
    {
        try prepareMetadataForCreate(&object, namespace: namespace, definition: definition)
        definition.strategy.applyDefaults(&object)
        definition.strategy.prepareForCreate(&object)
        if definition.group.isEmpty && definition.kind == "Pod" {
            tolerationDefaults?.admit(&object)
            // Without a signing key there is no token to mount: kube-apiserver leaves the plugin off then too.
            if tokenIssuer != nil, let namespace {
                let accountName = object.value(at: ["spec", "serviceAccountName"])?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
                var account: JSONValue?
                if let accounts = registry.lookup(group: "", version: "v1", resource: "serviceaccounts"),
                   let stored = try await store.get(accounts.key(namespace: namespace, name: accountName), at: nil)
                {
                    account = try? ObjectCodec.decodeStored(stored)
                }
                ServiceAccountAdmission.admit(&object, account: account)
            }
        }
        if definition.kind == "CertificateSigningRequest" { Self.stampRequester(&object, user: RequestUser.current) }
        if let namespace, definition.group.isEmpty, definition.kind == "Pod" || definition.kind == "PersistentVolumeClaim",
            let limitRanges = registry.lookup(group: "", version: "v1", resource: "limitranges")
        {
            let stored = try await store.range(prefix: limitRanges.prefix(namespace: namespace), at: nil, startAfter: nil, limit: nil)
            if !stored.items.isEmpty {
                try LimitRanger.admit(&object, kind: definition.kind, limitRanges: try stored.items.map { try ObjectCodec.decodeStored($0) })
            }
        }
        object = try await webhookAdmission(mutating: true, operation: "CREATE", object, old: nil, definition: definition, subresource: nil,
            namespace: namespace, dryRun: dryRun)
        try validate(object, definition: definition, old: nil)
        try NodeRestriction.admit(operation: "CREATE", object: object, old: nil, definition: definition, subresource: nil, user: RequestUser.current)
        if let namespace, definition.namespaced { try await checkNamespaceAcceptsContent(namespace, object: object, definition: definition) }
        if let namespace, ["", "apps", "batch"].contains(definition.group),
           PodSecurityAdmission.podSpec(of: object, kind: definition.kind) != nil
        {
            let labels = try await namespaceLabels(namespace).filter { $0.key.hasPrefix(PodSecurityAdmission.labelPrefix) }
            if !labels.isEmpty {
                for warning in try PodSecurityAdmission.admit(object, kind: definition.kind, name: object.name ?? "", labels: labels) {
                    RequestWarnings.add(warning)
                }
            }
        }
        _ = try await webhookAdmission(mutating: false, operation: "CREATE", object, old: nil, definition: definition, subresource: nil,
            namespace: namespace, dryRun: dryRun)
        if let namespace, let quotas = quotaAdmission {
            try await quotas.admit(object, definition: definition, namespace: namespace, dryRun: dryRun)
        }
        let name = object.name ?? ""
        let key = definition.key(namespace: namespace, name: name)
        var reservation = ServiceAllocator.Reservation()
        if let allocator, definition.isService {
            reservation = try await allocator.assign(&object, old: nil, dryRun: dryRun)
        }
        if let manager = ManagedFields.requestManager {
            ManagedFields.recordUpdate(old: nil, new: &object, sent: object.metadata?["managedFields"], manager: manager,
                apiVersion: definition.apiVersion, subresource: nil, hasStatus: definition.hasStatus, schema: mergeSchema(definition))
        }
        if dryRun {
            if try await store.get(key, at: nil) != nil {
                throw Status.alreadyExists(definition.plural, group: definition.group, name: name)
            }
            return (object, nil)
        }
        do {
            // One encoding serves both the store and the answer (the answer adds the new resourceVersion).
            let encoded = EncodedObject(object)
            let revision = try await store.create(key, value: encoded?.bytes ?? ObjectCodec.encodeForStorage(object),
                ttl: ttl(definition))
            object.resourceVersion = String(revision)
            return (object, encoded?.with(resourceVersion: String(revision)))
        } catch {
            if !reservation.isEmpty { await allocator?.release(reservation) }
            throw Status(mapping: error, definition: definition, name: name)
        }
    }

    func checkKind(_ object: JSONValue, _ definition: ResourceDefinition) throws {
        guard case .object = object else {
            throw Status.badRequest("the body of the request must be a JSON object")
        }
        if let kind = object.kind, !kind.isEmpty, kind != definition.kind {
            throw Status.badRequest("the kind in the data (\(kind)) does not match the expected kind (\(definition.kind))")
        }
        if let apiVersion = object.apiVersion, !apiVersion.isEmpty, apiVersion != definition.apiVersion {
            throw Status.badRequest("the API version in the data (\(apiVersion)) does not match the expected API version (\(definition.apiVersion))")
        }
    }

    /// `fieldValidation`: unknown fields (of kinds with a schema) and keys a JSON body repeats are refused under
    /// `Strict`, answered with `Warning` headers under `Warn` (the default), or let through under `Ignore`.
    func checkUnknownFields(_ object: JSONValue, duplicates: [String] = [], request: APIRequest, definition: ResourceDefinition) throws {
        let mode = request.query["fieldValidation"].flatMap { $0.isEmpty ? nil : $0 } ?? "Warn"
        guard ["Ignore", "Warn", "Strict"].contains(mode) else {
            throw Status.badRequest("fieldValidation: Unsupported value: \"\(mode)\": supported values: \"Ignore\", \"Strict\", \"Warn\"")
        }
        guard mode != "Ignore" else { return }
        let unknown = definition.strategy.unknownFields.map { $0(object).sorted() } ?? []
        guard !unknown.isEmpty || !duplicates.isEmpty else { return }
        let listed = unknown.map { "unknown field \"\($0)\"" } + duplicates.map { "duplicate field \"\($0)\"" }
        if mode == "Strict" {
            throw Status.badRequest("\(definition.kind) in version \"\(definition.version)\" cannot be handled as a \(definition.kind): "
                + "strict decoding error: " + listed.joined(separator: ", "))
        }
        for warning in listed { RequestWarnings.add(warning) }
    }

    private func prepareMetadataForCreate(_ object: inout JSONValue, namespace: String?, definition: ResourceDefinition) throws {
        object["apiVersion"] = .string(definition.apiVersion)
        object["kind"] = .string(definition.kind)
        if definition.namespaced {
            if let declared = object.namespace, !declared.isEmpty, declared != namespace {
                throw Status.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            object.namespace = namespace
        } else {
            object.setMetadataField("namespace", nil)
        }
        if (object.name ?? "").isEmpty, let generate = object.generateName, !generate.isEmpty {
            object.name = Self.generateName(generate)
        }
        object.uid = UUID().uuidString.lowercased()
        object.setMetadataField("creationTimestamp", .string(Timestamp.format(Date())))
        object.setMetadataField("deletionTimestamp", nil)
        object.setMetadataField("deletionGracePeriodSeconds", nil)
        object.setMetadataField("resourceVersion", nil)
        object.setMetadataField("selfLink", nil)
        object.generation = definition.hasGeneration ? 1 : nil
    }

    /// `generateName` plus five random characters from the alphabet kube-apiserver uses (no vowels, no 0/1/3).
    static func generateName(_ base: String) -> String {
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        let prefix = base.count > 58 ? String(base.prefix(58)) : base
        return prefix + String((0..<5).map { _ in alphabet.randomElement()! })
    }

    /// The admission webhooks that match a client's create or update (never the server's own writes, nor the webhook
    /// configurations themselves, which a broken webhook must not lock out); mutating ones return the object changed.
    func webhookAdmission(mutating: Bool, operation: String, _ object: JSONValue, old: JSONValue?, definition: ResourceDefinition,
        subresource: String?, namespace: String?, dryRun: Bool) async throws -> JSONValue
    {
        guard let webhooks, !webhooks.isEmpty, let user = RequestUser.current, definition.group != "admissionregistration.k8s.io" else {
            return object
        }
        var labels: [String: String]?
        if definition.namespaced, let namespace { labels = try await namespaceLabels(namespace) }
        return try await webhooks.admit(mutating: mutating, operation: operation, object: object, old: old, definition: definition,
            subresource: subresource, namespace: definition.namespaced ? namespace : nil, namespaceLabels: labels, user: user, dryRun: dryRun)
    }

    /// The namespace's labels, from the cache, or the store for a namespace it has not seen yet.
    func namespaceLabels(_ namespace: String) async throws -> [String: String] {
        if let cached = namespaces?.labels(of: namespace) { return cached }
        guard let definition = registry.lookup(group: "", version: "v1", resource: "namespaces"),
              let stored = try await store.get(definition.key(namespace: nil, name: namespace), at: nil) else { return [:] }
        return NamespaceCache.labels(of: try ObjectCodec.decodeStored(stored))
    }

    private func checkNamespaceAcceptsContent(_ namespace: String, object: JSONValue, definition: ResourceDefinition) async throws {
        var state = namespaces?.state(of: namespace)
        if state == nil {
            guard let namespaces = registry.lookup(group: "", version: "v1", resource: "namespaces"),
                let stored = try await store.get(namespaces.key(namespace: nil, name: namespace), at: nil)
            else {
                throw Status.notFound("namespaces", group: "", name: namespace)
            }
            state = NamespaceCache.state(of: try ObjectCodec.decodeStored(stored))
        }
        if state == .terminating {
            throw Status.forbidden(definition.plural, group: definition.group, name: object.name ?? "",
                "unable to create new content in namespace \(namespace) because it is being terminated")
        }
    }

    // MARK: Validation

    func validate(_ object: JSONValue, definition: ResourceDefinition, old: JSONValue?) throws {
        var errors = validateMetadata(object, definition: definition)
        errors += definition.strategy.validate(object)
        if let old { errors += validateMetadataUpdate(object, old: old) + definition.strategy.validateUpdate(object, old) }
        if !errors.isEmpty {
            throw Status.invalid(kind: definition.kind, group: definition.group, name: object.name ?? "", errors)
        }
        if let escalation, let user = RequestUser.current { try escalation.check(object, definition: definition, user: user) }
    }

    private func validateMetadata(_ object: JSONValue, definition: ResourceDefinition) -> [FieldError] {
        var errors: [FieldError] = []
        let name = object.name ?? ""
        if name.isEmpty {
            errors.append(.required("metadata.name", "name or generateName is required"))
        } else {
            let problems: [String]
            switch definition.nameRule {
            case .dnsSubdomain: problems = NameValidation.dns1123Subdomain(name)
            case .dnsLabel: problems = NameValidation.dns1123Label(name)
            case .dns1035Label: problems = NameValidation.dns1035Label(name)
            case .pathSegment: problems = NameValidation.pathSegment(name)
            }
            errors += problems.map { .invalid("metadata.name", name, $0) }
        }
        if let labels = object.metadata?["labels"] {
            guard case .object(let map) = labels else { return errors + [.invalid("metadata.labels", "", "must be a map of strings")] }
            for (key, value) in map.sorted(by: { $0.key < $1.key }) {
                errors += NameValidation.qualifiedName(key).map { .invalid("metadata.labels", key, $0) }
                guard let text = value.stringValue else {
                    errors.append(.invalid("metadata.labels", key, "label values must be strings"))
                    continue
                }
                errors += NameValidation.labelValue(text).map { .invalid("metadata.labels", text, $0) }
            }
        }
        if let annotations = object.metadata?["annotations"] {
            guard case .object(let map) = annotations else { return errors + [.invalid("metadata.annotations", "", "must be a map of strings")] }
            var total = 0
            for (key, value) in map.sorted(by: { $0.key < $1.key }) {
                errors += NameValidation.qualifiedName(key.lowercased()).map { .invalid("metadata.annotations", key, $0) }
                guard let text = value.stringValue else {
                    errors.append(.invalid("metadata.annotations", key, "annotation values must be strings"))
                    continue
                }
                total += key.utf8.count + text.utf8.count
            }
            if total > 256 * 1024 {
                errors.append(FieldError(.tooLong, field: "metadata.annotations", detail: "may not be more than 262144 bytes"))
            }
        }
        if let finalizers = object.metadata?["finalizers"]?.arrayValue {
            for (i, finalizer) in finalizers.enumerated() {
                let text = finalizer.stringValue ?? ""
                errors += NameValidation.qualifiedName(text).map { .invalid("metadata.finalizers[\(i)]", text, $0) }
            }
        }
        return errors
    }

    private func validateMetadataUpdate(_ new: JSONValue, old: JSONValue) -> [FieldError] {
        var errors: [FieldError] = []
        if new.name != old.name { errors.append(.invalid("metadata.name", new.name ?? "", "field is immutable")) }
        if new.namespace != old.namespace { errors.append(.invalid("metadata.namespace", new.namespace ?? "", "field is immutable")) }
        return errors
    }

    // MARK: Update

    func update(request: APIRequest, path: ResourcePath, name: String, definition: ResourceDefinition) async throws -> (JSONValue, Bool) {
        var (object, duplicates) = try ObjectCodec.decodeBodyNotingDuplicates(request.body, contentType: request.contentType)
        try checkKind(object, definition)
        try checkUnknownFields(object, duplicates: duplicates, request: request, definition: definition)
        if let bodyName = object.name, !bodyName.isEmpty, bodyName != name {
            throw Status.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        object.name = name
        let key = definition.key(namespace: path.namespace, name: name)
        guard let stored = try await store.get(key, at: nil) else {
            if definition.allowCreateOnUpdate {
                return (try await create(object: &object, namespace: path.namespace, definition: definition,
                    dryRun: request.query["dryRun"] == "All"), true)
            }
            throw Status.notFound(definition.plural, group: definition.group, name: name)
        }
        let old = try decode(stored, definition)
        let updated = try await commitUpdate(object, old: old, stored: stored, definition: definition,
            statusOnly: false, dryRun: request.query["dryRun"] == "All")
        return (updated, false)
    }

    /// The shared tail of PUT, PATCH and status writes: preconditions, preserved fields, strategy, store.
    /// `ownedThrough` names the subresource a write's fields are recorded under when it is not `status` (`scale`).
    func commitUpdate(_ proposed: JSONValue, old: JSONValue, stored: StoredValue, definition: ResourceDefinition,
        statusOnly: Bool, dryRun: Bool, ownedThrough: String? = nil) async throws -> JSONValue
    {
        let name = old.name ?? ""
        if let rv = proposed.resourceVersion, !rv.isEmpty, rv != String(stored.modRevision) {
            throw Status.conflict(definition.plural, group: definition.group, name: name,
                "the object has been modified; please apply your changes to the latest version and try again")
        }
        if let uid = proposed.uid, !uid.isEmpty, uid != old.uid {
            throw Status.conflict(definition.plural, group: definition.group, name: name,
                "Precondition failed: UID in precondition: \(uid), UID in object meta: \(old.uid ?? "")")
        }
        var object = proposed
        if statusOnly {
            var merged = old
            merged["status"] = proposed["status"]
            // Ownership the caller computed (server-side apply to status) travels with the status.
            if ManagedFields.requestManager == nil { merged.setMetadataField("managedFields", proposed.metadata?["managedFields"]) }
            // Status writes may still change labels and annotations only through the main resource.
            object = merged
        } else if definition.hasStatus {
            object["status"] = old["status"]
        }
        object["apiVersion"] = .string(definition.apiVersion)
        object["kind"] = .string(definition.kind)
        for field in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generateName", "namespace"] {
            object.setMetadataField(field, old.metadata?[field])
        }
        object.setMetadataField("selfLink", nil)
        definition.strategy.applyDefaults(&object)
        if definition.hasGeneration {
            var generation = old.generation ?? 1
            if !statusOnly && Self.specChanged(object, old) { generation += 1 }
            object.generation = generation
        } else {
            object.generation = nil
        }
        let subresource = statusOnly ? "status" : nil
        object = try await webhookAdmission(mutating: true, operation: "UPDATE", object, old: old, definition: definition,
            subresource: subresource, namespace: old.namespace, dryRun: dryRun)
        try validate(object, definition: definition, old: old)
        try NodeRestriction.admit(operation: "UPDATE", object: object, old: old, definition: definition, subresource: subresource,
            user: RequestUser.current)
        _ = try await webhookAdmission(mutating: false, operation: "UPDATE", object, old: old, definition: definition,
            subresource: subresource, namespace: old.namespace, dryRun: dryRun)
        var reservation = ServiceAllocator.Reservation()
        if let allocator, definition.isService, !statusOnly {
            reservation = try await allocator.assign(&object, old: old, dryRun: dryRun)
        }
        if let manager = ManagedFields.requestManager {
            ManagedFields.recordUpdate(old: old, new: &object, sent: statusOnly ? nil : proposed.metadata?["managedFields"], manager: manager,
                apiVersion: definition.apiVersion, subresource: subresource ?? ownedThrough, hasStatus: definition.hasStatus,
                schema: mergeSchema(definition))
        }
        object.resourceVersion = nil
        var comparableOld = old
        comparableOld.resourceVersion = nil
        if object == comparableOld {
            // A no-op update does not write (kube-apiserver skips it too), so resourceVersion stays.
            return old
        }
        // An object being deleted goes once its last finalizer is removed; a namespace also waits for the
        // `spec.finalizers` its controller releases through `finalize`.
        let namespaceHeld = definition.kind == "Namespace" && definition.group.isEmpty
            && !(object.value(at: ["spec", "finalizers"])?.arrayValue ?? []).isEmpty
        if object.deletionTimestamp != nil && object.finalizers.isEmpty && !namespaceHeld {
            if dryRun { return object }
            let key = definition.key(namespace: old.namespace, name: name)
            do {
                let deleted = try await store.delete(key, ifModRevision: stored.modRevision)
                object.resourceVersion = String(deleted.modRevision)
                await releaseAllocations(of: old, keeping: nil, definition: definition)
                return object
            } catch {
                throw Status(mapping: error, definition: definition, name: name)
            }
        }
        if dryRun {
            object.resourceVersion = String(stored.modRevision)
            return object
        }
        do {
            let revision = try await store.update(stored.key, value: ObjectCodec.encodeForStorage(object),
                ifModRevision: stored.modRevision, ttl: ttl(definition))
            object.resourceVersion = String(revision)
            await releaseAllocations(of: old, keeping: object, definition: definition)
            return object
        } catch {
            if !reservation.isEmpty { await allocator?.release(reservation) }
            throw Status(mapping: error, definition: definition, name: name)
        }
    }

    /// Returns a Service's cluster IP and node ports to the allocator once the store no longer holds them.
    private func releaseAllocations(of old: JSONValue, keeping new: JSONValue?, definition: ResourceDefinition) async {
        guard let allocator, definition.isService else { return }
        let released = ServiceAllocator.released(from: old, to: new)
        if !released.isEmpty { await allocator.release(released) }
    }

    /// Whether anything outside metadata and status changed, which bumps `metadata.generation`.
    static func specChanged(_ new: JSONValue, _ old: JSONValue) -> Bool {
        var a = new
        var b = old
        for key in ["metadata", "status"] {
            a[key] = nil
            b[key] = nil
        }
        return a != b
    }

    // MARK: Delete

    struct DeleteOptions {
        var gracePeriodSeconds: Int64?
        var propagationPolicy: String?
        var preconditionUID: String?
        var preconditionResourceVersion: String?
        var dryRun = false

        /// A plain delete, as the server's own components ask for it.
        init() {}

        init(request: APIRequest) throws {
            var body: JSONValue = .object([:])
            if !request.body.isEmpty {
                body = try ObjectCodec.decodeBody(request.body, contentType: request.contentType)
            }
            gracePeriodSeconds = body["gracePeriodSeconds"]?.intValue ?? request.query["gracePeriodSeconds"].flatMap { Int64($0) }
            propagationPolicy = body["propagationPolicy"]?.stringValue ?? request.query["propagationPolicy"]
            // The deprecated boolean still sent by old clients.
            if propagationPolicy == nil, let orphan = body["orphanDependents"]?.boolValue ?? request.query["orphanDependents"].map({ $0 == "true" }) {
                propagationPolicy = orphan ? "Orphan" : "Background"
            }
            preconditionUID = body["preconditions"]?["uid"]?.stringValue
            preconditionResourceVersion = body["preconditions"]?["resourceVersion"]?.stringValue
            let dry = body["dryRun"]?.arrayValue?.compactMap(\.stringValue) ?? []
            dryRun = dry.contains("All") || request.query["dryRun"] == "All"
            if let policy = propagationPolicy, !["Orphan", "Background", "Foreground"].contains(policy) {
                throw Status(code: 422, reason: .invalid,
                    message: "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"\(policy)\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"")
            }
            if let grace = gracePeriodSeconds, grace < 0 { gracePeriodSeconds = 0 }
        }
    }

    /// Deletes, or only marks for deletion when finalizers or a graceful pod termination must run first.
    /// Returns the object and whether it is gone.
    func delete(request: APIRequest, namespace: String?, name: String, definition: ResourceDefinition) async throws -> (JSONValue, Bool) {
        let options = try DeleteOptions(request: request)
        return try await delete(namespace: namespace, name: name, definition: definition, options: options)
    }

    func delete(namespace: String?, name: String, definition: ResourceDefinition, options: DeleteOptions) async throws -> (JSONValue, Bool) {
        let key = definition.key(namespace: namespace, name: name)
        for _ in 0..<8 {
            guard let stored = try await store.get(key, at: nil) else {
                throw Status.notFound(definition.plural, group: definition.group, name: name)
            }
            var object = try decode(stored, definition)
            if let uid = options.preconditionUID, uid != object.uid {
                throw Status.conflict(definition.plural, group: definition.group, name: name,
                    "Precondition failed: UID in precondition: \(uid), UID in object meta: \(object.uid ?? "")")
            }
            if let rv = options.preconditionResourceVersion, rv != object.resourceVersion {
                throw Status.conflict(definition.plural, group: definition.group, name: name,
                    "Precondition failed: ResourceVersion in precondition: \(rv), ResourceVersion in object meta: \(object.resourceVersion ?? "")")
            }
            try NodeRestriction.admit(operation: "DELETE", object: object, old: object, definition: definition, subresource: nil,
                user: RequestUser.current)
            let grace = gracefulDeletionPeriod(object, definition: definition, requested: options.gracePeriodSeconds)
            var finalizers = object.finalizers
            if definition.kind == "Namespace" && definition.group.isEmpty && object.deletionTimestamp == nil {
                // Namespaces are emptied by the namespace controller before they go (the `kubernetes` finalizer).
                object.setValue("Terminating", at: ["status", "phase"])
            }
            let namespaceFinalizers = definition.kind == "Namespace" ? (object.value(at: ["spec", "finalizers"])?.arrayValue ?? []) : []
            // Foreground and Orphan park the object behind the garbage collector's finalizer, which removes it once
            // the dependents are gone or released.
            let gcFinalizer: String? = switch options.propagationPolicy {
            case "Foreground": "foregroundDeletion"
            case "Orphan": "orphan"
            default: nil
            }
            if finalizers.isEmpty && namespaceFinalizers.isEmpty && grace == nil && gcFinalizer == nil {
                if options.dryRun { return (object, true) }
                do {
                    let deleted = try await store.delete(key, ifModRevision: stored.modRevision)
                    object.resourceVersion = String(deleted.modRevision)
                    await releaseAllocations(of: object, keeping: nil, definition: definition)
                    return (object, true)
                } catch let error as StoreError where error.code == .conflict || error.code == .notFound {
                    continue
                }
            }
            // Mark: set deletionTimestamp once (a shorter grace period may shorten it later).
            let now = Date()
            let existingGrace = object.metadata?["deletionGracePeriodSeconds"]?.intValue
            let addsFinalizer = gcFinalizer.map { !finalizers.contains($0) } ?? false
            if object.deletionTimestamp == nil || (grace.map { $0 < (existingGrace ?? .max) } ?? false) {
                object.deletionTimestamp = Timestamp.format(now.addingTimeInterval(TimeInterval(grace ?? 0)))
                object.setMetadataField("deletionGracePeriodSeconds", .integer(grace ?? 0))
                if definition.hasGeneration { object.generation = (object.generation ?? 1) + 1 }
            } else if !addsFinalizer {
                return (object, false)
            }
            if let gcFinalizer, addsFinalizer {
                // Switching between Foreground and Orphan on a second delete replaces the other one.
                finalizers.removeAll { $0 == "foregroundDeletion" || $0 == "orphan" }
                finalizers.append(gcFinalizer)
                object.finalizers = finalizers
            }
            if options.dryRun { return (object, false) }
            do {
                let revision = try await store.update(key, value: ObjectCodec.encodeForStorage(object),
                    ifModRevision: stored.modRevision, ttl: ttl(definition))
                object.resourceVersion = String(revision)
                return (object, false)
            } catch let error as StoreError where error.code == .conflict {
                continue
            }
        }
        throw Status.conflict(definition.plural, group: definition.group, name: name, "the object kept changing during deletion")
    }

    /// The grace period of a graceful deletion, or nil for an immediate one. Only pods bound to a node terminate
    /// gracefully (their kubelet confirms with a second, zero-grace delete), as the pod strategy decides.
    private func gracefulDeletionPeriod(_ object: JSONValue, definition: ResourceDefinition, requested: Int64?) -> Int64? {
        guard definition.kind == "Pod", definition.group.isEmpty else { return nil }
        guard object.value(at: ["spec", "nodeName"])?.stringValue?.isEmpty == false else { return nil }
        let phase = object.value(at: ["status", "phase"])?.stringValue
        if phase == "Succeeded" || phase == "Failed" { return nil }
        let grace = requested ?? object.value(at: ["spec", "terminationGracePeriodSeconds"])?.intValue ?? 30
        return grace > 0 ? grace : nil
    }

    func deleteCollection(request: APIRequest, path: ResourcePath, definition: ResourceDefinition) async throws -> Response {
        let options = try ListOptions(query: request.query, definition: definition)
        let deleteOptions = try DeleteOptions(request: request)
        let page = try await store.range(prefix: definition.prefix(namespace: path.namespace), at: nil, startAfter: nil, limit: nil)
        var items: [JSONValue] = []
        for stored in page.items {
            let object = try decode(stored, definition)
            guard matches(object, options, definition) else { continue }
            do {
                let (deleted, _) = try await delete(namespace: object.namespace, name: object.name ?? "", definition: definition, options: deleteOptions)
                items.append(deleted)
            } catch let status as Status where status.code == 404 {
                continue
            }
        }
        let list: JSONValue = [
            "kind": .string(definition.kind + "List"), "apiVersion": .string(definition.apiVersion),
            "metadata": ["resourceVersion": .string(String(try await store.currentRevision()))], "items": .array(items),
        ]
        return Self.json(list)
    }
}
