import Foundation
import KeelsonAPI
import Logging
import Testing

@testable import KeelsonAPIServer

@Suite("Audit log")
struct AuditTests {
    static func attributes(_ verb: String, user: String = "bob", groups: [String] = [], group: String = "", resource: String = "",
        subresource: String = "", namespace: String = "", name: String = "", path: String = "") -> AuthorizationAttributes
    {
        AuthorizationAttributes(user: UserInfo(name: user, groups: groups), verb: verb, isResourceRequest: !resource.isEmpty,
            namespace: namespace, apiGroup: group, apiVersion: "v1", resource: resource, subresource: subresource, name: name, path: path)
    }

    @Test("the first matching rule decides: users, groups, verbs, resources and subresources, names, namespaces, URLs")
    func policyMatching() throws {
        let document: JSONValue = [
            "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
            "rules": [
                ["level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"]],
                ["level": "None", "nonResourceURLs": ["/healthz*", "/version"]],
                ["level": "RequestResponse", "resources": [["group": "", "resources": ["pods/log", "*/scale"]]]],
                ["level": "Request", "resources": [["group": "apps", "resources": ["deployments"], "resourceNames": ["web"]]],
                 "omitStages": ["ResponseStarted"]],
                ["level": "Metadata", "resources": [["group": "", "resources": ["secrets", "configmaps/*"]]]],
                ["level": "Request", "userGroups": ["devs"], "namespaces": ["team"]],
                ["level": "Metadata", "namespaces": [""]],
            ],
        ]
        let policy = try AuditPolicy(document: document, source: "policy.yaml")
        func level(_ attributes: AuthorizationAttributes) -> AuditLevel { policy.decide(attributes).level }

        #expect(level(Self.attributes("watch", user: "system:kube-proxy", resource: "services")) == .none)
        #expect(level(Self.attributes("get", user: "system:kube-proxy", resource: "secrets", namespace: "a")) == .metadata)
        #expect(level(Self.attributes("get", path: "/healthz/ready")) == .none)
        #expect(level(Self.attributes("get", path: "/version")) == .none)
        #expect(level(Self.attributes("get", path: "/metrics")) == .none, "no rule matches: not recorded")
        #expect(level(Self.attributes("get", resource: "pods", subresource: "log", namespace: "a")) == .requestResponse)
        #expect(level(Self.attributes("get", resource: "pods", namespace: "a")) == .none, "pods/log does not cover pods")
        #expect(level(Self.attributes("update", group: "apps", resource: "deployments", subresource: "scale", namespace: "a"))
            == .none, "*/scale is for the core group of that rule only")
        #expect(level(Self.attributes("update", resource: "replicationcontrollers", subresource: "scale", namespace: "a")) == .requestResponse)
        #expect(level(Self.attributes("patch", group: "apps", resource: "deployments", namespace: "a", name: "web")) == .request)
        #expect(level(Self.attributes("patch", group: "apps", resource: "deployments", namespace: "a", name: "api")) == .none)
        #expect(level(Self.attributes("get", resource: "configmaps", namespace: "a")) == .metadata, "configmaps/* covers configmaps")
        #expect(level(Self.attributes("get", groups: ["devs"], resource: "services", namespace: "team")) == .request)
        #expect(level(Self.attributes("get", resource: "services", namespace: "team")) == .none)
        #expect(level(Self.attributes("list", resource: "nodes")) == .metadata, "namespaces [\"\"] is cluster-scoped")
        #expect(policy.decide(Self.attributes("patch", group: "apps", resource: "deployments", namespace: "a", name: "web")).omitStages
            == [.requestReceived, .responseStarted])
    }

    @Test("a policy that cannot be honoured is refused, naming the field")
    func invalidPolicies() {
        func refused(_ document: JSONValue, _ fragment: String) {
            do {
                _ = try AuditPolicy(document: document, source: "p.yaml")
                Issue.record("accepted \(document)")
            } catch {
                #expect("\(error)".contains(fragment), "\(error)")
            }
        }
        refused(["kind": "Other"], "kind must be Policy")
        refused(["kind": "Policy", "rules": [["level": "Everything"]]], "rules[0].level")
        refused(["kind": "Policy", "rules": [["level": "None"], ["level": "Metadata", "omitStages": ["Later"]]]], "rules[1].omitStages")
        refused(["kind": "Policy", "rules": [["level": "None", "nonResourceURLs": ["/x"], "namespaces": ["a"]]]], "cannot be combined")
    }

    private static func withAuditLog(policy: AuditPolicy, maxBytes: Int? = nil, maxBackups: Int = 0,
        _ body: (AuditLog, URL) async throws -> Void) async throws -> [JSONValue]
    {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-audit-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("audit.log")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let log = try AuditLog(configuration: .init(path: path.path, policy: policy, maxBytes: maxBytes, maxBackups: maxBackups), logger: logger)
        let writer = Task { await log.run() }
        do {
            try await body(log, directory)
        } catch {
            log.finish()
            await writer.value
            throw error
        }
        log.finish()
        await writer.value
        let text = try String(contentsOf: path, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONParser.parse(String($0)) }
    }

    @Test("served requests leave audit.k8s.io/v1 Events: who, what, the answer, bodies by level, decisions, impersonation, watch stages")
    func eventsOfRequests() async throws {
        let policy = try AuditPolicy(document: [
            "kind": "Policy",
            "rules": [
                ["level": "RequestResponse", "resources": [["group": "", "resources": ["configmaps"]]]],
                ["level": "Request", "resources": [["group": "", "resources": ["pods"]]]],
                ["level": "None", "resources": [["group": "", "resources": ["events"]]]],
                ["level": "Metadata"],
            ],
        ], source: "policy")
        let ids = IDs()
        let events = try await Self.withAuditLog(policy: policy) { log, _ in
            try await SecuredServer.run(configure: { $0.auditLog = log }) { client in
                let created = try await client.json(.post, "/api/v1/namespaces/default/configmaps",
                    ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "settings"], "data": ["mode": "fast"]],
                    headers: SecuredServer.admin)
                #expect(created.status == 201)
                #expect(try await client.request(.get, "/api/v1/namespaces/default/configmaps/settings",
                    accept: "application/vnd.kubernetes.protobuf, application/json", headers: SecuredServer.admin).status == 200)
                #expect(try await client.request(.get, "/api/v1/namespaces/default/secrets", headers: SecuredServer.bob).status == 403)
                let stranger = try await client.request(.get, "/api/v1/namespaces/default/configmaps?stranger=1",
                    headers: [("Authorization", "Bearer not-a-token")])
                #expect(stranger.status == 401)
                #expect(try await client.request(.get, "/api/v1/namespaces", headers: SecuredServer.admin + [("Impersonate-User", "alice"),
                    ("Impersonate-Group", "system:masters")]).status == 200)
                #expect(try await client.request(.get, "/api/v1/namespaces/default/events", headers: SecuredServer.admin).status == 200)
                #expect(try await client.request(.get, "/api/v1/namespaces/default/services?watch=true&timeoutSeconds=1",
                    headers: SecuredServer.admin).status == 200)
                // Pod Security's audit mode notes the violation on the event and lets the pod in.
                let namespace: JSONValue = ["apiVersion": "v1", "kind": "Namespace",
                    "metadata": ["name": "audited", "labels": ["pod-security.kubernetes.io/audit": "restricted"]]]
                #expect(try await client.json(.post, "/api/v1/namespaces", namespace, headers: SecuredServer.admin).status == 201)
                let pod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "root", "namespace": "audited"],
                    "spec": ["containers": [["name": "c", "image": "img", "securityContext": ["privileged": true]]]]]
                try await SecuredServer.eventually("the namespace cache sees audited") {
                    let reply = try await client.json(.post, "/api/v1/namespaces/audited/pods?dryRun=All", pod, headers: SecuredServer.admin)
                    return reply.status == 201
                }
                let admitted = try await client.json(.post, "/api/v1/namespaces/audited/pods", pod, headers: SecuredServer.admin)
                #expect(admitted.status == 201)
                ids.set(created.body["metadata"]?["uid"]?.stringValue ?? "")
            }
        }
        #expect(!events.isEmpty)
        for event in events {
            #expect(event["apiVersion"] == "audit.k8s.io/v1" && event["kind"] == "Event")
            #expect(event["auditID"]?.stringValue?.count == 36)
            #expect(event["requestReceivedTimestamp"]?.stringValue?.hasSuffix("Z") == true)
        }
        func matching(verb: String, resource: String) -> [JSONValue] {
            events.filter { $0["verb"]?.stringValue == verb && $0["objectRef"]?["resource"]?.stringValue == resource }
        }

        // RequestResponse for configmaps: both bodies, at each stage, with the object's uid in the response.
        let create = matching(verb: "create", resource: "configmaps")
        #expect(create.map { $0["stage"] } == ["RequestReceived", "ResponseComplete"])
        let complete = try #require(create.last)
        #expect(complete["level"] == "RequestResponse")
        #expect(complete["user"]?["username"] == "admin")
        #expect(complete["requestObject"]?["data"]?["mode"] == "fast")
        #expect(complete["responseObject"]?["metadata"]?["uid"]?.stringValue == ids.value)
        #expect(complete["responseStatus"]?["code"] == 201)
        #expect(complete["objectRef"]?["namespace"] == "default")
        #expect(complete["requestURI"] == "/api/v1/namespaces/default/configmaps")
        #expect(complete["annotations"]?["authorization.k8s.io/decision"] == "allow")
        #expect(create.first?["auditID"] == complete["auditID"])

        // A read by a client that would take protobuf (kubectl) is answered, and logged, in JSON.
        let read = try #require(matching(verb: "get", resource: "configmaps").last)
        #expect(read["responseObject"]?["data"]?["mode"] == "fast", "\(read)")

        // A refusal at Metadata: no bodies, the 403 and its reason.
        let refused = try #require(matching(verb: "list", resource: "secrets").last)
        #expect(refused["level"] == "Metadata" && refused["requestObject"] == nil)
        #expect(refused["responseStatus"]?["code"] == 403 && refused["responseStatus"]?["reason"] == "Forbidden")
        #expect(refused["annotations"]?["authorization.k8s.io/decision"] == "forbid")

        // A refused credential is logged too, with no user.
        let unauthenticated = try #require(events.first { $0["requestURI"]?.stringValue?.contains("stranger=1") == true })
        #expect(unauthenticated["user"] == [:] && unauthenticated["stage"] == "ResponseStarted", "\(unauthenticated)")
        #expect(unauthenticated["responseStatus"]?["code"] == 401 && unauthenticated["level"] == "RequestResponse")

        let impersonated = try #require(matching(verb: "list", resource: "namespaces").last)
        #expect(impersonated["user"]?["username"] == "admin")
        #expect(impersonated["impersonatedUser"]?["username"] == "alice")

        #expect(matching(verb: "list", resource: "events").isEmpty, "level None records nothing")
        #expect(matching(verb: "watch", resource: "services").map { $0["stage"] } == ["RequestReceived", "ResponseStarted", "ResponseComplete"])

        // Request level for pods: the body sent, not the answer; Pod Security's audit annotations.
        let podCreates = matching(verb: "create", resource: "pods").filter { event in
            let uri = event["requestURI"]?.stringValue ?? ""
            return event["stage"] == "ResponseComplete" && !uri.contains("dryRun")
        }
        let podCreate = try #require(podCreates.last)
        #expect(podCreate["responseStatus"]?["code"] == 201)
        #expect(podCreate["requestObject"]?["metadata"]?["name"] == "root")
        #expect(podCreate["responseObject"] == nil)
        let violation = podCreate["annotations"]?["pod-security.kubernetes.io/audit-violations"]?.stringValue ?? ""
        #expect(violation.contains("would violate PodSecurity \"restricted:latest\"") && violation.contains("privileged"), "\(podCreate)")
    }

    @Test("the log is rotated by size and keeps only maxBackups old files")
    func rotation() async throws {
        var names: [String] = []
        let events = try await Self.withAuditLog(policy: .metadataForAll, maxBytes: 2_000, maxBackups: 2) { log, directory in
            for index in 0..<40 {
                let attributes = Self.attributes("get", resource: "pods", namespace: "default", name: "p\(index)")
                let request = try #require(AuditRequest(log: log, attributes: attributes, impersonator: nil, method: "GET",
                    uri: "/api/v1/namespaces/default/pods/p\(index)", userAgent: nil, sourceIP: "127.0.0.1", body: []))
                request.emit(.responseComplete, code: 200, decision: "allow")
            }
            log.finish()
            // The writer drains what was queued; wait for it through the files it leaves.
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
                let current = (try? String(contentsOf: directory.appendingPathComponent("audit.log"), encoding: .utf8)) ?? ""
                if current.contains("\"p39\"") { break }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        #expect(names.count == 3, "\(names)")
        #expect(names.filter { $0.hasPrefix("audit-") && $0.hasSuffix(".log") }.count == 2, "\(names)")
        #expect(events.last?["objectRef"]?["name"] == "p39")
        #expect(!events.isEmpty && events.count < 40)
    }
}

private final class IDs: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = ""
    func set(_ value: String) { lock.withLock { stored = value } }
    var value: String { lock.withLock { stored } }
}
