import Foundation
import KeelsonAPI

/// `apiextensions.k8s.io/v1` CustomResourceDefinitions: defaulted and validated as apiextensions-apiserver does;
/// their status is written by `CustomResourceRegistrar`, never by clients' writes to the main resource.
enum CustomResourceDefinitionStrategy {
    /// Held on every definition until its objects are gone, so that deleting a definition deletes them.
    static let cleanupFinalizer = "customresourcecleanup.apiextensions.k8s.io"

    static let strategy = ResourceStrategy(
        applyDefaults: { crd in
            guard let kind = crd.value(at: ["spec", "names", "kind"])?.stringValue, !kind.isEmpty else { return }
            crd.setDefault(.string(kind.lowercased()), at: ["spec", "names", "singular"])
            crd.setDefault(.string(kind + "List"), at: ["spec", "names", "listKind"])
            crd.setDefault(["strategy": "None"], at: ["spec", "conversion"])
            crd.updateEach(at: ["spec", "versions"]) { version in
                version.updateEach(at: ["additionalPrinterColumns"]) { column in
                    column.setDefault(.integer(0), at: ["priority"])
                }
            }
        },
        prepareForCreate: { crd in
            var finalizers = crd.metadata?["finalizers"]?.arrayValue ?? []
            if !finalizers.contains(.string(cleanupFinalizer)) { finalizers.append(.string(cleanupFinalizer)) }
            crd.setValue(.array(finalizers), at: ["metadata", "finalizers"])
            crd["status"] = ["conditions": [], "acceptedNames": ["kind": "", "plural": ""], "storedVersions": []]
        },
        validate: validate,
        validateUpdate: { new, old in
            var errors = Validation.immutable(new, old, ["spec", "scope"], "spec.scope")
            errors += Validation.immutable(new, old, ["spec", "group"], "spec.group")
            // A version may stop being stored only once no object is stored in it any more (storedVersions says so).
            let versions = Set((new.value(at: ["spec", "versions"])?.arrayValue ?? []).compactMap { $0["name"]?.stringValue })
            for stored in (old.value(at: ["status", "storedVersions"])?.arrayValue ?? []).compactMap(\.stringValue) where !versions.contains(stored) {
                errors.append(.invalid("status.storedVersions[\(stored)]", stored, "must appear in spec.versions"))
            }
            return errors
        },
        columns: [TableColumn(name: "Created At", type: "date", description: "When the definition was created.")],
        cells: { crd, _ in [crd.creationTimestamp.map(JSONValue.string) ?? .null] }
    )

    static func validate(_ crd: JSONValue) -> [FieldError] {
        var errors: [FieldError] = []
        let spec = crd["spec"] ?? [:]
        let group = spec["group"]?.stringValue ?? ""
        let plural = spec["names"]?["plural"]?.stringValue ?? ""
        if group.isEmpty {
            errors.append(.required("spec.group"))
        } else {
            for message in NameValidation.dns1123Subdomain(group) { errors.append(.invalid("spec.group", group, message)) }
            if !group.contains(".") { errors.append(.invalid("spec.group", group, "should be a domain with at least one dot")) }
        }
        if let name = crd.name, !plural.isEmpty, !group.isEmpty, name != "\(plural).\(group)" {
            errors.append(.invalid("metadata.name", name, "must be spec.names.plural+\".\"+spec.group"))
        }
        switch spec["scope"]?.stringValue {
        case nil, ""?: errors.append(.required("spec.scope"))
        case "Namespaced"?, "Cluster"?: break
        case let other?: errors.append(.notSupported("spec.scope", other, supported: ["Cluster", "Namespaced"]))
        }
        errors += validateNames(spec["names"] ?? [:])
        let versions = spec["versions"]?.arrayValue ?? []
        if versions.isEmpty { errors.append(.required("spec.versions", "must have exactly one version marked as storage version")) }
        var seen = Set<String>()
        for (i, version) in versions.enumerated() {
            let path = "spec.versions[\(i)]"
            let name = version["name"]?.stringValue ?? ""
            if name.isEmpty {
                errors.append(.required("\(path).name"))
            } else {
                for message in NameValidation.dns1035Label(name) { errors.append(.invalid("\(path).name", name, message)) }
                if !seen.insert(name).inserted { errors.append(FieldError(.duplicate, field: "\(path).name", badValue: name)) }
            }
            errors += validateVersion(version, path: path)
        }
        let storage = versions.filter { $0["storage"]?.boolValue == true }.count
        if !versions.isEmpty && storage != 1 {
            errors.append(.invalid("spec.versions", "\(storage)", "must have exactly one version marked as storage version"))
        }
        if let strategy = spec["conversion"]?["strategy"]?.stringValue, strategy != "None" {
            errors.append(.notSupported("spec.conversion.strategy", strategy, supported: ["None"]))
        }
        return errors
    }

    private static func validateNames(_ names: JSONValue) -> [FieldError] {
        var errors: [FieldError] = []
        for (field, required) in [("plural", true), ("singular", false), ("kind", true), ("listKind", false)] {
            let value = names[field]?.stringValue ?? ""
            if value.isEmpty {
                if required { errors.append(.required("spec.names.\(field)")) }
                continue
            }
            let messages = field == "kind" || field == "listKind"
                ? (value.first?.isLetter == true && value.allSatisfy { $0.isLetter || $0.isNumber } ? [] : ["may have mixed case, but should otherwise match: [a-zA-Z][a-zA-Z0-9]*"])
                : NameValidation.dns1035Label(value)
            for message in messages { errors.append(.invalid("spec.names.\(field)", value, message)) }
        }
        for (i, short) in (names["shortNames"]?.arrayValue ?? []).compactMap(\.stringValue).enumerated() {
            for message in NameValidation.dns1035Label(short) { errors.append(.invalid("spec.names.shortNames[\(i)]", short, message)) }
        }
        return errors
    }

    private static func validateVersion(_ version: JSONValue, path: String) -> [FieldError] {
        var errors: [FieldError] = []
        if let schema = version["schema"]?["openAPIV3Schema"] {
            let schemaPath = "\(path).schema.openAPIV3Schema"
            if schema["type"]?.stringValue == nil {
                errors.append(.required("\(schemaPath).type", "must not be empty at the root"))
            } else if schema["type"]?.stringValue != "object" {
                errors.append(.invalid("\(schemaPath).type", schema["type"]?.stringValue ?? "", "must be object at the root"))
            }
            do {
                _ = try StructuralSchema(schema, path: schemaPath)
            } catch {
                errors.append(.invalid(error.field, "", error.message))
            }
        } else {
            errors.append(.required("\(path).schema.openAPIV3Schema", "schemas are required"))
        }
        if let scale = version["subresources"]?["scale"] {
            for field in ["specReplicasPath", "statusReplicasPath"] {
                let value = scale[field]?.stringValue ?? ""
                if value.isEmpty {
                    errors.append(.required("\(path).subresources.scale.\(field)"))
                } else if !value.hasPrefix(".spec.") && field == "specReplicasPath" || !value.hasPrefix(".status.") && field == "statusReplicasPath" {
                    errors.append(.invalid("\(path).subresources.scale.\(field)", value,
                        "should be a json path under .\(field == "specReplicasPath" ? "spec" : "status")"))
                }
            }
        }
        for (i, column) in (version["additionalPrinterColumns"]?.arrayValue ?? []).enumerated() {
            let columnPath = "\(path).additionalPrinterColumns[\(i)]"
            if (column["name"]?.stringValue ?? "").isEmpty { errors.append(.required("\(columnPath).name")) }
            if (column["jsonPath"]?.stringValue ?? "").isEmpty { errors.append(.required("\(columnPath).jsonPath")) }
            let type = column["type"]?.stringValue ?? ""
            let types = ["integer", "number", "string", "boolean", "date"]
            if type.isEmpty {
                errors.append(.required("\(columnPath).type"))
            } else if !types.contains(type) {
                errors.append(.notSupported("\(columnPath).type", type, supported: types))
            }
        }
        return errors
    }

    /// Versions in Kubernetes' priority order: GA before beta before alpha, higher numbers first, then other names
    /// alphabetically (`sort.ByVersionPriority` semantics). A group's first version is its preferred one.
    static func versionPriorityOrder(_ a: String, _ b: String) -> Bool {
        func rank(_ version: String) -> (tier: Int, major: Int, minor: Int)? {
            guard version.hasPrefix("v") else { return nil }
            let rest = version.dropFirst()
            let digits = rest.prefix { $0.isNumber }
            guard let major = Int(digits), major > 0 else { return nil }
            let tail = rest.dropFirst(digits.count)
            if tail.isEmpty { return (3, major, 0) }
            for (tier, word) in [(2, "beta"), (1, "alpha")] where tail.hasPrefix(word) {
                guard let minor = Int(tail.dropFirst(word.count)) else { return nil }
                return (tier, major, minor)
            }
            return nil
        }
        switch (rank(a), rank(b)) {
        case let (x?, y?):
            if x.tier != y.tier { return x.tier > y.tier }
            if x.major != y.major { return x.major > y.major }
            return x.minor > y.minor
        case (_?, nil): return true
        case (nil, _?): return false
        case (nil, nil): return a < b
        }
    }
}
