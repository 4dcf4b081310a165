import Foundation
import Hummingbird
import KeelsonAPI

/// The access questions the API answers without storing anything, as kube-apiserver does:
/// SelfSubjectAccessReview and SubjectAccessReview (`kubectl auth can-i`, `--as`), LocalSubjectAccessReview,
/// SelfSubjectRulesReview (`kubectl auth can-i --list`) and SelfSubjectReview (`kubectl auth whoami`).
struct AccessReviewAPI: Sendable {
    let authorizer: RBACAuthorizer
    /// Every authorizer's decision, in order.
    let decide: @Sendable (AuthorizationAttributes) -> RBACAuthorizer.Decision

    static let groups: Set<String> = ["authorization.k8s.io", "authentication.k8s.io"]

    func handle(_ request: APIRequest, path: ResourcePath, definition: ResourceDefinition, user: UserInfo) throws -> Response {
        guard request.method == "POST", path.name == nil, path.subresource == nil else {
            throw Status.methodNotAllowed("the server does not allow this method on the requested resource")
        }
        var review = try ObjectCodec.decodeBody(request.body, contentType: request.contentType)
        guard case .object = review else { throw Status.badRequest("the body of the request must be a JSON object") }
        review["apiVersion"] = .string(definition.apiVersion)
        review["kind"] = .string(definition.kind)
        if review["metadata"] == nil { review["metadata"] = [:] }
        let spec = review["spec"] ?? [:]
        switch definition.kind {
        case "SelfSubjectReview":
            var userInfo: JSONValue = ["username": .string(user.name), "groups": .array(user.groups.map(JSONValue.string))]
            if !user.uid.isEmpty { userInfo["uid"] = .string(user.uid) }
            if !user.extra.isEmpty { userInfo["extra"] = .object(user.extra.mapValues { .array($0.map(JSONValue.string)) }) }
            review["status"] = ["userInfo": userInfo]
        case "SelfSubjectRulesReview":
            guard let namespace = spec["namespace"]?.stringValue, !namespace.isEmpty else {
                throw Status.invalid(kind: definition.kind, group: definition.group, name: "",
                    [FieldError(.required, field: "spec.namespace", detail: "")])
            }
            let rules = authorizer.rules(for: user, namespace: namespace)
            review["status"] = [
                "resourceRules": .array(rules.filter { $0.nonResourceURLs.isEmpty }.map { rule in
                    var json = rule.json
                    if json["apiGroups"] == nil { json["apiGroups"] = [] }
                    if json["resources"] == nil { json["resources"] = [] }
                    return json
                }),
                "nonResourceRules": .array(rules.filter { !$0.nonResourceURLs.isEmpty }.map {
                    ["verbs": .array($0.verbs.map(JSONValue.string)), "nonResourceURLs": .array($0.nonResourceURLs.map(JSONValue.string))]
                }),
                "incomplete": false,
            ]
        default:
            var subject = user
            if definition.kind != "SelfSubjectAccessReview" {
                let name = spec["user"]?.stringValue ?? ""
                let groups = spec["groups"]?.arrayValue?.compactMap(\.stringValue) ?? []
                if name.isEmpty && groups.isEmpty {
                    throw Status.invalid(kind: definition.kind, group: definition.group, name: "",
                        [FieldError(.invalid, field: "spec.user", detail: "at least one of user or group must be specified")])
                }
                var extra: [String: [String]] = [:]
                for (key, values) in spec["extra"]?.objectValue ?? [:] { extra[key] = values.arrayValue?.compactMap(\.stringValue) ?? [] }
                subject = UserInfo(name: name, uid: spec["uid"]?.stringValue ?? "", groups: groups, extra: extra)
            }
            var attributes = try Self.attributes(spec, subject: subject, kind: definition.kind, group: definition.group)
            if definition.kind == "LocalSubjectAccessReview" {
                guard attributes.isResourceRequest, attributes.namespace == (path.namespace ?? "") else {
                    throw Status.invalid(kind: definition.kind, group: definition.group, name: "", [FieldError(.invalid,
                        field: "spec.resourceAttributes.namespace", detail: "must match the namespace of the request")])
                }
                attributes.namespace = path.namespace ?? ""
            }
            switch decide(attributes) {
            case .allow(let reason):
                review["status"] = ["allowed": true, "reason": .string(reason)]
            case .noOpinion:
                review["status"] = ["allowed": false]
            }
        }
        return RESTHandler.json(review, status: .created)
    }

    static func attributes(_ spec: JSONValue, subject: UserInfo, kind: String, group: String) throws -> AuthorizationAttributes {
        if let resource = spec["resourceAttributes"], case .object = resource {
            func field(_ key: String) -> String { resource[key]?.stringValue ?? "" }
            return AuthorizationAttributes(user: subject, verb: field("verb"), isResourceRequest: true, namespace: field("namespace"),
                apiGroup: field("group"), apiVersion: field("version"), resource: field("resource"), subresource: field("subresource"),
                name: field("name"))
        }
        if let nonResource = spec["nonResourceAttributes"], case .object = nonResource {
            return AuthorizationAttributes(user: subject, verb: nonResource["verb"]?.stringValue ?? "", isResourceRequest: false,
                path: nonResource["path"]?.stringValue ?? "")
        }
        throw Status.invalid(kind: kind, group: group, name: "", [FieldError(.required, field: "spec.resourceAttributes",
            detail: "exactly one of nonResourceAttributes or resourceAttributes must be specified")])
    }
}
