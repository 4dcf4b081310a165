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
        if type == .apply {
            throw Status(code: 415, reason: .unsupportedMediaType,
                message: "server-side apply (application/apply-patch+yaml) is not supported by this server yet")
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

    /// PATCH of an object (or of its status): read, patch, then the update path with the read revision as
    /// precondition, retried on conflicts unless the patch itself pins a resourceVersion.
    func patch(request: APIRequest, path: ResourcePath, name: String, definition: ResourceDefinition, subresource: String?) async throws -> JSONValue {
        let type = try Self.patchType(request.contentType)
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
                return try await commitUpdate(patched, old: old, stored: stored, definition: definition,
                    statusOnly: subresource == "status", dryRun: request.query["dryRun"] == "All")
            } catch let status as Status where status.code == 409 && status.reason == .conflict && !pinned {
                continue
            }
        }
        throw Status.conflict(definition.plural, group: definition.group, name: name,
            "the object has been modified; please apply your changes to the latest version and try again")
    }
}
