import Foundation
import KeelsonAPI
import KeelsonClient
import Logging
import ServiceLifecycle

/// Static pods: manifests in `DATA_DIR/agent/pod-manifests/` (YAML or JSON, one Pod each) that this node runs
/// without anyone creating them through the API. Each becomes a *mirror pod* in the API — named
/// `NAME-NODENAME`, bound to this node, annotated `kubernetes.io/config.mirror` with the manifest's hash and owned
/// by the Node — which the kubelet then runs like any pod bound to it. A changed manifest replaces its mirror pod;
/// a removed one deletes it; a mirror pod deleted by someone else is created again.
///
/// Unlike Kubernetes' kubelet, which runs static pods from the file itself, these start only once the API server
/// answers: Keelson's control plane runs in-process, not as static pods, so nothing depends on them before it.
struct StaticPods: Sendable {
    let client: any KubernetesClient
    let directory: URL
    let nodeName: String
    let pods: Informer
    let logger: Logger
    var period: Duration = .seconds(5)

    static let mirrorAnnotation = "kubernetes.io/config.mirror"
    static let sourceAnnotation = "kubernetes.io/config.source"

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            try await pods.waitUntilSynced()
            while !Task.isCancelled {
                do {
                    try await reconcile()
                } catch {
                    logger.info("static pods not reconciled", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: period)
            }
        }
    }

    /// The mirror pods the manifests call for, by namespace/name.
    func desired() -> [String: JSONValue] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var result: [String: JSONValue] = [:]
        for file in files.sorted() where [".yaml", ".yml", ".json"].contains(where: file.hasSuffix) {
            let url = directory.appendingPathComponent(file)
            do {
                let pod = try mirror(of: try YAMLFile.load(url.path))
                result[Informer.key(of: pod)] = pod
            } catch {
                logger.warning("static pod manifest ignored", metadata: ["file": "\(url.path)", "error": "\(error)"])
            }
        }
        return result
    }

    struct ManifestError: Error, CustomStringConvertible { var description: String }

    func mirror(of manifest: JSONValue) throws -> JSONValue {
        guard manifest["kind"] == "Pod", manifest["apiVersion"] == "v1" else { throw ManifestError(description: "not a v1 Pod") }
        guard let name = manifest.name, !name.isEmpty else { throw ManifestError(description: "the pod has no name") }
        // FNV-1a of the manifest as parsed: any change to it is a new pod, as with kubelet's config hash.
        var fnv: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in manifest.encoded() { fnv = (fnv ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let hash = String(fnv, radix: 16)
        var pod = manifest
        pod["metadata"]?["name"] = .string("\(name)-\(nodeName)")
        if pod.namespace == nil { pod["metadata"]?["namespace"] = "default" }
        var annotations = pod["metadata"]?["annotations"]?.objectValue ?? [:]
        annotations[Self.mirrorAnnotation] = .string(hash)
        annotations[Self.sourceAnnotation] = "file"
        pod["metadata"]?["annotations"] = .object(annotations)
        pod["spec"]?["nodeName"] = .string(nodeName)
        pod["status"] = nil
        return pod
    }

    func reconcile() async throws {
        let desired = desired()
        var node: JSONValue?
        let existing = pods.list().filter { $0["metadata"]?["annotations"]?[Self.mirrorAnnotation] != nil }
        for pod in existing {
            let key = Informer.key(of: pod)
            let wanted = desired[key]?["metadata"]?["annotations"]?[Self.mirrorAnnotation]
            guard pod.deletionTimestamp == nil, wanted != pod["metadata"]?["annotations"]?[Self.mirrorAnnotation] else { continue }
            // Gone from the directory, or changed: the old mirror goes (and with it its containers).
            do {
                try await client.delete(.pods, namespace: pod.namespace, name: pod.name ?? "", options: nil)
            } catch let error as APIError where error.isNotFound {}
        }
        for (key, var pod) in desired where pods.get(key) == nil {
            if node == nil { node = try await client.get(.nodes, name: nodeName) }
            pod["metadata"]?["ownerReferences"] = [["apiVersion": "v1", "kind": "Node", "name": .string(nodeName),
                                                    "uid": node?.uid.map(JSONValue.string) ?? "", "controller": true]]
            do {
                try await client.create(.pods, namespace: pod.namespace, pod)
                logger.info("mirror pod created", metadata: ["pod": "\(key)"])
            } catch let error as APIError where error.isAlreadyExists {}
        }
    }
}
