import KeelsonAPI

/// One rule of a Role or ClusterRole, matched as Kubernetes' RBAC matches it.
public struct PolicyRule: Sendable, Hashable {
    public var verbs: [String]
    public var apiGroups: [String]
    public var resources: [String]
    public var resourceNames: [String]
    public var nonResourceURLs: [String]

    public init(verbs: [String], apiGroups: [String] = [], resources: [String] = [], resourceNames: [String] = [],
        nonResourceURLs: [String] = [])
    {
        self.verbs = verbs
        self.apiGroups = apiGroups
        self.resources = resources
        self.resourceNames = resourceNames
        self.nonResourceURLs = nonResourceURLs
    }

    public init(json: JSONValue) {
        func strings(_ key: String) -> [String] { json[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        self.init(verbs: strings("verbs"), apiGroups: strings("apiGroups"), resources: strings("resources"),
            resourceNames: strings("resourceNames"), nonResourceURLs: strings("nonResourceURLs"))
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["verbs": .array(verbs.map(JSONValue.string))]
        if !apiGroups.isEmpty || !resources.isEmpty { object["apiGroups"] = .array(apiGroups.map(JSONValue.string)) }
        if !resources.isEmpty { object["resources"] = .array(resources.map(JSONValue.string)) }
        if !resourceNames.isEmpty { object["resourceNames"] = .array(resourceNames.map(JSONValue.string)) }
        if !nonResourceURLs.isEmpty { object["nonResourceURLs"] = .array(nonResourceURLs.map(JSONValue.string)) }
        return .object(object)
    }

    public func allows(_ request: AuthorizationAttributes) -> Bool {
        guard matchesVerb(request.verb) else { return false }
        guard request.isResourceRequest else { return matchesPath(request.path) }
        return matchesGroup(request.apiGroup) && matchesResource(request.resource, subresource: request.subresource)
            && matchesName(request.name)
    }

    func matchesVerb(_ verb: String) -> Bool { verbs.contains("*") || verbs.contains(verb) }

    func matchesGroup(_ group: String) -> Bool { apiGroups.contains("*") || apiGroups.contains(group) }

    /// `*`, `resource`, `resource/subresource`, or `*/subresource` for that subresource of any resource.
    func matchesResource(_ resource: String, subresource: String) -> Bool {
        let combined = subresource.isEmpty ? resource : "\(resource)/\(subresource)"
        for rule in resources {
            if rule == "*" || rule == combined { return true }
            if !subresource.isEmpty && rule == "*/\(subresource)" { return true }
        }
        return false
    }

    func matchesName(_ name: String) -> Bool { resourceNames.isEmpty || resourceNames.contains(name) }

    /// An exact path, or a prefix ending in `*`.
    func matchesPath(_ path: String) -> Bool {
        for rule in nonResourceURLs {
            if rule == "*" || rule == path { return true }
            if rule.hasSuffix("*") && path.hasPrefix(rule.dropLast()) { return true }
        }
        return false
    }
}

extension Array where Element == PolicyRule {
    /// Whether these rules grant everything `requested` grants: each atom (verb × group × resource × name, or verb ×
    /// path) of a requested rule is allowed by one of them. This is RBAC's escalation check — a user may only
    /// hand out what they hold.
    func cover(_ requested: [PolicyRule]) -> [PolicyRule] {
        var missing: [PolicyRule] = []
        for rule in requested {
            for verb in rule.verbs {
                for path in rule.nonResourceURLs {
                    let atom = PolicyRule(verbs: [verb], nonResourceURLs: [path])
                    if !contains(where: { $0.matchesVerb(verb) && $0.coversPath(path) }) { missing.append(atom) }
                }
                for group in rule.apiGroups {
                    for resource in rule.resources {
                        for name in rule.resourceNames.isEmpty ? [nil] : rule.resourceNames.map(Optional.some) {
                            let covered = contains { owner in
                                owner.matchesVerb(verb) && owner.matchesGroup(group) && owner.coversResource(resource)
                                    && (owner.resourceNames.isEmpty || (name.map(owner.resourceNames.contains) ?? false))
                            }
                            if !covered {
                                missing.append(PolicyRule(verbs: [verb], apiGroups: [group], resources: [resource],
                                    resourceNames: name.map { [$0] } ?? []))
                            }
                        }
                    }
                }
            }
        }
        return missing
    }
}

extension PolicyRule {
    /// Resource coverage between rules: `*` covers all; `*/sub` covers any `res/sub`; otherwise equality.
    fileprivate func coversResource(_ requested: String) -> Bool {
        for rule in resources {
            if rule == "*" || rule == requested { return true }
            if rule.hasPrefix("*/"), let slash = requested.firstIndex(of: "/"), requested[slash...] == rule.dropFirst() { return true }
        }
        return false
    }

    fileprivate func coversPath(_ requested: String) -> Bool {
        for rule in nonResourceURLs {
            if rule == "*" || rule == requested { return true }
            if rule.hasSuffix("*") {
                let prefix = rule.dropLast()
                if requested.hasPrefix(prefix) { return true }
            }
        }
        return false
    }

    /// `kubectl describe`'s compact form, for messages.
    var summary: String {
        if !nonResourceURLs.isEmpty { return "{NonResourceURLs:\(nonResourceURLs) Verbs:\(verbs)}" }
        var text = "{APIGroups:\(apiGroups.map { "\"\($0)\"" }) Resources:\(resources.map { "\"\($0)\"" })"
        if !resourceNames.isEmpty { text += " ResourceNames:\(resourceNames.map { "\"\($0)\"" })" }
        return text + " Verbs:\(verbs.map { "\"\($0)\"" })}"
    }
}
