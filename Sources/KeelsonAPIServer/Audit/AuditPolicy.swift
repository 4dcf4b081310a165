import KeelsonAPI

/// What is recorded of a request, as audit.k8s.io/v1 names the levels.
public enum AuditLevel: String, Sendable, Comparable {
    case none = "None"
    case metadata = "Metadata"
    case request = "Request"
    case requestResponse = "RequestResponse"

    private var rank: Int {
        switch self {
        case .none: 0
        case .metadata: 1
        case .request: 2
        case .requestResponse: 3
        }
    }

    public static func < (a: AuditLevel, b: AuditLevel) -> Bool { a.rank < b.rank }
}

/// The stages at which an event is written.
public enum AuditStage: String, Sendable, CaseIterable {
    case requestReceived = "RequestReceived"
    case responseStarted = "ResponseStarted"
    case responseComplete = "ResponseComplete"
    case panic = "Panic"
}

/// An audit policy (audit.k8s.io/v1 `Policy`): the first rule that matches a request sets its level and the
/// stages left out; a request no rule matches is not recorded, as in kube-apiserver.
public struct AuditPolicy: Sendable, Equatable {
    public struct GroupResources: Sendable, Equatable {
        public var group: String
        /// Empty: every resource of the group. `pods/log` names a subresource, `*/status` one of any resource.
        public var resources: [String]
        public var resourceNames: [String]
    }

    public struct Rule: Sendable, Equatable {
        public var level: AuditLevel
        public var users: [String] = []
        public var userGroups: [String] = []
        public var verbs: [String] = []
        public var resources: [GroupResources] = []
        public var namespaces: [String] = []
        public var nonResourceURLs: [String] = []
        public var omitStages: Set<AuditStage> = []
    }

    public var rules: [Rule]
    public var omitStages: Set<AuditStage>

    public init(rules: [Rule], omitStages: Set<AuditStage> = []) {
        self.rules = rules
        self.omitStages = omitStages
    }

    /// Without a policy file: every request at Metadata (who did what to which object, and the answer), no bodies;
    /// RequestReceived left out, since ResponseComplete follows it for every request that is not a watch.
    public static let metadataForAll = AuditPolicy(rules: [Rule(level: .metadata)], omitStages: [.requestReceived])

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public init(document: JSONValue, source: String) throws {
        func invalid(_ message: String) -> Invalid { Invalid(description: "\(source): \(message)") }
        guard document["kind"]?.stringValue == "Policy" else { throw invalid("kind must be Policy (audit.k8s.io/v1)") }
        func stages(_ value: JSONValue?, _ field: String) throws -> Set<AuditStage> {
            try Set((value?.arrayValue ?? []).map { item in
                guard let stage = item.stringValue.flatMap(AuditStage.init(rawValue:)) else {
                    throw invalid("\(field): unknown stage \(item); use \(AuditStage.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return stage
            })
        }
        func strings(_ value: JSONValue?) -> [String] { value?.arrayValue?.compactMap(\.stringValue) ?? [] }
        var rules: [Rule] = []
        for (index, item) in (document["rules"]?.arrayValue ?? []).enumerated() {
            let field = "rules[\(index)]"
            guard let level = item["level"]?.stringValue.flatMap(AuditLevel.init(rawValue:)) else {
                throw invalid("\(field).level must be None, Metadata, Request or RequestResponse")
            }
            var rule = Rule(level: level)
            rule.users = strings(item["users"])
            rule.userGroups = strings(item["userGroups"])
            rule.verbs = strings(item["verbs"])
            rule.namespaces = strings(item["namespaces"])
            rule.nonResourceURLs = strings(item["nonResourceURLs"])
            rule.resources = (item["resources"]?.arrayValue ?? []).map {
                GroupResources(group: $0["group"]?.stringValue ?? "", resources: strings($0["resources"]), resourceNames: strings($0["resourceNames"]))
            }
            if !rule.nonResourceURLs.isEmpty && (!rule.resources.isEmpty || !rule.namespaces.isEmpty) {
                throw invalid("\(field): nonResourceURLs cannot be combined with resources or namespaces")
            }
            rule.omitStages = try stages(item["omitStages"], "\(field).omitStages")
            rules.append(rule)
        }
        self.init(rules: rules, omitStages: try stages(document["omitStages"], "omitStages"))
    }

    /// The level and the stages to leave out for a request.
    public func decide(_ attributes: AuthorizationAttributes) -> (level: AuditLevel, omitStages: Set<AuditStage>) {
        guard let rule = rules.first(where: { $0.matches(attributes) }) else { return (.none, []) }
        return (rule.level, omitStages.union(rule.omitStages))
    }
}

extension AuditPolicy.Rule {
    func matches(_ request: AuthorizationAttributes) -> Bool {
        if !users.isEmpty && !users.contains(request.user.name) { return false }
        if !userGroups.isEmpty && !request.user.groups.contains(where: userGroups.contains) { return false }
        if !verbs.isEmpty && !verbs.contains(request.verb) { return false }
        if request.isResourceRequest {
            if !nonResourceURLs.isEmpty { return false }
            // Namespaces: "" stands for cluster-scoped requests.
            if !namespaces.isEmpty && !namespaces.contains(request.namespace) { return false }
            if !resources.isEmpty && !resources.contains(where: { $0.matches(request) }) { return false }
            return true
        }
        if !resources.isEmpty || !namespaces.isEmpty { return false }
        if nonResourceURLs.isEmpty { return true }
        return nonResourceURLs.contains { url in
            url.hasSuffix("*") ? request.path.hasPrefix(url.dropLast()) : request.path == url
        }
    }
}

extension AuditPolicy.GroupResources {
    func matches(_ request: AuthorizationAttributes) -> Bool {
        guard group == request.apiGroup else { return false }
        if !resources.isEmpty {
            let full = request.subresource.isEmpty ? request.resource : "\(request.resource)/\(request.subresource)"
            let matched = resources.contains { pattern in
                if pattern == "*" || pattern == full { return true }
                // kube-apiserver's two wildcards: `pods/*` (the resource and all its subresources) and `*/scale`.
                if pattern == "\(request.resource)/*" { return true }
                if pattern.hasPrefix("*/") { return !request.subresource.isEmpty && String(pattern.dropFirst(2)) == request.subresource }
                return false
            }
            if !matched { return false }
        }
        return resourceNames.isEmpty || resourceNames.contains(request.name)
    }
}
