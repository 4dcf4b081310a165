import Foundation
import KeelsonAPI

/// core/v1 kinds other than Pod, and the smaller kinds of other groups.
enum CoreStrategies {
    static let ageColumn = TableColumn(name: "Age", description: "CreationTimestamp is a timestamp representing the server time when this object was created.")

    static let namespace = ResourceStrategy(
        applyDefaults: { ns in
            // The NamespaceDefaultLabelName feature: every namespace carries its own name as a label.
            if let name = ns.name {
                var labels = ns.metadata?["labels"]?.objectValue ?? [:]
                labels["kubernetes.io/metadata.name"] = .string(name)
                ns.setMetadataField("labels", .object(labels))
            }
        },
        prepareForCreate: { ns in
            ns["status"] = ["phase": "Active"]
            ns.setValue(["kubernetes"], at: ["spec", "finalizers"])
        },
        columns: [TableColumn(name: "Status", description: "The status of the namespace"), ageColumn],
        cells: { ns, now in
            [.string(ns.value(at: ["status", "phase"])?.stringValue ?? ""), .string(TablePrinter.age(of: ns, now: now))]
        }
    )

    static func defaultServicePorts(_ svc: inout JSONValue) {
        svc.updateEach(at: ["spec", "ports"]) { port in
            port.setDefault("TCP", at: ["protocol"])
            if port["targetPort"] == nil, let p = port["port"] { port["targetPort"] = p }
        }
    }

    static let service = ResourceStrategy(
        applyDefaults: { svc in
            svc.setDefault("ClusterIP", at: ["spec", "type"])
            let type = svc.value(at: ["spec", "type"])?.stringValue
            if type != "ExternalName" {
                svc.setDefault("None", at: ["spec", "sessionAffinity"])
                svc.setDefault("Cluster", at: ["spec", "internalTrafficPolicy"])
            }
            if type == "NodePort" || type == "LoadBalancer" {
                svc.setDefault("Cluster", at: ["spec", "externalTrafficPolicy"])
            }
            defaultServicePorts(&svc)
        },
        prepareForCreate: { $0["status"] = ["loadBalancer": .object([:])] },
        validate: { svc in
            var errors: [FieldError] = []
            let type = svc.value(at: ["spec", "type"])?.stringValue ?? "ClusterIP"
            errors += Validation.oneOf(svc, ["spec", "type"], "spec.type", ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"])
            let ports = svc.value(at: ["spec", "ports"])?.arrayValue ?? []
            let headless = svc.value(at: ["spec", "clusterIP"])?.stringValue == "None"
            if type != "ExternalName" && ports.isEmpty && !headless {
                errors.append(.required("spec.ports", ""))
            }
            if type == "ExternalName" {
                errors += Validation.required(svc, ["spec", "externalName"], "spec.externalName")
            }
            var names = Set<String>()
            for (i, port) in ports.enumerated() {
                let p = port["port"]?.intValue ?? 0
                if !(1...65535).contains(p) {
                    errors.append(.invalid("spec.ports[\(i)].port", String(p), "must be between 1 and 65535, inclusive"))
                }
                if ports.count > 1 && (port["name"]?.stringValue ?? "").isEmpty {
                    errors.append(.required("spec.ports[\(i)].name", ""))
                }
                if let name = port["name"]?.stringValue, !name.isEmpty, !names.insert(name).inserted {
                    errors.append(FieldError(.duplicate, field: "spec.ports[\(i)].name", badValue: name))
                }
                errors += Validation.oneOf(port, ["protocol"], "spec.ports[\(i)].protocol", ["SCTP", "TCP", "UDP"])
            }
            errors += Validation.oneOf(svc, ["spec", "sessionAffinity"], "spec.sessionAffinity", ["ClientIP", "None"])
            return errors
        },
        validateUpdate: { new, old in
            // clusterIP is immutable once set, except by changing to/from ExternalName (`ValidateServiceUpdate`).
            guard let oldIP = old.value(at: ["spec", "clusterIP"])?.stringValue, !oldIP.isEmpty,
                new.value(at: ["spec", "type"])?.stringValue != "ExternalName"
            else { return [] }
            return Validation.immutable(new, old, ["spec", "clusterIP"], "spec.clusterIPs[0]")
        },
        columns: [
            TableColumn(name: "Type", description: "type determines how the Service is exposed."),
            TableColumn(name: "Cluster-IP", description: "clusterIP is the IP address of the service and is usually assigned randomly."),
            TableColumn(name: "External-IP", description: "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
            TableColumn(name: "Port(s)", description: "The list of ports that are exposed by this service."),
            ageColumn,
            TableColumn(name: "Selector", description: "Route service traffic to pods with label keys and values matching this selector.", priority: 1),
        ],
        cells: { svc, now in
            let spec = svc["spec"]
            let type = spec?["type"]?.stringValue ?? "ClusterIP"
            var external = (spec?["externalIPs"]?.arrayValue ?? []).compactMap(\.stringValue)
            if type == "LoadBalancer" {
                external += (svc.value(at: ["status", "loadBalancer", "ingress"])?.arrayValue ?? []).compactMap { $0["ip"]?.stringValue ?? $0["hostname"]?.stringValue }
            }
            let externalText: String
            if type == "ExternalName" {
                externalText = spec?["externalName"]?.stringValue ?? "<none>"
            } else if external.isEmpty {
                externalText = type == "LoadBalancer" ? "<pending>" : "<none>"
            } else {
                externalText = external.joined(separator: ",")
            }
            let ports = (spec?["ports"]?.arrayValue ?? []).map { port -> String in
                let p = port["port"]?.intValue ?? 0
                let proto = port["protocol"]?.stringValue ?? "TCP"
                if let nodePort = port["nodePort"]?.intValue { return "\(p):\(nodePort)/\(proto)" }
                return "\(p)/\(proto)"
            }
            let selector = (spec?["selector"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.stringValue ?? "")" }
            return [.string(type), .string(spec?["clusterIP"]?.stringValue ?? "<none>"), .string(externalText),
                    .string(ports.isEmpty ? "<none>" : ports.joined(separator: ",")), .string(TablePrinter.age(of: svc, now: now)),
                    .string(TablePrinter.joinedOrNone(selector))]
        }
    )

    /// `stringData` is write-only: merged into `data` as base64, as the Secret strategy does on every write.
    static func mergeStringData(_ secret: inout JSONValue) {
        guard let stringData = secret["stringData"]?.objectValue else { return }
        var data = secret["data"]?.objectValue ?? [:]
        for (key, value) in stringData {
            data[key] = .string(Data((value.stringValue ?? "").utf8).base64EncodedString())
        }
        secret["data"] = .object(data)
        secret["stringData"] = nil
    }

    static func validateDataKeys(_ object: JSONValue, fields: [String]) -> [FieldError] {
        var errors: [FieldError] = []
        for field in fields {
            for key in (object[field]?.objectValue ?? [:]).keys.sorted() {
                let valid = !key.isEmpty && key.utf8.count <= 253 && key != "." && key != ".."
                    && key.allSatisfy { $0.isLetter && $0.isASCII || $0.isNumber && $0.isASCII || "-._".contains($0) }
                if !valid {
                    errors.append(.invalid("\(field)[\(key)]", key, "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"))
                }
            }
        }
        return errors
    }

    static func immutableData(_ new: JSONValue, _ old: JSONValue, fields: [String]) -> [FieldError] {
        guard old["immutable"]?.boolValue == true else { return [] }
        var errors: [FieldError] = []
        if new["immutable"]?.boolValue != true { errors.append(.forbidden("immutable", "field is immutable when `immutable` is set")) }
        for field in fields where new[field] != old[field] {
            errors.append(.forbidden(field, "field is immutable when `immutable` is set"))
        }
        return errors
    }

    static let secret = ResourceStrategy(
        applyDefaults: { s in
            mergeStringData(&s)
            s.setDefault("Opaque", at: ["type"])
        },
        validate: { s in
            var errors = validateDataKeys(s, fields: ["data"])
            for (key, value) in s["data"]?.objectValue ?? [:] {
                if let text = value.stringValue, Data(base64Encoded: text) == nil {
                    errors.append(.invalid("data[\(key)]", "<secret contents redacted>", "illegal base64 data"))
                }
            }
            return errors
        },
        validateUpdate: { new, old in
            immutableData(new, old, fields: ["data"]) + Validation.immutable(new, old, ["type"], "type")
        },
        selectableFields: { ["type": $0["type"]?.stringValue ?? ""] },
        columns: [
            TableColumn(name: "Type", description: "Used to facilitate programmatic handling of secret data."),
            TableColumn(name: "Data", type: "integer", description: "Data contains the secret data."),
            ageColumn,
        ],
        cells: { s, now in
            [.string(s["type"]?.stringValue ?? ""), .integer(Int64(s["data"]?.objectValue?.count ?? 0)),
             .string(TablePrinter.age(of: s, now: now))]
        }
    )

    static let configMap = ResourceStrategy(
        validate: { validateDataKeys($0, fields: ["data", "binaryData"]) },
        validateUpdate: { new, old in immutableData(new, old, fields: ["data", "binaryData"]) },
        columns: [TableColumn(name: "Data", type: "integer", description: "Data contains the configuration data."), ageColumn],
        cells: { cm, now in
            [.integer(Int64((cm["data"]?.objectValue?.count ?? 0) + (cm["binaryData"]?.objectValue?.count ?? 0))),
             .string(TablePrinter.age(of: cm, now: now))]
        }
    )

    static let serviceAccount = ResourceStrategy(
        columns: [TableColumn(name: "Secrets", type: "integer", description: "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."), ageColumn],
        cells: { sa, now in
            [.integer(Int64(sa["secrets"]?.arrayValue?.count ?? 0)), .string(TablePrinter.age(of: sa, now: now))]
        }
    )

    static let node = ResourceStrategy(
        selectableFields: { ["spec.unschedulable": ($0.value(at: ["spec", "unschedulable"])?.boolValue ?? false) ? "true" : "false"] },
        columns: [
            TableColumn(name: "Status", description: "The status of the node"),
            TableColumn(name: "Roles", description: "The roles of the node"),
            ageColumn,
            TableColumn(name: "Version", description: "Kubelet Version reported by the node."),
            TableColumn(name: "Internal-IP", description: "List of addresses reachable to the node.", priority: 1),
            TableColumn(name: "External-IP", description: "List of addresses reachable to the node.", priority: 1),
            TableColumn(name: "OS-Image", description: "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", priority: 1),
            TableColumn(name: "Kernel-Version", description: "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", priority: 1),
            TableColumn(name: "Container-Runtime", description: "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).", priority: 1),
        ],
        cells: { node, now in
            let conditions = node.value(at: ["status", "conditions"])?.arrayValue ?? []
            var status = "Unknown"
            if let ready = conditions.first(where: { $0["type"]?.stringValue == "Ready" }) {
                status = ready["status"]?.stringValue == "True" ? "Ready" : "NotReady"
            }
            if node.value(at: ["spec", "unschedulable"])?.boolValue == true { status += ",SchedulingDisabled" }
            let roles = node.labels.keys.compactMap { key -> String? in
                if key.hasPrefix("node-role.kubernetes.io/") { return String(key.dropFirst("node-role.kubernetes.io/".count)) }
                if key == "kubernetes.io/role" { return node.labels[key] }
                return nil
            }.filter { !$0.isEmpty }.sorted()
            let addresses = node.value(at: ["status", "addresses"])?.arrayValue ?? []
            func address(_ type: String) -> String {
                addresses.first { $0["type"]?.stringValue == type }?["address"]?.stringValue ?? "<none>"
            }
            let info = node.value(at: ["status", "nodeInfo"])
            return [.string(status), .string(TablePrinter.joinedOrNone(roles)), .string(TablePrinter.age(of: node, now: now)),
                    .string(info?["kubeletVersion"]?.stringValue ?? ""), .string(address("InternalIP")), .string(address("ExternalIP")),
                    .string(info?["osImage"]?.stringValue ?? "<unknown>"), .string(info?["kernelVersion"]?.stringValue ?? "<unknown>"),
                    .string(info?["containerRuntimeVersion"]?.stringValue ?? "<unknown>")]
        }
    )

    static let event = ResourceStrategy(
        validate: { e in
            Validation.required(e, ["involvedObject"], "involvedObject")
        },
        selectableFields: { e in
            var fields: [String: String] = [
                "reason": e["reason"]?.stringValue ?? "",
                "type": e["type"]?.stringValue ?? "",
                "source": e.value(at: ["source", "component"])?.stringValue ?? e["reportingComponent"]?.stringValue ?? "",
                "reportingComponent": e["reportingComponent"]?.stringValue ?? "",
            ]
            for field in ["kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"] {
                fields["involvedObject.\(field)"] = e.value(at: ["involvedObject", field])?.stringValue ?? ""
            }
            return fields
        },
        columns: [
            TableColumn(name: "Last Seen", description: "The time at which the most recent occurrence of this event was recorded."),
            TableColumn(name: "Type", description: "Type of this event (Normal, Warning), new types could be added in the future"),
            TableColumn(name: "Reason", description: "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
            TableColumn(name: "Object", description: "The object that this event is about."),
            TableColumn(name: "Message", description: "A human-readable description of the status of this operation."),
        ],
        cells: { e, now in
            let last = (e["lastTimestamp"]?.stringValue ?? e["eventTime"]?.stringValue ?? e.creationTimestamp).flatMap(Timestamp.parse)
            let kind = (e.value(at: ["involvedObject", "kind"])?.stringValue ?? "").lowercased()
            let name = e.value(at: ["involvedObject", "name"])?.stringValue ?? ""
            return [.string(last.map { TablePrinter.humanDuration(now.timeIntervalSince($0)) } ?? "<unknown>"),
                    .string(e["type"]?.stringValue ?? ""), .string(e["reason"]?.stringValue ?? ""),
                    .string("\(kind)/\(name)"), .string(e["message"]?.stringValue ?? "")]
        }
    )

    static let endpoints = ResourceStrategy(
        columns: [TableColumn(name: "Endpoints", description: "Endpoints is the list of endpoints for the service."), ageColumn],
        cells: { ep, now in
            var items: [String] = []
            for subset in ep["subsets"]?.arrayValue ?? [] {
                let ports = (subset["ports"]?.arrayValue ?? []).compactMap { $0["port"]?.intValue }
                for address in subset["addresses"]?.arrayValue ?? [] {
                    let ip = address["ip"]?.stringValue ?? ""
                    if ports.isEmpty { items.append(ip) } else { items += ports.map { "\(ip):\($0)" } }
                }
            }
            let text = TablePrinter.abbreviated(items, empty: "<none>")
            return [.string(text), .string(TablePrinter.age(of: ep, now: now))]
        }
    )

    static let persistentVolumeClaim = ResourceStrategy(
        applyDefaults: { $0.setDefault("Filesystem", at: ["spec", "volumeMode"]) },
        prepareForCreate: { $0["status"] = ["phase": "Pending"] },
        validate: { pvc in
            var errors = Validation.required(pvc, ["spec", "accessModes"], "spec.accessModes")
            if pvc.value(at: ["spec", "resources", "requests", "storage"]) == nil && pvc.value(at: ["spec", "dataSourceRef"]) == nil {
                errors.append(.required("spec.resources[storage]", ""))
            }
            return errors
        },
        validateUpdate: { new, old in
            var a = new["spec"] ?? .null
            var b = old["spec"] ?? .null
            for spec in [0, 1] {
                if spec == 0 { a.setValue(nil, at: ["resources", "requests"]); a["volumeName"] = nil } else { b.setValue(nil, at: ["resources", "requests"]); b["volumeName"] = nil }
            }
            return a == b ? [] : [.forbidden("spec", "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims")]
        },
        columns: [
            TableColumn(name: "Status", description: "phase represents the current phase of PersistentVolumeClaim."),
            TableColumn(name: "Volume", description: "volumeName is the binding reference to the PersistentVolume backing this claim."),
            TableColumn(name: "Capacity", description: "capacity represents the actual resources of the underlying volume."),
            TableColumn(name: "Access Modes", description: "accessModes contains the desired access modes the volume should have."),
            TableColumn(name: "StorageClass", description: "storageClassName is the name of the StorageClass required by the claim."),
            TableColumn(name: "VolumeAttributesClass", description: "volumeAttributesClassName may be used to set the VolumeAttributesClass used by this claim."),
            ageColumn,
            TableColumn(name: "VolumeMode", description: "volumeMode defines what type of volume is required by the claim.", priority: 1),
        ],
        cells: { pvc, now in
            [.string(pvc.value(at: ["status", "phase"])?.stringValue ?? ""), .string(pvc.value(at: ["spec", "volumeName"])?.stringValue ?? ""),
                    .string(pvc.value(at: ["status", "capacity", "storage"])?.stringValue ?? ""), .string(StorageStrategies.accessModes(pvc)),
                    .string(pvc.value(at: ["spec", "storageClassName"])?.stringValue ?? "<unset>"),
                    .string(pvc.value(at: ["spec", "volumeAttributesClassName"])?.stringValue ?? "<unset>"),
                    .string(TablePrinter.age(of: pvc, now: now)), .string(pvc.value(at: ["spec", "volumeMode"])?.stringValue ?? "")]
        }
    )

    static let lease = ResourceStrategy(
        columns: [TableColumn(name: "Holder", description: "holderIdentity contains the identity of the holder of a current lease."), ageColumn],
        cells: { l, now in
            [.string(l.value(at: ["spec", "holderIdentity"])?.stringValue ?? ""), .string(TablePrinter.age(of: l, now: now))]
        }
    )

    static let roleBinding = ResourceStrategy(
        validate: { rb in Validation.required(rb, ["roleRef", "name"], "roleRef.name") },
        validateUpdate: { new, old in Validation.immutable(new, old, ["roleRef"], "roleRef") },
        columns: [
            TableColumn(name: "Role", description: "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace."),
            ageColumn,
            TableColumn(name: "Users", description: "Users in the binding", priority: 1),
            TableColumn(name: "Groups", description: "Groups in the binding", priority: 1),
            TableColumn(name: "ServiceAccounts", description: "ServiceAccounts in the binding", priority: 1),
        ],
        cells: { rb, now in
            let subjects = rb["subjects"]?.arrayValue ?? []
            func names(_ kind: String) -> String {
                subjects.filter { $0["kind"]?.stringValue == kind }.map { s -> String in
                    let name = s["name"]?.stringValue ?? ""
                    if kind == "ServiceAccount" { return "\(s["namespace"]?.stringValue ?? ""):\(name)" }
                    return name
                }.joined(separator: ", ")
            }
            return [.string("\(rb.value(at: ["roleRef", "kind"])?.stringValue ?? "")/\(rb.value(at: ["roleRef", "name"])?.stringValue ?? "")"),
                    .string(TablePrinter.age(of: rb, now: now)), .string(names("User")), .string(names("Group")), .string(names("ServiceAccount"))]
        }
    )

    static let role = ResourceStrategy(
        columns: [TableColumn(name: "Created At", format: "date-time", description: "CreationTimestamp is a timestamp representing the server time when this object was created.")],
        cells: { r, _ in [.string(r.creationTimestamp ?? "")] }
    )

    static let endpointSlice = ResourceStrategy(
        validate: { es in
            Validation.oneOf(es, ["addressType"], "addressType", ["IPv4", "IPv6", "FQDN"])
                + Validation.required(es, ["addressType"], "addressType")
        },
        validateUpdate: { new, old in Validation.immutable(new, old, ["addressType"], "addressType") },
        columns: [
            TableColumn(name: "AddressType", description: "addressType specifies the type of address carried by this EndpointSlice."),
            TableColumn(name: "Ports", description: "ports specifies the list of network ports exposed by each endpoint in this slice."),
            TableColumn(name: "Endpoints", description: "endpoints is a list of unique endpoints in this slice."),
            ageColumn,
        ],
        cells: { es, now in
            let ports = (es["ports"]?.arrayValue ?? []).compactMap { $0["port"]?.intValue }.map(String.init)
            let addresses = (es["endpoints"]?.arrayValue ?? []).flatMap { ($0["addresses"]?.arrayValue ?? []).compactMap(\.stringValue) }
            let text = TablePrinter.abbreviated(addresses, empty: "<unset>")
            return [.string(es["addressType"]?.stringValue ?? ""), .string(ports.isEmpty ? "<unset>" : ports.joined(separator: ",")),
                    .string(text), .string(TablePrinter.age(of: es, now: now))]
        }
    )

    static let podDisruptionBudget = ResourceStrategy(
        prepareForCreate: { $0["status"] = nil },
        validate: { pdb in
            if pdb.value(at: ["spec", "minAvailable"]) != nil && pdb.value(at: ["spec", "maxUnavailable"]) != nil {
                return [.invalid("spec", "", "minAvailable and maxUnavailable cannot be both set")]
            }
            return []
        },
        columns: [
            TableColumn(name: "Min Available", description: "The minimum number of pods that must be available simultaneously."),
            TableColumn(name: "Max Unavailable", description: "The maximum number of pods that may be unavailable simultaneously."),
            TableColumn(name: "Allowed Disruptions", type: "integer", description: "Calculated number of pods that may be disrupted at this time."),
            ageColumn,
        ],
        cells: { pdb, now in
            func text(_ v: JSONValue?) -> String {
                guard let v else { return "N/A" }
                if let i = v.intValue { return String(i) }
                return v.stringValue ?? "N/A"
            }
            return [.string(text(pdb.value(at: ["spec", "minAvailable"]))), .string(text(pdb.value(at: ["spec", "maxUnavailable"]))),
                    .integer(pdb.value(at: ["status", "disruptionsAllowed"])?.intValue ?? 0), .string(TablePrinter.age(of: pdb, now: now))]
        }
    )

    static let controllerRevision = ResourceStrategy(
        validate: { cr in Validation.nonNegative(cr, ["revision"], "revision") },
        validateUpdate: { new, old in Validation.immutable(new, old, ["data"], "data") },
        columns: [
            TableColumn(name: "Controller", description: "Controller of the object"),
            TableColumn(name: "Revision", type: "integer", description: "Revision indicates the revision of the state represented by Data."),
            ageColumn,
        ],
        cells: { cr, now in
            let owner = (cr.metadata?["ownerReferences"]?.arrayValue ?? []).first { $0["controller"]?.boolValue == true }
            let controller = owner.map { o -> String in
                let group = GroupVersionKind.split(apiVersion: o["apiVersion"]?.stringValue ?? "").group
                let kind = (o["kind"]?.stringValue ?? "").lowercased()
                return "\(group.isEmpty ? kind : "\(kind).\(group)")/\(o["name"]?.stringValue ?? "")"
            } ?? "<none>"
            return [.string(controller), .integer(cr["revision"]?.intValue ?? 0), .string(TablePrinter.age(of: cr, now: now))]
        }
    )

    static let resourceQuota = ResourceStrategy(
        columns: [
            ageColumn,
            TableColumn(name: "Request", description: "Request represents a minimum amount of cpu/memory that a container may consume."),
            TableColumn(name: "Limit", description: "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
        ],
        cells: { rq, now in
            let hard = rq.value(at: ["status", "hard"])?.objectValue ?? rq.value(at: ["spec", "hard"])?.objectValue ?? [:]
            let used = rq.value(at: ["status", "used"])?.objectValue ?? [:]
            var requests: [String] = []
            var limits: [String] = []
            for key in hard.keys.sorted() {
                let entry = "\(key): \(used[key]?.stringValue ?? "0")/\(hard[key]?.stringValue ?? "")"
                if key.hasPrefix("limits.") { limits.append(entry) } else { requests.append(entry) }
            }
            return [.string(TablePrinter.age(of: rq, now: now)), .string(requests.joined(separator: ", ")), .string(limits.joined(separator: ", "))]
        }
    )

    static let limitRange = ResourceStrategy(
        applyDefaults: { LimitRanger.applyDefaults(toLimitRange: &$0) },
        columns: [TableColumn(name: "Created At", format: "date-time", description: "CreationTimestamp is a timestamp representing the server time when this object was created.")],
        cells: { lr, _ in [.string(lr.creationTimestamp ?? "")] }
    )
}
