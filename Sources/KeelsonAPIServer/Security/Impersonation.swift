import KeelsonAPI

/// The `Impersonate-*` headers (`kubectl --as`, `--as-group`, `--as-uid`): the request runs as another user when
/// the real one may `impersonate` that user, each group, the uid and each extra value, as in kube-apiserver.
enum Impersonation {
    struct Request: Sendable {
        var user: String?
        var uid: String?
        var groups: [String]
        var extra: [String: [String]]

        var isEmpty: Bool { user == nil && uid == nil && groups.isEmpty && extra.isEmpty }
    }

    static let extraPrefix = "impersonate-extra-"

    /// Reads the headers from (name, value) pairs; names compared case-insensitively.
    static func request(headers: [(name: String, value: String)]) -> Request {
        var request = Request(user: nil, uid: nil, groups: [], extra: [:])
        for (name, value) in headers {
            switch name.lowercased() {
            case "impersonate-user": request.user = value
            case "impersonate-uid": request.uid = value
            case "impersonate-group": request.groups.append(value)
            case let lowered where lowered.hasPrefix(extraPrefix):
                let key = String(lowered.dropFirst(extraPrefix.count)).removingPercentEncoding ?? String(lowered.dropFirst(extraPrefix.count))
                request.extra[key, default: []].append(value)
            default: break
            }
        }
        return request
    }

    /// The user the request acts as, after checking each impersonated attribute against `authorize`.
    static func impersonate(_ request: Request, as real: UserInfo, authorize: (AuthorizationAttributes) -> Bool) throws -> UserInfo {
        guard let name = request.user, !name.isEmpty else {
            throw Status.badRequest("requested \(request.groups.isEmpty ? "extra or uid" : "groups") without impersonating a user")
        }
        func check(_ attributes: AuthorizationAttributes, _ what: String) throws {
            guard authorize(attributes) else {
                var status = attributes.forbidden()
                status.message = "\(what) is forbidden: User \"\(real.name)\" cannot impersonate resource \"\(attributes.resource)\" in API group \"\(attributes.apiGroup)\""
                    + (attributes.namespace.isEmpty ? " at the cluster scope" : " in the namespace \"\(attributes.namespace)\"")
                throw status
            }
        }
        var user = UserInfo(name: name, uid: request.uid ?? "", groups: [], extra: request.extra)
        if let account = user.serviceAccount {
            try check(AuthorizationAttributes(user: real, verb: "impersonate", isResourceRequest: true, namespace: account.namespace,
                resource: "serviceaccounts", name: account.name), "serviceaccounts \"\(account.name)\"")
            if request.groups.isEmpty { user.groups = UserInfo.serviceAccountGroups(namespace: account.namespace) }
        } else {
            try check(AuthorizationAttributes(user: real, verb: "impersonate", isResourceRequest: true, resource: "users", name: name),
                "users \"\(name)\"")
        }
        for group in request.groups {
            try check(AuthorizationAttributes(user: real, verb: "impersonate", isResourceRequest: true, resource: "groups", name: group),
                "groups \"\(group)\"")
            if !user.groups.contains(group) { user.groups.append(group) }
        }
        if let uid = request.uid {
            try check(AuthorizationAttributes(user: real, verb: "impersonate", isResourceRequest: true, apiGroup: "authentication.k8s.io",
                resource: "uids", name: uid), "uids.authentication.k8s.io \"\(uid)\"")
        }
        for (key, values) in request.extra {
            for value in values {
                try check(AuthorizationAttributes(user: real, verb: "impersonate", isResourceRequest: true, apiGroup: "authentication.k8s.io",
                    resource: "userextras", subresource: key, name: value), "userextras.authentication.k8s.io \"\(value)\"")
            }
        }
        // Impersonated users are authenticated, except the anonymous user.
        let implicit = name == UserInfo.anonymous.name ? UserInfo.unauthenticated : UserInfo.authenticated
        if !user.groups.contains(implicit) { user.groups.append(implicit) }
        return user
    }
}
