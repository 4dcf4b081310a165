import KeelsonAPI
import KeelsonStore

extension RESTHandler {
    enum PatchType: String {
        case json = "application/json-patch+json"
        case merge = "application/merge-patch+json"
        case strategic = "application/strategic-merge-patch+json"
        case apply = "application/apply-patch+yaml"
    }

    static func patchType(_ contentType: String?) throws -> PatchType {
        let mediaType = contentType?.split(separator: ";").first.map { $0.trimmingCharacters(in: " ").lowercased() } ?? ""
        guard let type = PatchType(rawValue: mediaType) else {
            throw Status(code: 415, reason: .unsupportedMediaType,
                message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json")
        }
        return type
    }

    static func applyPatch(_ patch: JSONValue, type: PatchType, to object: JSONValue, schema: PatchSchema) throws -> JSONValue {
        do {
            switch type {
            case .json: return try JSONPatch.apply(patch, to: object)
            case .merge:
                guard case .object = patch else { throw PatchError.malformed("merge patch must be a JSON object") }
                return MergePatch.apply(patch, to: object)
            case .strategic: return try StrategicMergePatch.apply(patch, to: object, schema: schema)
            case .apply: throw PatchError.malformed("unsupported patch type")
            }
        } catch let error as PatchError {
            switch error {
            case .malformed(let message): throw Status.badRequest(message)
            case .failed(let message):
                throw Status(code: 422, reason: .invalid, message: "the server rejected our request due to an error in our request: \(message)")
            }
        }
    }

    /// The merge schema server-side apply and field ownership follow for a kind.
    func mergeSchema(_ definition: ResourceDefinition) -> MergeSchema {
        definition.customMergeSchema ?? MergeSchema.forBuiltIn(group: definition.group, version: definition.version, kind: definition.kind)
    }

    /// PATCH of an object (or of its status): read, patch, then the update path with the read revision as
    /// precondition, retried on conflicts unless the patch itself pins a resourceVersion. Answers whether the
    /// object was created (only server-side apply creates).
    func patch(request: APIRequest, path: ResourcePath, name: String, definition: ResourceDefinition, subresource: String?)
        async throws -> (JSONValue, Bool)
    {
        let type = try Self.patchType(request.contentType)
        let force = request.query["force"].map { $0 == "true" || $0 == "1" }
        if type == .apply {
            return try await apply(request: request, path: path, name: name, definition: definition, subresource: subresource, force: force ?? false)
        }
        if force != nil {
            throw Status(code: 422, reason: .invalid, message: "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
                details: Status.Details(causes: [.init(reason: "FieldValueForbidden", message: "Forbidden: may not be specified for non-apply patch", field: "force")]))
        }
        let patchDocument = try ObjectCodec.decodeBody(request.body, contentType: "application/json")
        let schema = PatchSchema.forKind(group: definition.group, kind: definition.kind)
        let key = definition.key(namespace: path.namespace, name: name)
        for _ in 0..<5 {
            guard let stored = try await store.get(key, at: nil) else {
                throw Status.notFound(definition.plural, group: definition.group, name: name)
            }
            let old = try decode(stored, definition)
            var patched = try Self.applyPatch(patchDocument, type: type, to: old, schema: schema)
            guard case .object = patched else { throw Status.badRequest("the patch did not produce an object") }
            try checkUnknownFields(patched, request: request, definition: definition)
            let pinned = patched.resourceVersion != old.resourceVersion && patched.resourceVersion != nil
            if !pinned { patched.resourceVersion = old.resourceVersion }
            do {
                return (try await commitUpdate(patched, old: old, stored: stored, definition: definition,
                    statusOnly: subresource == "status", dryRun: request.query["dryRun"] == "All"), false)
            } catch let status as Status where status.code == 409 && status.reason == .conflict && !pinned {
                continue
            }
        }
        throw Status.conflict(definition.plural, group: definition.group, name: name,
            "the object has been modified; please apply your changes to the latest version and try again")
    }
}

extension RESTHandler {
    /// Server-side apply: the configuration merged into the live object (or made into a new one) under the
    /// ownership rules of `ManagedFields.apply`, then written through the ordinary create or update path — with no
    /// request manager bound there, so the ownership computed here is what is stored.
    func apply(request: APIRequest, path: ResourcePath, name: String, definition: ResourceDefinition, subresource: String?, force: Bool)
        async throws -> (JSONValue, Bool)
    {
        let manager = try Self.applyManager(request)
        var (config, duplicates) = try ObjectCodec.decodeBodyNotingDuplicates(request.body, contentType: request.contentType)
        try checkKind(config, definition)
        guard config.apiVersion?.isEmpty == false, config.kind?.isEmpty == false else {
            throw Status.badRequest("an applied configuration must set apiVersion and kind")
        }
        if let bodyName = config.name, !bodyName.isEmpty, bodyName != name {
            throw Status.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        config.name = name
        config = Self.withoutNulls(config)
        try checkUnknownFields(config, duplicates: duplicates, request: request, definition: definition)
        return try await apply(config: config, manager: manager, request: request, path: path, name: name, definition: definition,
            subresource: subresource, force: force)
    }

    /// The manager an apply names; kube-apiserver has no default for it.
    static func applyManager(_ request: APIRequest) throws -> String {
        guard let manager = request.query["fieldManager"], !manager.isEmpty else {
            throw Status(code: 422, reason: .invalid, message: "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                details: Status.Details(causes: [.init(reason: "FieldValueRequired", message: "Required value: is required for apply patch", field: "fieldManager")]))
        }
        return manager
    }

    /// Applies a checked configuration of the kind (for `scale`, one made from the applied Scale): merge, ownership,
    /// then the ordinary create or update path.
    func apply(config: JSONValue, manager: String, request: APIRequest, path: ResourcePath, name: String, definition: ResourceDefinition,
        subresource: String?, force: Bool) async throws -> (JSONValue, Bool)
    {
        let schema = mergeSchema(definition)
        let dryRun = request.query["dryRun"] == "All"
        let key = definition.key(namespace: path.namespace, name: name)
        for _ in 0..<5 {
            guard let stored = try await store.get(key, at: nil) else {
                guard subresource == nil else { throw Status.notFound(definition.plural, group: definition.group, name: name) }
                var object = try ManagedFields.apply(config, to: nil, manager: manager, force: force, apiVersion: definition.apiVersion,
                    subresource: nil, hasStatus: definition.hasStatus, schema: schema, resource: definition.plural, group: definition.group)
                do {
                    let created = try await ManagedFields.$requestManager.withValue(nil) {
                        try await create(object: &object, namespace: path.namespace, definition: definition, dryRun: dryRun)
                    }
                    return (created, true)
                } catch let status as Status where status.reason == .alreadyExists {
                    continue
                }
            }
            let old = try decode(stored, definition)
            var merged = try ManagedFields.apply(config, to: old, manager: manager, force: force, apiVersion: definition.apiVersion,
                subresource: subresource, hasStatus: definition.hasStatus, schema: schema, resource: definition.plural, group: definition.group)
            let pinned = config.resourceVersion != nil
            if !pinned { merged.resourceVersion = old.resourceVersion }
            do {
                let updated = try await ManagedFields.$requestManager.withValue(nil) {
                    try await commitUpdate(merged, old: old, stored: stored, definition: definition, statusOnly: subresource == "status", dryRun: dryRun)
                }
                return (updated, false)
            } catch let status as Status where status.code == 409 && status.reason == .conflict && !pinned {
                continue
            }
        }
        throw Status.conflict(definition.plural, group: definition.group, name: name,
            "the object has been modified; please apply your changes to the latest version and try again")
    }

    /// A null in an applied configuration says nothing about the field: it is left out.
    static func withoutNulls(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let fields): return .object(fields.filter { !$0.value.isNull }.mapValues(withoutNulls))
        case .array(let items): return .array(items.map(withoutNulls))
        default: return value
        }
    }
}
