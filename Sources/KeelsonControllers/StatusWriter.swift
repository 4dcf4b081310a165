import KeelsonAPI
import KeelsonClient

/// Writes a controller's computed status through the `status` subresource, as upstream controllers do: skipped when
/// nothing changed; on a conflict (the cache was behind) the latest object is fetched and the write retried once,
/// since the status is computed from pods, not from the object's other fields.
enum StatusWriter {
    static func write(_ status: JSONValue, to object: JSONValue, resource: ResourceReference, client: any KubernetesClient) async throws -> JSONValue {
        if status == object["status"] { return object }
        var updated = object
        updated["status"] = status
        do {
            return try await client.updateStatus(resource, namespace: object.namespace, updated)
        } catch let error as APIError where error.isNotFound {
            return object
        } catch let error as APIError where error.isConflict {
            var latest = try await client.get(resource, namespace: object.namespace, name: object.name ?? "")
            guard latest.uid == object.uid else { return object }
            if latest["status"] == status { return latest }
            latest["status"] = status
            return try await client.updateStatus(resource, namespace: object.namespace, latest)
        }
    }
}
