import Foundation
import KeelsonAPI
import KeelsonClient
import Synchronization

/// Makes a container's image present according to its `imagePullPolicy`, with the pod's `imagePullSecrets`, and
/// backs off failed pulls as kubelet does (`ErrImagePull` at once, then `ImagePullBackOff`: 10 s doubling to 5 min).
final class ImagePuller: Sendable {
    let runtime: any ContainerRuntime
    let client: any KubernetesClient
    private let backoff = CrashBackoff()
    /// The last failure per pod and container, reported as the container's waiting reason until a pull succeeds.
    private let failed = Mutex([String: [String: (reason: String, message: String)]]())

    struct PullError: Error {
        var reason: String
        var message: String
        var retryAfter: Duration
    }

    init(runtime: any ContainerRuntime, client: any KubernetesClient) {
        self.runtime = runtime
        self.client = client
    }

    func ensure(_ container: JSONValue, pod: PodSpecView) async throws {
        let name = container["name"]?.stringValue ?? ""
        guard let image = container["image"]?.stringValue, !image.isEmpty else {
            throw fail(pod, name, PullError(reason: "InvalidImageName", message: "the container has no image", retryAfter: .seconds(300)))
        }
        let tag = image.split(separator: "/").last.map { $0.contains(":") ? String($0.split(separator: ":").last!) : "latest" } ?? "latest"
        let policy = container["imagePullPolicy"]?.stringValue ?? (tag == "latest" && !image.contains("@") ? "Always" : "IfNotPresent")
        let present = try await runtime.imageID(image) != nil
        if present && policy != "Always" {
            clear(pod, name)
            return
        }
        if policy == "Never" {
            guard present else {
                throw fail(pod, name, PullError(reason: "ErrImageNeverPull",
                    message: "Container image \"\(image)\" is not present with pull policy of Never", retryAfter: .seconds(10)))
            }
            return
        }
        let key = "\(pod.uid)/\(image)"
        let now = PodWorker.nowNanoseconds()
        if let wait = backoff.remaining(key, finishedAt: now, now: now), failed.withLock({ $0[pod.uid]?[name] }) != nil {
            throw fail(pod, name, PullError(reason: "ImagePullBackOff", message: "Back-off pulling image \"\(image)\"", retryAfter: wait))
        }
        do {
            _ = try await runtime.pullImage(image, auth: try await credentials(for: image, pod: pod))
            clear(pod, name)
        } catch {
            // An image that is present is still usable when the registry cannot be reached (policy Always).
            if present {
                clear(pod, name)
                return
            }
            backoff.restarted(key, now: now)
            throw fail(pod, name, PullError(reason: "ErrImagePull", message: "failed to pull image \"\(image)\": \(error)",
                retryAfter: backoff.remaining(key, finishedAt: now, now: now) ?? .seconds(10)))
        }
    }

    func failures(pod uid: String) -> [String: (reason: String, message: String)] {
        failed.withLock { $0[uid] ?? [:] }
    }

    func forget(pod uid: String) {
        _ = failed.withLock { $0.removeValue(forKey: uid) }
        backoff.forget(prefix: "\(uid)/")
    }

    private func fail(_ pod: PodSpecView, _ name: String, _ error: PullError) -> PullError {
        failed.withLock { $0[pod.uid, default: [:]][name] = (error.reason, error.message) }
        return error
    }

    private func clear(_ pod: PodSpecView, _ name: String) {
        failed.withLock { _ = $0[pod.uid]?.removeValue(forKey: name) }
    }

    /// The credentials of the pod's `imagePullSecrets` (dockerconfigjson or dockercfg) for the image's registry.
    func credentials(for image: String, pod: PodSpecView) async throws -> RegistryAuth? {
        let first = image.split(separator: "/").first.map(String.init) ?? ""
        let registry = image.contains("/") && (first.contains(".") || first.contains(":") || first == "localhost") ? first : "docker.io"
        for ref in pod.pod["spec"]?["imagePullSecrets"]?.arrayValue ?? [] {
            guard let name = ref["name"]?.stringValue,
                  let secret = try? await client.get(.secrets, namespace: pod.namespace, name: name) else { continue }
            let encoded = secret["data"]?[".dockerconfigjson"]?.stringValue ?? secret["data"]?[".dockercfg"]?.stringValue
            guard let encoded, let data = Data(base64Encoded: encoded), let config = try? JSONParser.parse([UInt8](data)) else { continue }
            let auths = config["auths"]?.objectValue ?? config.objectValue ?? [:]
            for (server, entry) in auths {
                let host = server.replacingOccurrences(of: "https://", with: "").replacingOccurrences(of: "http://", with: "")
                    .split(separator: "/").first.map(String.init) ?? server
                guard host == registry || (registry == "docker.io" && host.hasSuffix("docker.io")) else { continue }
                var username = entry["username"]?.stringValue ?? ""
                var password = entry["password"]?.stringValue ?? ""
                if username.isEmpty, let auth = entry["auth"]?.stringValue, let decoded = Data(base64Encoded: auth) {
                    let parts = String(decoding: decoded, as: UTF8.self).split(separator: ":", maxSplits: 1).map(String.init)
                    if parts.count == 2 { (username, password) = (parts[0], parts[1]) }
                }
                return RegistryAuth(username: username, password: password, server: host)
            }
        }
        return nil
    }
}
