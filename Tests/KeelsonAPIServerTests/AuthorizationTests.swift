import Foundation
import KeelsonAPI
import Testing

@testable import KeelsonAPIServer

/// The API server with authentication on, driven in process with bearer tokens: an admin in `system:masters`,
/// two ordinary users, and the join token.
enum SecuredServer {
    static let admin = [("Authorization", "Bearer admin-token")]
    static let bob = [("Authorization", "Bearer bob-token")]
    static let joinToken = JoinToken(caHash: nil, secret: "join-secret")

    static func run(configure: (inout APIServerConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (TestServer.Client) async throws -> Void) async throws
    {
        let security = try security()
        try await TestServer.run(configure: {
            $0.security = security
            configure(&$0)
        }) { client, _ in try await body(client) }
    }

    static func security() throws -> APIServerSecurity {
        let ca = try CertificateAuthority.create(commonName: "test-ca")
        let serving = try ca.issueWithKey(commonName: "kube-apiserver", usage: .server(dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"]))
        let tokens = StaticTokenAuthenticator(users: [
            "admin-token": UserInfo(name: "admin", groups: [UserInfo.masters]),
            "bob-token": UserInfo(name: "bob", uid: "b-1"),
            "carol-token": UserInfo(name: "carol", groups: ["devs"]),
            "node-1-token": UserInfo(name: "system:node:node-1", groups: ["system:nodes"]),
        ])
        var security = APIServerSecurity(serving: serving, clientCA: .init(der: try ca.certificate.derBytes), serverCAPEM: "",
            authenticator: RequestAuthenticator(clientCA: ca.certificate, tokenAuthenticators: [JoinTokenAuthenticator(token: joinToken), tokens]))
        security.serviceAccountTokens = ServiceAccountTokenIssuer(key: .init())
        return security
    }

    /// Retries until RBAC has seen the latest policy change (it follows the store by a watch).
    static func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw Status.internalError("not within 10 s: \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func binding(_ name: String, namespace: String? = nil, role: String, roleKind: String = "ClusterRole", user: String) -> JSONValue {
        var metadata: JSONValue = ["name": .string(name)]
        if let namespace { metadata["namespace"] = .string(namespace) }
        return [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": namespace == nil ? "ClusterRoleBinding" : "RoleBinding", "metadata": metadata,
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": .string(roleKind), "name": .string(role)],
            "subjects": [["apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": .string(user)]],
        ]
    }
}

@Suite("Authentication and authorization")
struct AuthorizationTests {
    @Test("no credentials: 401 everywhere but health and version; a wrong token is 401 even there")
    func anonymous() async throws {
        try await SecuredServer.run { client in
            let refused = try await client.request(.get, "/api/v1/namespaces")
            #expect(refused.status == 401 && refused.body["reason"] == "Unauthorized" && refused.body["kind"] == "Status")
            for path in ["/healthz", "/livez", "/readyz", "/version"] {
                #expect(try await client.request(.get, path).status == 200, "\(path) is public")
            }
            #expect(try await client.request(.get, "/metrics").status == 401)
            #expect(try await client.request(.get, "/healthz", headers: [("Authorization", "Bearer wrong")]).status == 401)
            #expect(try await client.request(.get, "/api", headers: [("Authorization", "Basic Ym9iOmJvYg==")]).status == 401,
                "another scheme is no credential at all")
            #expect(try await client.request(.get, "/api", headers: SecuredServer.admin).status == 200)
        }
    }

    @Test("RBAC: a user may do nothing until bound; a RoleBinding grants its namespace only, and only the role's verbs")
    func roleBindings() async throws {
        try await SecuredServer.run { client in
            let denied = try await client.request(.get, "/api/v1/namespaces/default/pods", headers: SecuredServer.bob)
            #expect(denied.status == 403 && denied.body["reason"] == "Forbidden")
            #expect(denied.body["message"]?.stringValue
                == "pods is forbidden: User \"bob\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"")
            #expect(try await client.request(.get, "/api", headers: SecuredServer.bob).status == 200, "discovery is for every authenticated user")
            let created = try await client.json(.post, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
                SecuredServer.binding("bob-view", namespace: "default", role: "view", user: "bob"), headers: SecuredServer.admin)
            #expect(created.status == 201)
            try await SecuredServer.eventually("the binding applies") {
                try await client.request(.get, "/api/v1/namespaces/default/pods", headers: SecuredServer.bob).status == 200
            }
            #expect(try await client.request(.get, "/api/v1/namespaces/kube-system/pods", headers: SecuredServer.bob).status == 403)
            #expect(try await client.request(.get, "/api/v1/pods", headers: SecuredServer.bob).status == 403, "all namespaces is cluster scope")
            #expect(try await client.request(.get, "/api/v1/namespaces/default/secrets", headers: SecuredServer.bob).status == 403,
                "view does not read secrets")
            let write = try await client.json(.post, "/api/v1/namespaces/default/configmaps", ["metadata": ["name": "x"]], headers: SecuredServer.bob)
            #expect(write.status == 403)
            // A role limited to one name.
            let role: JSONValue = ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": ["name": "one", "namespace": "default"],
                "rules": [["verbs": ["get", "update"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"]]]]
            #expect(try await client.json(.post, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", role, headers: SecuredServer.admin).status == 201)
            #expect(try await client.json(.post, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
                SecuredServer.binding("bob-one", namespace: "default", role: "one", roleKind: "Role", user: "bob"), headers: SecuredServer.admin).status == 201)
            #expect(try await client.json(.post, "/api/v1/namespaces/default/configmaps", ["metadata": ["name": "settings"]],
                headers: SecuredServer.admin).status == 201)
            try await SecuredServer.eventually("the named rule applies") {
                try await client.request(.get, "/api/v1/namespaces/default/configmaps/settings", headers: SecuredServer.bob).status == 200
            }
            #expect(try await client.request(.delete, "/api/v1/namespaces/default/configmaps/settings", headers: SecuredServer.bob).status == 403)
        }
    }

    @Test("escalation: a user cannot create a role or binding granting more than they hold, unless allowed to escalate or bind")
    func escalation() async throws {
        try await SecuredServer.run { client in
            // bob administers namespace default.
            #expect(try await client.json(.post, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
                SecuredServer.binding("bob-admin", namespace: "default", role: "admin", user: "bob"), headers: SecuredServer.admin).status == 201)
            try await SecuredServer.eventually("bob is admin of default") {
                try await client.request(.get, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", headers: SecuredServer.bob).status == 200
            }
            let lower = try await client.json(.post, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
                SecuredServer.binding("carol-view", namespace: "default", role: "view", user: "carol"), headers: SecuredServer.bob)
            #expect(lower.status == 201, "view is within what bob holds in default: \(lower.body)")
            let higher = try await client.json(.post, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
                SecuredServer.binding("carol-all", namespace: "default", role: "cluster-admin", user: "carol"), headers: SecuredServer.bob)
            #expect(higher.status == 403)
            #expect(higher.body["message"]?.stringValue?.contains("is attempting to grant RBAC permissions not currently held") == true,
                "\(higher.body)")
            let nodesRole: JSONValue = ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": ["name": "nodes", "namespace": "default"],
                "rules": [["verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]], ["verbs": ["escalate"], "apiGroups": ["*"], "resources": ["*"]]]]
            let escalating = try await client.json(.post, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", nodesRole, headers: SecuredServer.bob)
            #expect(escalating.status == 403, "admin reads secrets but does not hold escalate")
            // Allowed to bind cluster-admin by name: then the binding is allowed without holding it.
            let binder: JSONValue = ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": ["name": "bind-cluster-admin"],
                "rules": [["verbs": ["bind"], "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "resourceNames": ["cluster-admin"]]]]
            #expect(try await client.json(.post, "/apis/rbac.authorization.k8s.io/v1/clusterroles", binder, headers: SecuredServer.admin).status == 201)
            #expect(try await client.json(.post, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                SecuredServer.binding("bob-binds", role: "bind-cluster-admin", user: "bob"), headers: SecuredServer.admin).status == 201)
            try await SecuredServer.eventually("bob may bind cluster-admin") {
                try await client.json(.post, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
                    SecuredServer.binding("carol-all", namespace: "default", role: "cluster-admin", user: "carol"), headers: SecuredServer.bob).status == 201
            }
        }
    }

    @Test("impersonation needs the impersonate verb; an impersonated request is decided as that user; groups need a user")
    func impersonation() async throws {
        try await SecuredServer.run { client in
            let asAlice = SecuredServer.bob + [("Impersonate-User", "alice")]
            let refused = try await client.request(.get, "/api/v1/namespaces", headers: asAlice)
            #expect(refused.status == 403)
            #expect(refused.body["message"]?.stringValue?.contains("User \"bob\" cannot impersonate resource \"users\"") == true, "\(refused.body)")
            let adminAsBob = SecuredServer.admin + [("Impersonate-User", "bob")]
            let asBob = try await client.request(.get, "/api/v1/namespaces", headers: adminAsBob)
            #expect(asBob.status == 403 && asBob.body["message"]?.stringValue?.contains("User \"bob\"") == true)
            let asBobInMasters = try await client.request(.get, "/api/v1/namespaces", headers: adminAsBob + [("Impersonate-Group", "system:masters")])
            #expect(asBobInMasters.status == 200)
            #expect(try await client.request(.get, "/api/v1/namespaces", headers: SecuredServer.admin + [("Impersonate-Group", "devs")]).status == 400)
            let whoami = try await client.json(.post, "/apis/authentication.k8s.io/v1/selfsubjectreviews", ["apiVersion": "authentication.k8s.io/v1",
                "kind": "SelfSubjectReview"], headers: SecuredServer.admin + [("Impersonate-User", "system:serviceaccount:default:robot")])
            #expect(whoami.body["status"]?["userInfo"]?["username"] == "system:serviceaccount:default:robot")
            #expect(whoami.body["status"]?["userInfo"]?["groups"]
                == ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"])
        }
    }

    @Test("access reviews answer for oneself, for another user and per namespace; rules reviews list what applies")
    func reviews() async throws {
        try await SecuredServer.run { client in
            func selfReview(_ verb: String, _ resource: String, namespace: String = "", headers: [(String, String)]) async throws -> JSONValue? {
                try await client.json(.post, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", ["kind": "SelfSubjectAccessReview",
                    "apiVersion": "authorization.k8s.io/v1",
                    "spec": ["resourceAttributes": ["verb": .string(verb), "resource": .string(resource), "namespace": .string(namespace)]]],
                    headers: headers).body["status"]?["allowed"]
            }
            #expect(try await selfReview("delete", "nodes", headers: SecuredServer.admin) == true)
            #expect(try await selfReview("list", "pods", namespace: "default", headers: SecuredServer.bob) == false)
            let review: JSONValue = ["kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "spec": ["user": "bob", "nonResourceAttributes": ["path": "/version", "verb": "get"]]]
            let answer = try await client.json(.post, "/apis/authorization.k8s.io/v1/subjectaccessreviews", review, headers: SecuredServer.admin)
            #expect(answer.status == 201 && answer.body["status"]?["allowed"] == false, "a bare user is in no group, not even authenticated")
            #expect(try await client.json(.post, "/apis/authorization.k8s.io/v1/subjectaccessreviews", review, headers: SecuredServer.bob).status == 403,
                "asking about others needs permission")
            let local: JSONValue = ["kind": "LocalSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "spec": ["user": "bob", "resourceAttributes": ["verb": "get", "resource": "pods", "namespace": "other"]]]
            #expect(try await client.json(.post, "/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews", local,
                headers: SecuredServer.admin).status == 422, "the namespace must be the request's")
            let rules = try await client.json(.post, "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", ["kind": "SelfSubjectRulesReview",
                "apiVersion": "authorization.k8s.io/v1", "spec": ["namespace": "default"]], headers: SecuredServer.bob)
            let resources = (rules.body["status"]?["resourceRules"]?.arrayValue ?? []).flatMap { $0["resources"]?.arrayValue ?? [] }
            #expect(resources.contains("selfsubjectaccessreviews") && !resources.contains("pods"), "\(resources)")
            #expect((rules.body["status"]?["nonResourceRules"]?.arrayValue ?? []).contains { $0["nonResourceURLs"]?.arrayValue?.contains("/api") == true })
        }
    }

    @Test("a certificate request records who made it, whatever the client wrote; approval changes only the conditions")
    func certificateRequests() async throws {
        try await SecuredServer.run { client in
            let pem = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"
            let request: JSONValue = ["apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": ["name": "n1"],
                "spec": ["request": .string(Data(pem.utf8).base64EncodedString()), "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                         "usages": ["client auth"], "username": "system:admin", "groups": ["system:masters"]]]
            let join = [("Authorization", "Bearer join-secret")]
            let created = try await client.json(.post, "/apis/certificates.k8s.io/v1/certificatesigningrequests", request, headers: join)
            #expect(created.status == 201, "\(created.body)")
            #expect(created.body["spec"]?["username"] == "system:bootstrap:node-join")
            #expect(created.body["spec"]?["groups"] == ["system:bootstrappers", "system:authenticated"])
            #expect(try await client.request(.get, "/api/v1/namespaces", headers: join).status == 403, "the join token can do nothing else")
            var approved = created.body
            approved["status"] = ["conditions": [["type": "Approved", "status": "True", "reason": "Test"]], "certificate": "Zm9yZ2Vk"]
            approved.setValue("example.com/other", at: ["spec", "signerName"])
            let answer = try await client.json(.put, "/apis/certificates.k8s.io/v1/certificatesigningrequests/n1/approval", approved,
                headers: SecuredServer.admin)
            #expect(answer.status == 200)
            let condition = answer.body["status"]?["conditions"]?.arrayValue?.first
            #expect(condition?["type"] == "Approved" && condition?["lastUpdateTime"] != nil)
            #expect(answer.body["status"]?["certificate"] == nil && answer.body["spec"]?["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet")
            let bad = try await client.json(.post, "/apis/certificates.k8s.io/v1/certificatesigningrequests", ["apiVersion": "certificates.k8s.io/v1",
                "kind": "CertificateSigningRequest", "metadata": ["name": "bad"], "spec": ["request": "bm90IGEgcmVxdWVzdA==", "signerName": "x/y",
                "usages": []]], headers: SecuredServer.admin)
            #expect(bad.status == 422 && bad.body["details"]?["causes"]?.arrayValue?.count == 2, "\(bad.body)")
        }
    }

    @Test("service account tokens: a TokenRequest gives a token that authenticates as the account until it is deleted; bound tokens die with their pod")
    func serviceAccountTokens() async throws {
        try await SecuredServer.run { client in
            func requestToken(_ body: JSONValue, account: String = "robot") async throws -> TestServer.Reply {
                try await client.json(.post, "/api/v1/namespaces/default/serviceaccounts/\(account)/token", body, headers: SecuredServer.admin)
            }
            #expect(try await client.json(.post, "/api/v1/namespaces/default/serviceaccounts", ["metadata": ["name": "robot"]],
                headers: SecuredServer.admin).status == 201)
            let answer = try await requestToken(["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": [:]])
            #expect(answer.status == 201 && answer.body["spec"]?["expirationSeconds"] == 3600
                && answer.body["spec"]?["audiences"] == ["https://kubernetes.default.svc.cluster.local"], "\(answer.body)")
            let token = answer.body["status"]?["token"]?.stringValue ?? ""
            let bearer = [("Authorization", "Bearer \(token)")]
            let whoami = try await client.json(.post, "/apis/authentication.k8s.io/v1/selfsubjectreviews", ["kind": "SelfSubjectReview",
                "apiVersion": "authentication.k8s.io/v1"], headers: bearer)
            #expect(whoami.body["status"]?["userInfo"]?["username"] == "system:serviceaccount:default:robot")
            #expect(whoami.body["status"]?["userInfo"]?["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"])
            #expect(try await client.request(.get, "/api/v1/namespaces/default/pods", headers: bearer).status == 403, "RBAC decides as for anyone")
            // Another audience is not the API server's.
            let foreign = try await requestToken(["spec": ["audiences": ["vault"]]])
            #expect(try await client.request(.get, "/api", headers: [("Authorization", "Bearer \(foreign.body["status"]?["token"]?.stringValue ?? "")")]).status == 401)
            #expect(try await requestToken(["spec": ["expirationSeconds": 60]]).status == 422)
            #expect(try await requestToken(["spec": [:]], account: "nobody").status == 404)
            // Bound to a pod: valid while the pod lives.
            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods", ["metadata": ["name": "p"],
                "spec": ["serviceAccountName": "robot", "containers": [["name": "c", "image": "busybox"]]]], headers: SecuredServer.admin).status == 201)
            let bound = try await requestToken(["spec": ["boundObjectRef": ["kind": "Pod", "apiVersion": "v1", "name": "p"]]])
            let boundBearer = [("Authorization", "Bearer \(bound.body["status"]?["token"]?.stringValue ?? "")")]
            #expect(try await client.request(.get, "/api", headers: boundBearer).status == 200)
            #expect(try await client.request(.delete, "/api/v1/namespaces/default/pods/p?gracePeriodSeconds=0", headers: SecuredServer.admin).status == 200)
            #expect(try await client.request(.get, "/api", headers: boundBearer).status == 401, "the pod is gone")
            #expect(try await client.request(.get, "/api", headers: bearer).status == 200)
            #expect(try await client.request(.delete, "/api/v1/namespaces/default/serviceaccounts/robot", headers: SecuredServer.admin).status == 200)
            #expect(try await client.request(.get, "/api", headers: bearer).status == 401, "the account is gone")
        }
    }

    @Test("ServiceAccount admission: pods get the default account and its token volume in every container, unless they or the account opt out")
    func serviceAccountAdmission() async throws {
        try await SecuredServer.run { client in
            func create(_ name: String, _ spec: JSONValue, annotations: JSONValue? = nil) async throws -> JSONValue {
                var metadata: JSONValue = ["name": .string(name)]
                if let annotations { metadata["annotations"] = annotations }
                let reply = try await client.json(.post, "/api/v1/namespaces/default/pods", ["metadata": metadata, "spec": spec], headers: SecuredServer.admin)
                #expect(reply.status == 201, "\(reply.body)")
                return reply.body
            }
            let containers: JSONValue = [["name": "a", "image": "x"], ["name": "b", "image": "x",
                "volumeMounts": [["name": "own", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"]]]]
            let pod = try await create("plain", ["containers": containers, "initContainers": [["name": "i", "image": "x"]]])
            #expect(pod["spec"]?["serviceAccountName"] == "default")
            let volume = try #require(pod["spec"]?["volumes"]?.arrayValue?.first)
            let volumeName = try #require(volume["name"]?.stringValue)
            #expect(volumeName.hasPrefix("kube-api-access-") && volumeName.count == "kube-api-access-".count + 5)
            let sources = volume["projected"]?["sources"]?.arrayValue ?? []
            #expect(sources.first?["serviceAccountToken"]?["expirationSeconds"] == 3607 && sources.first?["serviceAccountToken"]?["path"] == "token")
            #expect(sources.dropFirst().first?["configMap"]?["name"] == "kube-root-ca.crt")
            let mounts = (pod["spec"]?["containers"]?.arrayValue ?? []).map { ($0["volumeMounts"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue } }
            #expect(mounts == [[volumeName], ["own"]], "a container that mounts something there already keeps its own")
            #expect(pod["spec"]?["initContainers"]?.arrayValue?.first?["volumeMounts"]?.arrayValue?.first?["readOnly"] == true)
            let optedOut = try await create("opted-out", ["automountServiceAccountToken": false, "containers": [["name": "a", "image": "x"]]])
            #expect(optedOut["spec"]?["volumes"] == nil)
            let mirror = try await create("mirror", ["containers": [["name": "a", "image": "x"]], "serviceAccountName": ""],
                annotations: ["kubernetes.io/config.mirror": "hash"])
            #expect(mirror["spec"]?["volumes"] == nil)
            #expect(try await client.json(.post, "/api/v1/namespaces/default/serviceaccounts", ["metadata": ["name": "quiet"],
                "automountServiceAccountToken": false], headers: SecuredServer.admin).status == 201)
            let quiet = try await create("quiet", ["serviceAccountName": "quiet", "containers": [["name": "a", "image": "x"]]])
            #expect(quiet["spec"]?["volumes"] == nil, "the account opts out")
            let insists = try await create("insists", ["serviceAccountName": "quiet", "automountServiceAccountToken": true,
                "containers": [["name": "a", "image": "x"]]])
            #expect(insists["spec"]?["volumes"]?.arrayValue?.count == 1, "the pod's own choice wins")
        }
    }

    @Test("the Node authorizer: a kubelet reads the secrets, config maps, claims and tokens of its own pods only")
    func nodeAuthorizer() async throws {
        try await SecuredServer.run { client in
            let node = [("Authorization", "Bearer node-1-token")]
            for name in ["mine", "theirs", "env-secret"] {
                #expect(try await client.json(.post, "/api/v1/namespaces/default/secrets", ["metadata": ["name": .string(name)]],
                    headers: SecuredServer.admin).status == 201)
            }
            #expect(try await client.json(.post, "/api/v1/namespaces/default/configmaps", ["metadata": ["name": "settings"]],
                headers: SecuredServer.admin).status == 201)
            func pod(_ name: String, node: String, secret: String) -> JSONValue {
                ["metadata": ["name": .string(name)], "spec": ["nodeName": .string(node), "serviceAccountName": "default",
                    "volumes": [["name": "s", "secret": ["secretName": .string(secret)]], ["name": "c", "configMap": ["name": "settings"]]],
                    "containers": [["name": "c", "image": "x", "env": [["name": "E", "valueFrom": ["secretKeyRef": ["name": "env-secret", "key": "k"]]]]]]]]
            }
            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods", pod("here", node: "node-1", secret: "mine"), headers: SecuredServer.admin).status == 201)
            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods", pod("there", node: "node-2", secret: "theirs"), headers: SecuredServer.admin).status == 201)
            try await SecuredServer.eventually("the graph has the pod") {
                try await client.request(.get, "/api/v1/namespaces/default/secrets/mine", headers: node).status == 200
            }
            #expect(try await client.request(.get, "/api/v1/namespaces/default/secrets/env-secret", headers: node).status == 200)
            #expect(try await client.request(.get, "/api/v1/namespaces/default/configmaps/settings", headers: node).status == 200)
            let refused = try await client.request(.get, "/api/v1/namespaces/default/secrets/theirs", headers: node)
            #expect(refused.status == 403)
            #expect(refused.body["message"]?.stringValue?.contains("no relationship found between node 'node-1' and this object") == true, "\(refused.body)")
            #expect(try await client.request(.get, "/api/v1/namespaces/default/secrets", headers: node).status == 403, "no listing secrets")
            for account in ["default", "other"] {
                #expect(try await client.json(.post, "/api/v1/namespaces/default/serviceaccounts", ["metadata": ["name": .string(account)]],
                    headers: SecuredServer.admin).status == 201)
            }
            func boundTo(_ pod: String) -> JSONValue { ["spec": ["boundObjectRef": ["kind": "Pod", "apiVersion": "v1", "name": .string(pod)]]] }
            #expect(try await client.json(.post, "/api/v1/namespaces/default/serviceaccounts/default/token", boundTo("here"), headers: node).status == 201,
                "a token of its pod's account, bound to its pod")
            #expect(try await client.json(.post, "/api/v1/namespaces/default/serviceaccounts/default/token", boundTo("there"), headers: node).status == 403,
                "NodeRestriction: not bound to another node's pod")
            #expect(try await client.json(.post, "/api/v1/namespaces/default/serviceaccounts/default/token", ["spec": [:]], headers: node).status == 403,
                "nor unbound")
            #expect(try await client.json(.post, "/api/v1/namespaces/default/serviceaccounts/other/token", ["spec": [:]], headers: node).status == 403)
            #expect(try await client.request(.get, "/api/v1/namespaces/default/pods", headers: node).status == 200, "RBAC's system:node still applies")
            // A pod bound later is learnt at its binding; its status writes (not parsed again) leave the graph as it was.
            #expect(try await client.json(.post, "/api/v1/namespaces/default/secrets", ["metadata": ["name": "later-secret"]],
                headers: SecuredServer.admin).status == 201)
            var later = pod("later", node: "", secret: "later-secret")
            later.setValue(nil, at: ["spec", "nodeName"])
            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods", later, headers: SecuredServer.admin).status == 201)
            #expect(try await client.request(.get, "/api/v1/namespaces/default/secrets/later-secret", headers: node).status == 403)
            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods/later/binding",
                ["apiVersion": "v1", "kind": "Binding", "metadata": ["name": "later"], "target": ["kind": "Node", "name": "node-1"]],
                headers: SecuredServer.admin).status == 201)
            try await SecuredServer.eventually("the graph learns the binding") {
                try await client.request(.get, "/api/v1/namespaces/default/secrets/later-secret", headers: node).status == 200
            }
            #expect(try await client.json(.patch, "/api/v1/namespaces/default/pods/later/status", ["status": ["phase": "Running"]],
                contentType: "application/merge-patch+json", headers: node).status == 200)
            #expect(try await client.request(.get, "/api/v1/namespaces/default/secrets/later-secret", headers: node).status == 200)
            // The pod goes: so does the node's access.
            #expect(try await client.request(.delete, "/api/v1/namespaces/default/pods/here?gracePeriodSeconds=0", headers: SecuredServer.admin).status == 200)
            try await SecuredServer.eventually("the graph forgets the pod") {
                try await client.request(.get, "/api/v1/namespaces/default/secrets/mine", headers: node).status == 403
            }
        }
    }

    @Test("NodeRestriction: a kubelet changes only its own Node, Lease and pods, and creates only its mirror pods")
    func nodeRestriction() async throws {
        try await SecuredServer.run { client in
            let node = [("Authorization", "Bearer node-1-token")]
            func nodeObject(_ name: String) -> JSONValue { ["apiVersion": "v1", "kind": "Node", "metadata": ["name": .string(name)]] }
            #expect(try await client.json(.post, "/api/v1/nodes", nodeObject("node-1"), headers: node).status == 201)
            let other = try await client.json(.post, "/api/v1/nodes", nodeObject("node-2"), headers: node)
            #expect(other.status == 403 && other.body["message"]?.stringValue == "nodes \"node-2\" is forbidden: node \"node-1\" is not allowed to modify node \"node-2\"")
            #expect(try await client.json(.post, "/api/v1/nodes", nodeObject("node-2"), headers: SecuredServer.admin).status == 201)
            #expect(try await client.json(.patch, "/api/v1/nodes/node-2", ["metadata": ["labels": ["x": "y"]]], contentType: "application/merge-patch+json",
                headers: node).status == 403)
            let lease: JSONValue = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": ["name": "node-2"]]
            #expect(try await client.json(.post, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease, headers: node).status == 403)
            func pod(_ name: String, on nodeName: String, mirror: Bool) -> JSONValue {
                var object: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name)],
                    "spec": ["nodeName": .string(nodeName), "containers": [["name": "c", "image": "x"]]]]
                if mirror { object.setValue(["kubernetes.io/config.mirror": "hash"], at: ["metadata", "annotations"]) }
                return object
            }
            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods", pod("plain", on: "node-1", mirror: false), headers: node).status == 403)
            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods", pod("static-elsewhere", on: "node-2", mirror: true), headers: node).status == 403)
            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods", pod("static", on: "node-1", mirror: true), headers: node).status == 201)
            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods", pod("theirs", on: "node-2", mirror: false), headers: SecuredServer.admin).status == 201)
            let status: JSONValue = ["status": ["phase": "Running"]]
            #expect(try await client.json(.patch, "/api/v1/namespaces/default/pods/static/status", status, contentType: "application/merge-patch+json",
                headers: node).status == 200)
            #expect(try await client.json(.patch, "/api/v1/namespaces/default/pods/theirs/status", status, contentType: "application/merge-patch+json",
                headers: node).status == 403)
            #expect(try await client.json(.patch, "/api/v1/namespaces/default/pods/static", ["metadata": ["labels": ["a": "b"]]],
                contentType: "application/merge-patch+json", headers: node).status == 403, "only status")
            #expect(try await client.request(.delete, "/api/v1/namespaces/default/pods/theirs", headers: node).status == 403)
            #expect(try await client.request(.delete, "/api/v1/namespaces/default/pods/static?gracePeriodSeconds=0", headers: node).status == 200)
        }
    }

    @Test("NodeRestriction: a node sets only the kubelet's own labels in kubernetes.io, none in node-restriction.kubernetes.io, and no taints")
    func nodeLabelsAndTaints() async throws {
        try await SecuredServer.run { client in
            let node = [("Authorization", "Bearer node-1-token")]
            let grabbing: JSONValue = ["apiVersion": "v1", "kind": "Node", "metadata": ["name": "node-1", "labels": [
                "node-restriction.kubernetes.io/trusted": "yes", "node-role.kubernetes.io/control-plane": "true", "team": "a"]]]
            let refused = try await client.json(.post, "/api/v1/nodes", grabbing, headers: node)
            #expect(refused.status == 403 && refused.body["message"]?.stringValue == "nodes \"node-1\" is forbidden: node \"node-1\" is not allowed "
                + "to set the following labels: node-restriction.kubernetes.io/trusted, node-role.kubernetes.io/control-plane", "\(refused.body)")
            let modest: JSONValue = ["apiVersion": "v1", "kind": "Node", "metadata": ["name": "node-1", "labels": [
                "kubernetes.io/hostname": "node-1", "topology.kubernetes.io/zone": "z1", "node.kubernetes.io/pool": "p", "team": "a"]],
                "spec": ["taints": [["key": "dedicated", "value": "x", "effect": "NoSchedule"]]]]
            #expect(try await client.json(.post, "/api/v1/nodes", modest, headers: node).status == 201, "taints at registration are the kubelet's")

            func patch(_ body: JSONValue, as headers: [(String, String)] = node) async throws -> TestServer.Reply {
                try await client.json(.patch, "/api/v1/nodes/node-1", body, contentType: "application/merge-patch+json", headers: headers)
            }
            let relabel = try await patch(["metadata": ["labels": ["node-restriction.kubernetes.io/trusted": "yes", "team": "b"]]])
            #expect(relabel.status == 403 && relabel.body["message"]?.stringValue
                == "nodes \"node-1\" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/trusted")
            #expect(try await patch(["metadata": ["labels": ["team": "b", "kubelet.kubernetes.io/x": "1"]]]).status == 200)
            #expect(try await patch(["spec": ["taints": nil]]).body["message"]?.stringValue
                == "nodes \"node-1\" is forbidden: node \"node-1\" is not allowed to modify taints")
            // An administrator may; the node may then not take it back.
            #expect(try await patch(["metadata": ["labels": ["node-restriction.kubernetes.io/trusted": "yes"]]], as: SecuredServer.admin).status == 200)
            #expect(try await patch(["metadata": ["labels": ["node-restriction.kubernetes.io/trusted": nil]]]).status == 403)
            let status = try await client.json(.patch, "/api/v1/nodes/node-1/status", ["status": ["phase": "Running"]],
                contentType: "application/merge-patch+json", headers: node)
            #expect(status.status == 200, "the status subresource is not held to the label rule: \(status.body)")
        }
    }

    @Test("the labels a node may give itself")
    func nodeLabelRule() {
        for allowed in ["team", "example.com/x", "kubernetes.io/hostname", "topology.kubernetes.io/zone", "node.kubernetes.io/instance-type",
                        "node.kubernetes.io/anything", "kubelet.kubernetes.io/y", "sub.kubelet.kubernetes.io/z", "beta.kubernetes.io/os"] {
            #expect(NodeLabels.nodeMaySet(allowed), "\(allowed)")
        }
        for refused in ["node-role.kubernetes.io/master", "kubernetes.io/other", "x.k8s.io/y", "k8s.io/z",
                        "node-restriction.kubernetes.io/a", "sub.node-restriction.kubernetes.io/b"] {
            #expect(!NodeLabels.nodeMaySet(refused), "\(refused)")
        }
    }
}
