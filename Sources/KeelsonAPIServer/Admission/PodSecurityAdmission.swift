import KeelsonAPI

/// Pod Security admission, as kube-apiserver's built-in plugin: a namespace's `pod-security.kubernetes.io/enforce`
/// label (`privileged`, `baseline`, `restricted`) refuses pods that break that level of the Pod Security Standards;
/// `…/warn` returns the same findings as warnings (for pods and for the pod templates of workloads), which kubectl
/// prints. Only the latest version of the standards is known; `…-version` labels are read as `latest`.
enum PodSecurityAdmission {
    static let labelPrefix = "pod-security.kubernetes.io/"

    enum Level: String, Comparable {
        case privileged, baseline, restricted

        static func < (a: Level, b: Level) -> Bool { a.rank < b.rank }
        var rank: Int { self == .privileged ? 0 : self == .baseline ? 1 : 2 }
    }

    /// One failed check: its name and the detail, as kube-apiserver words them.
    struct Violation: Equatable {
        var check: String
        var detail: String
        var text: String { "\(check) (\(detail))" }
    }

    static let baselineCapabilities: Set<String> = ["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
        "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]
    static let safeSysctls: Set<String> = ["kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"]
    static let restrictedVolumeTypes: Set<String> = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
        "projected", "secret"]

    static func level(_ labels: [String: String], _ mode: String) -> Level? {
        labels[labelPrefix + mode].flatMap(Level.init(rawValue:))
    }

    /// The pod spec of a pod or of a workload's template.
    static func podSpec(of object: JSONValue, kind: String) -> JSONValue? {
        switch kind {
        case "Pod": return object["spec"]
        case "CronJob": return object.value(at: ["spec", "jobTemplate", "spec", "template", "spec"])
        case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController": return object.value(at: ["spec", "template", "spec"])
        default: return nil
        }
    }

    /// "container "a"" or "containers "a", "b"".
    static func containers(_ names: [String]) -> String {
        names.count == 1 ? "container \"\(names[0])\"" : "containers " + names.map { "\"\($0)\"" }.joined(separator: ", ")
    }

    /// Everything in `spec` that the level forbids, in the order kube-apiserver reports it.
    static func violations(_ spec: JSONValue, level: Level) -> [Violation] {
        guard level != .privileged else { return [] }
        var found: [Violation] = []
        let all = ["initContainers", "containers", "ephemeralContainers"].flatMap { spec[$0]?.arrayValue ?? [] }
        func named(_ where_: (JSONValue) -> Bool) -> [String] { all.filter(where_).compactMap { $0["name"]?.stringValue } }
        let podContext = spec["securityContext"] ?? [:]

        // Baseline.
        let hostNamespaces = ["hostNetwork", "hostPID", "hostIPC"].filter { spec[$0]?.boolValue == true }
        if !hostNamespaces.isEmpty {
            found.append(Violation(check: "host namespaces", detail: hostNamespaces.map { "\($0)=true" }.joined(separator: ", ")))
        }
        let privileged = named { $0["securityContext"]?["privileged"]?.boolValue == true }
        if !privileged.isEmpty { found.append(Violation(check: "privileged", detail: "\(containers(privileged)) must not set securityContext.privileged=true")) }
        var added: [String: [String]] = [:]
        for container in all {
            for capability in container["securityContext"]?["capabilities"]?["add"]?.arrayValue?.compactMap(\.stringValue) ?? []
            where !baselineCapabilities.contains(capability) {
                added[container["name"]?.stringValue ?? "", default: []].append(capability)
            }
        }
        if !added.isEmpty {
            let names = added.keys.sorted()
            let capabilities = Set(added.values.flatMap { $0 }).sorted().map { "\"\($0)\"" }.joined(separator: ", ")
            found.append(Violation(check: "non-default capabilities", detail: "\(containers(names)) must not include \(capabilities) in securityContext.capabilities.add"))
        }
        let hostPaths = (spec["volumes"]?.arrayValue ?? []).filter { $0["hostPath"] != nil }.compactMap { $0["name"]?.stringValue }
        if !hostPaths.isEmpty {
            found.append(Violation(check: "hostPath volumes", detail: (hostPaths.count == 1 ? "volume " : "volumes ")
                + hostPaths.map { "\"\($0)\"" }.joined(separator: ", ")))
        }
        var hostPorts: [String] = []
        var portNumbers: [String] = []
        for container in all {
            let ports = (container["ports"]?.arrayValue ?? []).compactMap { $0["hostPort"]?.intValue }.filter { $0 != 0 }
            if !ports.isEmpty { hostPorts.append(container["name"]?.stringValue ?? ""); portNumbers += ports.map(String.init) }
        }
        if !hostPorts.isEmpty {
            found.append(Violation(check: "hostPort", detail: "\(containers(hostPorts)) \(hostPorts.count == 1 ? "uses" : "use") hostPort\(portNumbers.count == 1 ? "" : "s") \(portNumbers.joined(separator: ", "))"))
        }
        let procMount = named { ($0["securityContext"]?["procMount"]?.stringValue ?? "Default") != "Default" }
        if !procMount.isEmpty { found.append(Violation(check: "procMount", detail: "\(containers(procMount)) must not set securityContext.procMount")) }
        if podContext["seccompProfile"]?["type"]?.stringValue == "Unconfined" {
            found.append(Violation(check: "seccompProfile", detail: "pod must not set securityContext.seccompProfile.type to \"Unconfined\""))
        }
        let unconfined = named { $0["securityContext"]?["seccompProfile"]?["type"]?.stringValue == "Unconfined" }
        if !unconfined.isEmpty {
            found.append(Violation(check: "seccompProfile", detail: "\(containers(unconfined)) must not set securityContext.seccompProfile.type to \"Unconfined\""))
        }
        let sysctls = (podContext["sysctls"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }.filter { !safeSysctls.contains($0) }
        if !sysctls.isEmpty { found.append(Violation(check: "forbidden sysctls", detail: sysctls.joined(separator: ", "))) }
        guard level == .restricted else { return found }

        // Restricted.
        var restrictedVolumes: [String] = []
        var volumeTypes: Set<String> = []
        for volume in spec["volumes"]?.arrayValue ?? [] {
            guard let type = volume.objectValue?.keys.first(where: { $0 != "name" }), !restrictedVolumeTypes.contains(type) else { continue }
            restrictedVolumes.append(volume["name"]?.stringValue ?? "")
            volumeTypes.insert(type)
        }
        if !restrictedVolumes.isEmpty {
            found.append(Violation(check: "restricted volume types", detail: (restrictedVolumes.count == 1 ? "volume " : "volumes ")
                + restrictedVolumes.map { "\"\($0)\"" }.joined(separator: ", ") + " use" + (restrictedVolumes.count == 1 ? "s" : "")
                + " restricted volume type" + (volumeTypes.count == 1 ? " " : "s ") + volumeTypes.sorted().map { "\"\($0)\"" }.joined(separator: ", ")))
        }
        let escalating = named { $0["securityContext"]?["allowPrivilegeEscalation"]?.boolValue != false }
        if !escalating.isEmpty {
            found.append(Violation(check: "allowPrivilegeEscalation != false",
                detail: "\(containers(escalating)) must set securityContext.allowPrivilegeEscalation=false"))
        }
        let undropped = named { container in
            let capabilities = container["securityContext"]?["capabilities"]
            let drops = capabilities?["drop"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let adds = capabilities?["add"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return !drops.contains("ALL") || adds.contains { $0 != "NET_BIND_SERVICE" }
        }
        if !undropped.isEmpty {
            found.append(Violation(check: "unrestricted capabilities",
                detail: "\(containers(undropped)) must set securityContext.capabilities.drop=[\"ALL\"]"))
        }
        let podNonRoot = podContext["runAsNonRoot"]?.boolValue
        let rootPossible = named { container in
            let own = container["securityContext"]?["runAsNonRoot"]?.boolValue
            return own == false || (own == nil && podNonRoot != true)
        }
        if podNonRoot == false || !rootPossible.isEmpty {
            let who = podNonRoot == false ? "pod" : (podNonRoot == nil ? "pod or \(containers(rootPossible))" : containers(rootPossible))
            found.append(Violation(check: "runAsNonRoot != true", detail: "\(who) must \(podNonRoot == false ? "not set securityContext.runAsNonRoot=false" : "set securityContext.runAsNonRoot=true")"))
        }
        let rootUser = named { $0["securityContext"]?["runAsUser"]?.intValue == 0 }
        if podContext["runAsUser"]?.intValue == 0 || !rootUser.isEmpty {
            let who = podContext["runAsUser"]?.intValue == 0 ? "pod" + (rootUser.isEmpty ? "" : " and \(containers(rootUser))") : containers(rootUser)
            found.append(Violation(check: "runAsUser=0", detail: "\(who) must not set runAsUser=0"))
        }
        let podSeccomp = podContext["seccompProfile"]?["type"]?.stringValue
        let unprofiled = named { container in
            let own = container["securityContext"]?["seccompProfile"]?["type"]?.stringValue
            return !(["RuntimeDefault", "Localhost"].contains(own ?? podSeccomp ?? ""))
        }
        if !unprofiled.isEmpty {
            let who = podSeccomp == nil ? "pod or \(containers(unprofiled))" : containers(unprofiled)
            found.append(Violation(check: "seccompProfile",
                detail: "\(who) must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\""))
        }
        return found
    }

    /// `restricted:latest` style, as messages name a level.
    static func policy(_ level: Level) -> String { "\(level.rawValue):latest" }

    /// Refuses a pod its namespace's enforced level forbids; returns the warnings its warn level asks for; notes its audit
    /// level's violations on the request's audit event.
    static func admit(_ object: JSONValue, kind: String, name: String, labels: [String: String]) throws -> [String] {
        guard let spec = podSpec(of: object, kind: kind) else { return [] }
        if let enforce = level(labels, "enforce") { RequestAuditAnnotations.add("pod-security.kubernetes.io/enforce-policy", policy(enforce)) }
        if kind == "Pod", let enforce = level(labels, "enforce") {
            let found = violations(spec, level: enforce)
            if !found.isEmpty {
                throw Status(code: 403, reason: .forbidden,
                    message: "pods \"\(name)\" is forbidden: violates PodSecurity \"\(policy(enforce))\": " + found.map(\.text).joined(separator: ", "),
                    details: Status.Details(name: name, kind: "pods"))
            }
        }
        if let audit = level(labels, "audit") {
            let found = violations(spec, level: audit)
            if !found.isEmpty {
                RequestAuditAnnotations.add("pod-security.kubernetes.io/audit-violations",
                    "would violate PodSecurity \"\(policy(audit))\": " + found.map(\.text).joined(separator: ", "))
            }
        }
        // Workloads are not refused (their pods will be), but warned about at the enforced level too.
        let warnLevel = [level(labels, "warn"), kind == "Pod" ? nil : level(labels, "enforce")].compactMap { $0 }.max()
        guard let warnLevel else { return [] }
        let found = violations(spec, level: warnLevel)
        guard !found.isEmpty else { return [] }
        return ["would violate PodSecurity \"\(policy(warnLevel))\": " + found.map(\.text).joined(separator: ", ")]
    }
}
