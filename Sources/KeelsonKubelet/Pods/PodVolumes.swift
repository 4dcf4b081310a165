import Foundation
import KeelsonAPI
import KeelsonClient

/// Makes a pod's volumes exist on the node, under `PODS_DIR/UID/volumes/`, and says where each one is: the host
/// paths the runtime bind-mounts (memory-backed `emptyDir`s are tmpfs mounts there). ConfigMap, Secret and downward API contents are rewritten on every sync, so
/// changes reach running pods as in Kubernetes (which also updates them in place).
struct PodVolumes {
    let spec: PodSpecView
    let client: any KubernetesClient
    let podDirectory: URL
    let hostIP: String
    let podIP: String

    struct VolumeError: Error, CustomStringConvertible { var description: String }

    func prepare() async throws -> [String: String] {
        var paths: [String: String] = [:]
        let files = FileManager.default
        for volume in spec.pod["spec"]?["volumes"]?.arrayValue ?? [] {
            guard let name = volume["name"]?.stringValue else { continue }
            if let hostPath = volume["hostPath"] {
                let path = hostPath["path"]?.stringValue ?? ""
                let type = hostPath["type"]?.stringValue ?? ""
                if type == "DirectoryOrCreate" { try files.createDirectory(atPath: path, withIntermediateDirectories: true) }
                if type == "FileOrCreate" && !files.fileExists(atPath: path) { _ = files.createFile(atPath: path, contents: nil) }
                if type == "Directory" || type == "File" || type == "Socket" {
                    guard files.fileExists(atPath: path) else { throw VolumeError(description: "hostPath \(path) does not exist") }
                }
                paths[name] = path
                continue
            }
            if let claim = volume["persistentVolumeClaim"]?["claimName"]?.stringValue {
                paths[name] = try await claimPath(claim)
                continue
            }
            let directory = podDirectory.appendingPathComponent("volumes").appendingPathComponent(name)
            try files.createDirectory(at: directory, withIntermediateDirectories: true)
            if volume["emptyDir"]?["medium"]?.stringValue == "Memory" {
                try MemoryVolume.ensureMounted(at: directory.path, sizeBytes: MemoryVolume.size(volume: volume, pod: spec.pod))
            }
            var contents: [String: (Data, Int)]? = nil
            if let source = volume["configMap"] {
                contents = try await keys(.configMaps, source, decode: false)
            } else if let source = volume["secret"] {
                contents = try await keys(.secrets, source.replacing("secretName", with: "name"), decode: true)
            } else if let source = volume["downwardAPI"] {
                contents = try downward(source)
            } else if let source = volume["projected"] {
                var merged: [String: (Data, Int)] = [:]
                let mode = Int(source["defaultMode"]?.intValue ?? 420)
                for item in source["sources"]?.arrayValue ?? [] {
                    var part: [String: (Data, Int)] = [:]
                    if let ref = item["configMap"] { part = try await keys(.configMaps, ref.setting("defaultMode", mode), decode: false) ?? [:] }
                    if let ref = item["secret"] { part = try await keys(.secrets, ref.setting("defaultMode", mode), decode: true) ?? [:] }
                    if let ref = item["downwardAPI"] { part = try downward(ref.setting("defaultMode", mode)) }
                    if let ref = item["serviceAccountToken"] { part = try await serviceAccountToken(ref, mode: mode, directory: directory) }
                    merged.merge(part) { _, new in new }
                }
                contents = merged
            }
            if let contents { try write(contents, to: directory) }
            paths[name] = directory.path
        }
        return paths
    }

    /// A token of the pod's service account bound to the pod, as the kubelet requests it through TokenRequest. The
    /// file already there is kept while it has more than a fifth of its lifetime left.
    private func serviceAccountToken(_ source: JSONValue, mode: Int, directory: URL) async throws -> [String: (Data, Int)] {
        let path = source["path"]?.stringValue ?? "token"
        if let existing = try? Data(contentsOf: directory.appendingPathComponent(path)),
           let due = Self.refreshTime(ofToken: String(decoding: existing, as: UTF8.self)), due > Date()
        {
            return [path: (existing, mode)]
        }
        let account = spec.pod["spec"]?["serviceAccountName"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        var requestSpec: JSONValue = [
            "expirationSeconds": .integer(source["expirationSeconds"]?.intValue ?? 3600),
            "boundObjectRef": ["kind": "Pod", "apiVersion": "v1", "name": .string(spec.name), "uid": .string(spec.uid)],
        ]
        if let audience = source["audience"]?.stringValue, !audience.isEmpty { requestSpec["audiences"] = [.string(audience)] }
        let answer = try await client.create(.serviceAccounts, namespace: spec.namespace, [
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": ["name": .string(account)], "spec": requestSpec,
        ], subresource: "token")
        guard let token = answer["status"]?["token"]?.stringValue, !token.isEmpty else {
            throw VolumeError(description: "no token for service account \"\(account)\"")
        }
        return [path: (Data(token.utf8), mode)]
    }

    /// When a token should be replaced: after 80 % of its lifetime, read from its own `iat` and `exp` claims.
    static func refreshTime(ofToken token: String) -> Date? {
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var payload = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        guard let data = Data(base64Encoded: payload), let claims = try? JSONParser.parse(Array(data)),
              let issued = claims["iat"]?.intValue, let expires = claims["exp"]?.intValue, expires > issued else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(issued) + TimeInterval(expires - issued) * 0.8)
    }

    /// Renews the projected service account tokens of a running pod that are due; returns when the next is due.
    func refreshTokens() async throws -> Date? {
        var next: Date?
        for volume in spec.pod["spec"]?["volumes"]?.arrayValue ?? [] {
            guard let name = volume["name"]?.stringValue, let projected = volume["projected"] else { continue }
            let mode = Int(projected["defaultMode"]?.intValue ?? 420)
            let directory = podDirectory.appendingPathComponent("volumes").appendingPathComponent(name)
            for item in projected["sources"]?.arrayValue ?? [] {
                guard let source = item["serviceAccountToken"] else { continue }
                let files = try await serviceAccountToken(source, mode: mode, directory: directory)
                try write(files, to: directory)
                for (data, _) in files.values {
                    if let due = Self.refreshTime(ofToken: String(decoding: data, as: UTF8.self)) { next = min(next ?? due, due) }
                }
            }
        }
        return next
    }

    /// The key → file map of a ConfigMap or Secret volume (`items` picks and renames keys), nil when the object is
    /// missing and optional.
    private func keys(_ resource: ResourceReference, _ source: JSONValue, decode: Bool) async throws -> [String: (Data, Int)]? {
        let name = source["name"]?.stringValue ?? ""
        let mode = Int(source["defaultMode"]?.intValue ?? 420)
        let object: JSONValue
        do {
            object = try await client.get(resource, namespace: spec.namespace, name: name)
        } catch let error as APIError where error.isNotFound {
            if source["optional"]?.boolValue == true { return [:] }
            throw VolumeError(description: "\(resource == .secrets ? "secret" : "configmap") \"\(name)\" not found")
        }
        var data: [String: Data] = [:]
        for (key, value) in object["data"]?.objectValue ?? [:] {
            guard let text = value.stringValue else { continue }
            data[key] = decode ? Data(base64Encoded: text) ?? Data() : Data(text.utf8)
        }
        for (key, value) in object["binaryData"]?.objectValue ?? [:] {
            if let text = value.stringValue, let bytes = Data(base64Encoded: text) { data[key] = bytes }
        }
        guard let items = source["items"]?.arrayValue else { return data.mapValues { ($0, mode) } }
        var files: [String: (Data, Int)] = [:]
        for item in items {
            guard let key = item["key"]?.stringValue, let path = item["path"]?.stringValue else { continue }
            guard let bytes = data[key] else {
                if source["optional"]?.boolValue == true { continue }
                throw VolumeError(description: "key \(key) not found in \(name)")
            }
            files[path] = (bytes, Int(item["mode"]?.intValue ?? Int64(mode)))
        }
        return files
    }

    private func downward(_ source: JSONValue) throws -> [String: (Data, Int)] {
        let mode = Int(source["defaultMode"]?.intValue ?? 420)
        let fields = ContainerConfigBuilder(spec: spec, client: client, hostIP: hostIP, podIP: podIP, volumePaths: [:], logDirectory: "")
        var files: [String: (Data, Int)] = [:]
        for item in source["items"]?.arrayValue ?? [] {
            guard let path = item["path"]?.stringValue else { continue }
            var text = ""
            if let field = item["fieldRef"]?["fieldPath"]?.stringValue {
                switch field {
                case "metadata.labels", "metadata.annotations":
                    let map = spec.pod["metadata"]?[field == "metadata.labels" ? "labels" : "annotations"]?.objectValue ?? [:]
                    text = map.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value.stringValue ?? "")\"" }.joined(separator: "\n")
                default:
                    text = try fields.fieldValue(field)
                }
            } else if let ref = item["resourceFieldRef"] {
                let container = spec.containers.first { $0["name"] == ref["containerName"] } ?? spec.containers.first ?? [:]
                text = fields.resourceValue(ref, container: container)
            }
            files[path] = (Data(text.utf8), Int(item["mode"]?.intValue ?? Int64(mode)))
        }
        return files
    }

    private func write(_ files: [String: (Data, Int)], to directory: URL) throws {
        let manager = FileManager.default
        for (path, (data, mode)) in files {
            guard !path.split(separator: "/").contains("..") && !path.hasPrefix("/") else {
                throw VolumeError(description: "path \(path) must stay inside the volume")
            }
            let file = directory.appendingPathComponent(path)
            try manager.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            if (try? Data(contentsOf: file)) != data { try data.write(to: file, options: .atomic) }
            try manager.setAttributes([.posixPermissions: mode], ofItemAtPath: file.path)
        }
    }

    /// The host path of the PersistentVolume bound to the claim (hostPath or local volumes).
    private func claimPath(_ claim: String) async throws -> String {
        let pvc = try await client.get(.persistentVolumeClaims, namespace: spec.namespace, name: claim)
        guard let volumeName = pvc["spec"]?["volumeName"]?.stringValue, !volumeName.isEmpty else {
            throw VolumeError(description: "persistentvolumeclaim \"\(claim)\" is not bound")
        }
        let pv = try await client.get(.persistentVolumes, name: volumeName)
        guard let path = pv["spec"]?["hostPath"]?["path"]?.stringValue ?? pv["spec"]?["local"]?["path"]?.stringValue else {
            throw VolumeError(description: "persistentvolume \"\(volumeName)\" is neither hostPath nor local")
        }
        if pv["spec"]?["hostPath"]?["type"]?.stringValue == "DirectoryOrCreate" {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        return path
    }
}

private extension JSONValue {
    func replacing(_ key: String, with newKey: String) -> JSONValue {
        guard var object = objectValue, let value = object.removeValue(forKey: key) else { return self }
        object[newKey] = value
        return .object(object)
    }

    func setting(_ key: String, _ value: Int) -> JSONValue {
        guard var object = objectValue, object[key] == nil else { return self }
        object[key] = .integer(Int64(value))
        return .object(object)
    }
}
