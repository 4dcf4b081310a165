import KeelsonAPI

/// What an authorizer decides on: who asks to do what to which resource or path (Kubernetes' `authorizer.Attributes`).
public struct AuthorizationAttributes: Sendable, Equatable {
    public var user: UserInfo
    public var verb: String
    public var isResourceRequest: Bool
    public var namespace: String = ""
    public var apiGroup: String = ""
    public var apiVersion: String = ""
    public var resource: String = ""
    public var subresource: String = ""
    public var name: String = ""
    /// For non-resource requests: the URL path.
    public var path: String = ""

    public init(user: UserInfo, verb: String, isResourceRequest: Bool, namespace: String = "", apiGroup: String = "",
        apiVersion: String = "", resource: String = "", subresource: String = "", name: String = "", path: String = "")
    {
        self.user = user
        self.verb = verb
        self.isResourceRequest = isResourceRequest
        self.namespace = namespace
        self.apiGroup = apiGroup
        self.apiVersion = apiVersion
        self.resource = resource
        self.subresource = subresource
        self.name = name
        self.path = path
    }

    /// The attributes of an HTTP request, with kube-apiserver's verbs: list/watch/get by name and query, create,
    /// update, patch, delete, deletecollection; exec, attach and port-forward ask for `create` whatever the method,
    /// as WebSocket clients open them with GET.
    static func of(method: String, path: String, query: [String: String], resourcePath: ResourcePath?, user: UserInfo) -> AuthorizationAttributes {
        guard let resourcePath else {
            return AuthorizationAttributes(user: user, verb: method.lowercased(), isResourceRequest: false, path: path)
        }
        let watch = query["watch"] == "true" || query["watch"] == "1"
        let subresource = resourcePath.subresource ?? ""
        var verb: String
        switch method {
        case "GET", "HEAD":
            verb = watch ? "watch" : (resourcePath.name == nil ? "list" : "get")
        case "POST": verb = "create"
        case "PUT": verb = "update"
        case "PATCH": verb = "patch"
        case "DELETE": verb = resourcePath.name == nil ? "deletecollection" : "delete"
        default: verb = method.lowercased()
        }
        if resourcePath.resource == "pods" && ["exec", "attach", "portforward"].contains(subresource) { verb = "create" }
        var name = resourcePath.name ?? ""
        // A watch of one object is a list with a name field selector; RBAC sees the name, as in Kubernetes.
        if name.isEmpty, verb == "list" || verb == "watch",
            let selector = query["fieldSelector"], selector.hasPrefix("metadata.name="), !selector.contains(",")
        {
            name = String(selector.dropFirst("metadata.name=".count))
        }
        return AuthorizationAttributes(user: user, verb: verb, isResourceRequest: true, namespace: resourcePath.namespace ?? "",
            apiGroup: resourcePath.group, apiVersion: resourcePath.version, resource: resourcePath.resource,
            subresource: subresource, name: name, path: path)
    }

    /// kube-apiserver's wording for a refusal: `User "u" cannot list resource "pods" in API group "" in the namespace "ns"`.
    var refusal: String {
        guard isResourceRequest else { return "User \"\(user.name)\" cannot \(verb) path \"\(path)\"" }
        let resourceText = subresource.isEmpty ? resource : "\(resource)/\(subresource)"
        var text = "User \"\(user.name)\" cannot \(verb) resource \"\(resourceText)\" in API group \"\(apiGroup)\""
        text += namespace.isEmpty ? " at the cluster scope" : " in the namespace \"\(namespace)\""
        return text
    }

    func forbidden(reason: String = "") -> Status {
        let prefix: String
        if isResourceRequest {
            let group = apiGroup.isEmpty ? resource : "\(resource).\(apiGroup)"
            prefix = name.isEmpty ? "\(group) is forbidden" : "\(group) \"\(name)\" is forbidden"
        } else {
            prefix = "forbidden"
        }
        var status = Status(code: 403, reason: .forbidden, message: "\(prefix): \(refusal)" + (reason.isEmpty ? "" : ": \(reason)"))
        if isResourceRequest {
            status.details = Status.Details(name: name.isEmpty ? nil : name, group: apiGroup, kind: resource)
        }
        return status
    }
}
