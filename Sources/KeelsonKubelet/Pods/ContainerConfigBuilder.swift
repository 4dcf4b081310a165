import Foundation
import KeelsonAPI
import KeelsonClient

/// Turns a container of the pod spec into the runtime's `ContainerConfig`: environment (literal, from ConfigMaps,
/// Secrets, the pod's own fields and resources), `$(VAR)` expansion in command and args, cgroup limits, security
/// context and volume mounts.
struct ContainerConfigBuilder {
    let spec: PodSpecView
    let client: any KubernetesClient
    let hostIP: String
    let podIP: String
    let volumePaths: [String: String]
    let logDirectory: String

    /// An error the user must fix in the pod or its ConfigMaps/Secrets; shown as `CreateContainerConfigError`.
    struct ConfigError: Error, CustomStringConvertible { var description: String }

    func build(_ container: JSONValue, attempt: UInt32) async throws -> ContainerConfig {
        let name = container["name"]?.stringValue ?? ""
        var config = ContainerConfig(name: name, attempt: attempt, image: container["image"]?.stringValue ?? "")
        let env = try await environment(container)
        config.env = env
        let variables = Dictionary(env, uniquingKeysWith: { _, last in last })
        config.command = (container["command"]?.arrayValue ?? []).compactMap(\.stringValue).map { Self.expand($0, variables) }
        config.args = (container["args"]?.arrayValue ?? []).compactMap(\.stringValue).map { Self.expand($0, variables) }
        config.workingDir = container["workingDir"]?.stringValue ?? ""
        config.stdin = container["stdin"]?.boolValue ?? false
        config.stdinOnce = container["stdinOnce"]?.boolValue ?? false
        config.tty = container["tty"]?.boolValue ?? false
        config.labels = [RuntimeLabels.podName: spec.name, RuntimeLabels.podNamespace: spec.namespace, RuntimeLabels.podUID: spec.uid,
                         RuntimeLabels.containerName: name]
        config.annotations = [RuntimeLabels.restartCount: String(attempt), RuntimeLabels.terminationGracePeriod: String(spec.gracePeriod)]
        config.logPath = "\(name)/\(attempt).log"
        applyResources(container["resources"], to: &config)
        applySecurityContext(container, to: &config)
        for mount in container["volumeMounts"]?.arrayValue ?? [] {
            guard let volume = mount["name"]?.stringValue, let path = mount["mountPath"]?.stringValue else { continue }
            guard var hostPath = volumePaths[volume] else { throw ConfigError(description: "volume \"\(volume)\" is not available") }
            if let sub = mount["subPath"]?.stringValue, !sub.isEmpty {
                guard !sub.split(separator: "/").contains("..") && !sub.hasPrefix("/") else {
                    throw ConfigError(description: "subPath \"\(sub)\" must be a relative path inside the volume")
                }
                hostPath += "/" + sub
            }
            config.mounts.append(.init(containerPath: path, hostPath: hostPath, readOnly: mount["readOnly"]?.boolValue ?? false))
        }
        return config
    }

    // MARK: Environment

    func environment(_ container: JSONValue) async throws -> [(String, String)] {
        var result: [(String, String)] = []
        var seen: [String: Int] = [:]
        func set(_ key: String, _ value: String) {
            if let index = seen[key] { result[index].1 = value } else { seen[key] = result.count; result.append((key, value)) }
        }
        for source in container["envFrom"]?.arrayValue ?? [] {
            let prefix = source["prefix"]?.stringValue ?? ""
            if let ref = source["configMapRef"] {
                guard let data = try await objectData(.configMaps, ref, optional: ref["optional"]?.boolValue == true, decode: false) else { continue }
                for (key, value) in data.sorted(by: { $0.key < $1.key }) { set(prefix + key, value) }
            }
            if let ref = source["secretRef"] {
                guard let data = try await objectData(.secrets, ref, optional: ref["optional"]?.boolValue == true, decode: true) else { continue }
                for (key, value) in data.sorted(by: { $0.key < $1.key }) { set(prefix + key, value) }
            }
        }
        for entry in container["env"]?.arrayValue ?? [] {
            guard let name = entry["name"]?.stringValue else { continue }
            if let value = entry["value"]?.stringValue {
                set(name, Self.expand(value, Dictionary(result, uniquingKeysWith: { _, last in last })))
                continue
            }
            guard let from = entry["valueFrom"] else {
                set(name, "")
                continue
            }
            if let ref = from["configMapKeyRef"] ?? from["secretKeyRef"] {
                let secret = from["secretKeyRef"] != nil
                let optional = ref["optional"]?.boolValue == true
                let key = ref["key"]?.stringValue ?? ""
                guard let data = try await objectData(secret ? .secrets : .configMaps, ref, optional: optional, decode: secret) else { continue }
                guard let value = data[key] else {
                    if optional { continue }
                    throw ConfigError(description: "couldn't find key \(key) in \(secret ? "Secret" : "ConfigMap") \(spec.namespace)/\(ref["name"]?.stringValue ?? "")")
                }
                set(name, value)
            } else if let path = from["fieldRef"]?["fieldPath"]?.stringValue {
                set(name, try fieldValue(path))
            } else if let ref = from["resourceFieldRef"] {
                set(name, resourceValue(ref, container: container))
            }
        }
        return result
    }

    private func objectData(_ resource: ResourceReference, _ ref: JSONValue, optional: Bool, decode: Bool) async throws -> [String: String]? {
        let name = ref["name"]?.stringValue ?? ""
        let object: JSONValue
        do {
            object = try await client.get(resource, namespace: spec.namespace, name: name)
        } catch let error as APIError where error.isNotFound {
            if optional { return nil }
            throw ConfigError(description: "\(resource == .secrets ? "secret" : "configmap") \"\(name)\" not found")
        }
        var data: [String: String] = [:]
        for (key, value) in object["data"]?.objectValue ?? [:] {
            guard let text = value.stringValue else { continue }
            data[key] = decode ? Data(base64Encoded: text).map { String(decoding: $0, as: UTF8.self) } ?? "" : text
        }
        return data
    }

    func fieldValue(_ path: String) throws -> String {
        let pod = spec.pod
        switch path {
        case "metadata.name": return spec.name
        case "metadata.namespace": return spec.namespace
        case "metadata.uid": return spec.uid
        case "spec.nodeName": return pod["spec"]?["nodeName"]?.stringValue ?? ""
        case "spec.serviceAccountName": return pod["spec"]?["serviceAccountName"]?.stringValue ?? ""
        case "status.hostIP", "status.hostIPs": return hostIP
        case "status.podIP", "status.podIPs": return spec.hostNetwork ? hostIP : podIP
        default:
            for (prefix, field) in [("metadata.labels['", "labels"), ("metadata.annotations['", "annotations")] where path.hasPrefix(prefix) {
                let key = String(path.dropFirst(prefix.count).dropLast(2))
                return pod["metadata"]?[field]?[key]?.stringValue ?? ""
            }
            throw ConfigError(description: "unsupported fieldPath \(path)")
        }
    }

    /// limits.cpu and requests.cpu in whole cores (rounded up) unless a divisor says otherwise; memory in bytes.
    func resourceValue(_ ref: JSONValue, container: JSONValue) -> String {
        let resource = ref["resource"]?.stringValue ?? ""
        let parts = resource.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return "" }
        let target = ref["containerName"]?.stringValue.flatMap { name in
            (spec.containers + spec.initContainers).first { $0["name"]?.stringValue == name }
        } ?? container
        let divisor = Quantity(json: ref["divisor"]) ?? Quantity(milli: 1000)
        var amount = Quantity(json: target["resources"]?[parts[0]]?[parts[1]])
        if amount == nil && parts[0] == "limits" {
            // Without a limit the node's allocatable stands in, as in Kubernetes.
            amount = parts[1] == "cpu" ? Quantity(milli: Int64(ProcessInfo.processInfo.activeProcessorCount) * 1000)
                : Quantity(milli: Int64(ProcessInfo.processInfo.physicalMemory) * 1000)
        }
        guard let amount, divisor.milli > 0 else { return "0" }
        return String((amount.milli + divisor.milli - 1) / divisor.milli)
    }

    /// `$(NAME)` becomes the variable's value, `$$` a literal `$`; unknown references stay as written.
    static func expand(_ text: String, _ variables: [String: String]) -> String {
        guard text.contains("$") else { return text }
        var out = ""
        var index = text.startIndex
        while index < text.endIndex {
            let char = text[index]
            let next = text.index(after: index)
            guard char == "$", next < text.endIndex else {
                out.append(char)
                index = next
                continue
            }
            if text[next] == "$" {
                out.append("$")
                index = text.index(after: next)
            } else if text[next] == "(", let close = text[next...].firstIndex(of: ")") {
                let name = String(text[text.index(after: next)..<close])
                out += variables[name] ?? "$(\(name))"
                index = text.index(after: close)
            } else {
                out.append(char)
                index = next
            }
        }
        return out
    }

    // MARK: Limits and security

    func applyResources(_ resources: JSONValue?, to config: inout ContainerConfig) {
        let cpuRequest = Quantity(json: resources?["requests"]?["cpu"]) ?? Quantity(json: resources?["limits"]?["cpu"])
        // Shares as kubelet computes them: 1024 per core requested, at least 2.
        config.cpuShares = max(2, (cpuRequest?.milli ?? 0) * 1024 / 1000)
        if let limit = Quantity(json: resources?["limits"]?["cpu"]), limit.milli > 0 {
            config.cpuPeriod = 100_000
            config.cpuQuota = max(1000, limit.milli * 100_000 / 1000)
        }
        if let memory = Quantity(json: resources?["limits"]?["memory"]), memory.value > 0 {
            config.memoryLimit = memory.value
        }
    }

    func applySecurityContext(_ container: JSONValue, to config: inout ContainerConfig) {
        let pod = spec.pod["spec"]?["securityContext"]
        let own = container["securityContext"]
        config.runAsUser = own?["runAsUser"]?.intValue ?? pod?["runAsUser"]?.intValue
        config.runAsGroup = own?["runAsGroup"]?.intValue ?? pod?["runAsGroup"]?.intValue
        config.readOnlyRootFilesystem = own?["readOnlyRootFilesystem"]?.boolValue ?? false
        config.privileged = own?["privileged"]?.boolValue ?? false
        config.addCapabilities = (own?["capabilities"]?["add"]?.arrayValue ?? []).compactMap(\.stringValue)
        config.dropCapabilities = (own?["capabilities"]?["drop"]?.arrayValue ?? []).compactMap(\.stringValue)
    }
}
