import Foundation
import Hummingbird
import KeelsonAPI

extension RESTHandler {
    /// `serviceaccounts/NAME/token` (what `kubectl create token` calls): a TokenRequest answered with a token for the
    /// service account, for the requested audiences (the API server's by default) and lifetime (an hour by default,
    /// at least ten minutes, at most a day… as the issuer caps it), optionally bound to a pod, which must exist.
    func requestToken(request: APIRequest, namespace: String, name: String, definition: ResourceDefinition) async throws -> Response {
        guard let tokenIssuer else {
            throw Status(code: 404, reason: .notFound, message: "the server could not find the requested resource (service account tokens are not enabled)")
        }
        var review = try ObjectCodec.decodeBody(request.body, contentType: request.contentType)
        guard case .object = review else { throw Status.badRequest("the body of the request must be a JSON object") }
        let account = try await get(definition, namespace: namespace, name: name)
        let spec = review["spec"] ?? [:]
        let audiences = spec["audiences"]?.arrayValue?.compactMap(\.stringValue).filter { !$0.isEmpty } ?? []
        let requested = spec["expirationSeconds"]?.intValue ?? 3600
        guard requested >= 600 else {
            throw Status.invalid(kind: "TokenRequest", group: "authentication.k8s.io", name: name,
                [FieldError(.invalid, field: "spec.expirationSeconds", detail: "may not specify a duration less than 10 minutes",
                    badValue: String(requested))])
        }
        let lifetime = min(requested, Self.maximumTokenSeconds)
        var pod: (name: String, uid: String)?
        if let reference = spec["boundObjectRef"], case .object = reference {
            guard reference["kind"]?.stringValue == "Pod", let podName = reference["name"]?.stringValue, !podName.isEmpty else {
                throw Status.invalid(kind: "TokenRequest", group: "authentication.k8s.io", name: name,
                    [FieldError(.notSupported, field: "spec.boundObjectRef.kind", detail: "supported values: \"Pod\"")])
            }
            guard let pods = registry.lookup(group: "", version: "v1", resource: "pods") else { throw Status.internalError("no pods resource") }
            let bound = try await get(pods, namespace: namespace, name: podName)
            let uid = bound.uid ?? ""
            if let wanted = reference["uid"]?.stringValue, !wanted.isEmpty, wanted != uid {
                throw Status.conflict("pods", group: "", name: podName, "the UID in the bound object reference (\(wanted)) does not match the object's (\(uid))")
            }
            let accountName = bound.value(at: ["spec", "serviceAccountName"])?.stringValue ?? "default"
            guard accountName == name else {
                throw Status.badRequest("cannot bind token for serviceaccount \"\(name)\" to pod running with different serviceaccount name")
            }
            // NodeRestriction: a kubelet asks only for tokens bound to its own pods.
            if let node = NodeRestriction.node(RequestUser.current), bound.value(at: ["spec", "nodeName"])?.stringValue != node {
                throw NodeRestriction.forbidden(definition, name, "node requested token bound to a pod scheduled on a different node")
            }
            pod = (podName, uid)
        }
        if pod == nil, NodeRestriction.node(RequestUser.current) != nil {
            throw NodeRestriction.forbidden(definition, name, "node requested token not bound to a pod")
        }
        let issued = try tokenIssuer.issue(namespace: namespace, name: name, uid: account.uid ?? "", audiences: audiences.isEmpty ? nil : audiences,
            lifetime: TimeInterval(lifetime), pod: pod)
        review["apiVersion"] = "authentication.k8s.io/v1"
        review["kind"] = "TokenRequest"
        review["metadata"] = ["name": .string(name), "namespace": .string(namespace), "creationTimestamp": .string(Timestamp.format(Date()))]
        var answered = spec
        if answered["boundObjectRef"] == .null { answered["boundObjectRef"] = nil }
        answered["audiences"] = .array((audiences.isEmpty ? tokenIssuer.audiences : audiences).map(JSONValue.string))
        answered["expirationSeconds"] = .integer(lifetime)
        review["spec"] = answered
        review["status"] = ["token": .string(issued.token), "expirationTimestamp": .string(Timestamp.format(issued.expires))]
        return Self.json(review, status: .created)
    }

    /// The longest token the server hands out (kube-apiserver's `--service-account-max-token-expiration` is unset by
    /// default; a day keeps a leaked token's harm short).
    static let maximumTokenSeconds: Int64 = 86400
}
