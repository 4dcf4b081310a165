import KeelsonAPI
import Testing

@testable import KeelsonAPIServer

@Suite("Admission")
struct AdmissionTests {
    @Test("new pods tolerate not-ready and unreachable nodes for 300 s unless they say otherwise")
    func defaultTolerationSeconds() async throws {
        try await TestServer.run { client in
            let plain: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "plain"],
                                    "spec": ["containers": [["name": "c", "image": "busybox"]]]]
            let created = try await client.json(.post, "/api/v1/namespaces/default/pods", plain)
            #expect(created.status == 201)
            let tolerations = created.body.value(at: ["spec", "tolerations"])?.arrayValue ?? []
            #expect(tolerations.count == 2)
            for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
                #expect(tolerations.contains { $0["key"] == .string(key) && $0["tolerationSeconds"] == 300 && $0["effect"] == "NoExecute" })
            }
            var own = plain
            own.name = "own"
            own.setValue([["operator": "Exists"]], at: ["spec", "tolerations"])
            let kept = try await client.json(.post, "/api/v1/namespaces/default/pods", own)
            #expect(kept.body.value(at: ["spec", "tolerations"]) == [["operator": "Exists"]])
        }
    }
}

@Suite("Pod Security admission")
struct PodSecurityAdmissionTests {
    typealias PSA = PodSecurityAdmission

    @Test("baseline forbids host namespaces, privileged containers, extra capabilities, hostPath, host ports, unsafe sysctls")
    func baseline() {
        let spec: JSONValue = ["hostNetwork": true, "hostPID": true,
            "securityContext": ["sysctls": [["name": "kernel.msgmax", "value": "1"], ["name": "net.ipv4.tcp_syncookies", "value": "1"]]],
            "volumes": [["name": "root", "hostPath": ["path": "/"]], ["name": "tmp", "emptyDir": [:]]],
            "containers": [
                ["name": "a", "securityContext": ["privileged": true, "capabilities": ["add": ["NET_ADMIN", "CHOWN"]]]],
                ["name": "b", "ports": [["containerPort": 80, "hostPort": 8080]]],
            ]]
        #expect(PSA.violations(spec, level: .baseline).map(\.text) == [
            "host namespaces (hostNetwork=true, hostPID=true)",
            "privileged (container \"a\" must not set securityContext.privileged=true)",
            "non-default capabilities (container \"a\" must not include \"NET_ADMIN\" in securityContext.capabilities.add)",
            "hostPath volumes (volume \"root\")",
            "hostPort (container \"b\" uses hostPort 8080)",
            "forbidden sysctls (kernel.msgmax)",
        ])
        #expect(PSA.violations(spec, level: .privileged).isEmpty)
        #expect(PSA.violations(["containers": [["name": "plain", "image": "x"]]], level: .baseline).isEmpty)
    }

    @Test("restricted wants no escalation, all capabilities dropped, non-root, a seccomp profile and plain volume types; a compliant pod passes")
    func restricted() throws {
        let bare: JSONValue = ["containers": [["name": "a"], ["name": "b"]], "volumes": [["name": "h", "hostPath": ["path": "/x"]]]]
        #expect(PSA.violations(bare, level: .restricted).map(\.check) == ["hostPath volumes", "restricted volume types",
            "allowPrivilegeEscalation != false", "unrestricted capabilities", "runAsNonRoot != true", "seccompProfile"])
        #expect(PSA.violations(bare, level: .restricted)[2].detail == "containers \"a\", \"b\" must set securityContext.allowPrivilegeEscalation=false")
        let good: JSONValue = ["securityContext": ["runAsNonRoot": true, "seccompProfile": ["type": "RuntimeDefault"]],
            "volumes": [["name": "t", "projected": [:]]],
            "containers": [["name": "a", "securityContext": ["allowPrivilegeEscalation": false,
                "capabilities": ["drop": ["ALL"], "add": ["NET_BIND_SERVICE"]]]]]]
        #expect(PSA.violations(good, level: .restricted).isEmpty)
        var root = good
        root.setValue(0, at: ["securityContext", "runAsUser"])
        #expect(PSA.violations(root, level: .restricted).map(\.text) == ["runAsUser=0 (pod must not set runAsUser=0)"])
        // Enforced for pods, warned for workloads.
        let labels = ["pod-security.kubernetes.io/enforce": "restricted"]
        #expect(throws: Status.self) { try PSA.admit(["spec": bare], kind: "Pod", name: "p", labels: labels) }
        let warnings = try PSA.admit(["spec": ["template": ["spec": bare]]], kind: "Deployment", name: "d", labels: labels)
        #expect(warnings.count == 1 && warnings[0].hasPrefix("would violate PodSecurity \"restricted:latest\": hostPath volumes"))
        #expect(try PSA.admit(["spec": good], kind: "Pod", name: "p", labels: labels.merging(["pod-security.kubernetes.io/warn": "restricted"]) { $1 }).isEmpty)
    }
}

@Suite("Admission webhooks")
struct AdmissionWebhookTests {
    @Test("rules match operations, groups, versions, resources, subresources and scope; selectors pick namespaces and objects")
    func matching() throws {
        let configuration: JSONValue = ["webhooks": [
            ["name": "pods.example.com", "clientConfig": ["url": "https://127.0.0.1:1/"],
             "rules": [["operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods", "pods/status"], "scope": "Namespaced"]],
             "namespaceSelector": ["matchLabels": ["team": "a"]], "objectSelector": ["matchExpressions": [["key": "skip", "operator": "DoesNotExist"]]]],
            ["name": "all.example.com", "clientConfig": ["url": "https://127.0.0.1:1/"],
             "rules": [["operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]]]],
        ]]
        let hooks = AdmissionWebhooks.parse(configuration, mutating: false)
        #expect(hooks.map(\.name) == ["pods.example.com", "all.example.com"] && !hooks[1].failOpen)
        let registry = ResourceRegistry(BuiltinResources.all)
        let pods = try #require(registry.lookup(group: "", version: "v1", resource: "pods"))
        let nodes = try #require(registry.lookup(group: "", version: "v1", resource: "nodes"))
        let rule = hooks[0].rules[0]
        #expect(rule.matches(operation: "CREATE", definition: pods, subresource: nil) && rule.matches(operation: "CREATE", definition: pods, subresource: "status"))
        #expect(!rule.matches(operation: "UPDATE", definition: pods, subresource: nil) && !rule.matches(operation: "CREATE", definition: pods, subresource: "binding"))
        #expect(!rule.matches(operation: "CREATE", definition: nodes, subresource: nil))
        #expect(hooks[1].rules[0].matches(operation: "UPDATE", definition: nodes, subresource: nil))
        #expect(!hooks[1].rules[0].matches(operation: "UPDATE", definition: pods, subresource: "status"), "\"*\" is every resource, not subresources")
        #expect(hooks[0].namespaceSelector.matches(["team": "a"]) && !hooks[0].namespaceSelector.matches(["team": "b"]))
        #expect(hooks[0].objectSelector.matches([:]) && !hooks[0].objectSelector.matches(["skip": "1"]))
    }
}

@Suite("ResourceQuota admission")
struct ResourceQuotaAdmissionTests {
    static func pod(_ name: String, cpu: String?) -> JSONValue {
        var container: JSONValue = ["name": "c", "image": "busybox"]
        if let cpu { container["resources"] = ["requests": ["cpu": .string(cpu)], "limits": ["cpu": .string(cpu)]] }
        return ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name)], "spec": ["containers": [container]]]
    }

    @Test("a create over quota is a 403 naming the quota and figures; an admitted one is charged at once; dry runs are not")
    func quota() async throws {
        try await TestServer.run { client in
            let quota: JSONValue = ["apiVersion": "v1", "kind": "ResourceQuota", "metadata": ["name": "compute"],
                                    "spec": ["hard": ["pods": "2", "requests.cpu": "1"]]]
            #expect(try await client.json(.post, "/api/v1/namespaces/default/resourcequotas", quota).status == 201)
            let unknown = try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod("early", cpu: "100m"))
            #expect(unknown.status == 403 && unknown.body["message"]?.stringValue?.contains("status unknown for quota: compute") == true,
                "until the controller has counted, nothing is admitted: \(unknown.body)")
            var counted = try await client.request(.get, "/api/v1/namespaces/default/resourcequotas/compute").body
            counted["status"] = ["hard": ["pods": "2", "requests.cpu": "1"], "used": ["pods": "0", "requests.cpu": "0"]]
            #expect(try await client.json(.put, "/api/v1/namespaces/default/resourcequotas/compute/status", counted).status == 200)

            let unstated = try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod("vague", cpu: nil))
            #expect(unstated.status == 403 && unstated.body["message"]?.stringValue
                == "pods \"vague\" is forbidden: failed quota: compute: must specify requests.cpu for: c")
            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods?dryRun=All", Self.pod("dry", cpu: "900m")).status == 201)
            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod("a", cpu: "600m")).status == 201)
            let used = try await client.request(.get, "/api/v1/namespaces/default/resourcequotas/compute").body.value(at: ["status", "used"])
            #expect(used == ["pods": "1", "requests.cpu": "600m"], "charged at once, the dry run not at all")
            let over = try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod("b", cpu: "600m"))
            #expect(over.status == 403 && over.body["reason"] == "Forbidden")
            #expect(over.body["message"]?.stringValue == "pods \"b\" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, "
                + "used: requests.cpu=600m, limited: requests.cpu=1")
            #expect(try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod("c", cpu: "400m")).status == 201)
            #expect(try await client.json(.post, "/api/v1/namespaces/default/configmaps", ["metadata": ["name": "free"]]).status == 201,
                "what the quota does not limit is not held back")
            let third = try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod("d", cpu: "0"))
            #expect(third.status == 403 && third.body["message"]?.stringValue?.contains("exceeded quota: compute, requested: pods=1") == true)
        }
    }
}

@Suite("Eviction and disruption budgets")
struct EvictionTests {
    @Test("an eviction spends the budget's last disruption; the next is a 429 naming the budget")
    func budgetHonoured() async throws {
        try await TestServer.run { client in
            for name in ["a", "b"] {
                let pod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "labels": ["app": "web"]],
                                      "spec": ["containers": [["name": "c", "image": "busybox"]]]]
                #expect(try await client.json(.post, "/api/v1/namespaces/default/pods", pod).status == 201)
                let ready = #"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#
                _ = try await client.request(.patch, "/api/v1/namespaces/default/pods/\(name)/status", body: ready,
                    contentType: "application/merge-patch+json")
            }
            let pdb: JSONValue = ["apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": ["name": "web"],
                                  "spec": ["minAvailable": 1, "selector": ["matchLabels": ["app": "web"]]]]
            #expect(try await client.json(.post, "/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb).status == 201)
            // What the disruption controller would write.
            let status = #"{"status":{"observedGeneration":1,"currentHealthy":2,"desiredHealthy":1,"expectedPods":2,"disruptionsAllowed":1}}"#
            _ = try await client.request(.patch, "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web/status", body: status,
                contentType: "application/merge-patch+json")
            let eviction = { (name: String) -> JSONValue in ["apiVersion": "policy/v1", "kind": "Eviction", "metadata": ["name": .string(name)]] }
            let first = try await client.json(.post, "/api/v1/namespaces/default/pods/a/eviction", eviction("a"))
            #expect(first.status == 201)
            #expect(try await client.request(.get, "/api/v1/namespaces/default/pods/a").status == 404)
            let spent = try await client.request(.get, "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web")
            #expect(spent.body.value(at: ["status", "disruptionsAllowed"]) == 0)
            #expect(spent.body.value(at: ["status", "disruptedPods", "a"]) != nil)
            let second = try await client.json(.post, "/api/v1/namespaces/default/pods/b/eviction", eviction("b"))
            #expect(second.status == 429)
            #expect(second.body["reason"] == "TooManyRequests")
            #expect(second.body["details"]?["causes"]?.arrayValue?.first?["reason"] == "DisruptionBudget")
            #expect(try await client.request(.get, "/api/v1/namespaces/default/pods/b").status == 200)
        }
    }
}

@Suite("LimitRanger admission")
struct LimitRangerTests {
    static func pod(_ name: String, requests: JSONValue? = nil, limits: JSONValue? = nil) -> JSONValue {
        var container: JSONValue = ["name": "app", "image": "busybox"]
        var resources: JSONValue = [:]
        if let requests { resources["requests"] = requests }
        if let limits { resources["limits"] = limits }
        if resources != [:] { container["resources"] = resources }
        return ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name)], "spec": ["containers": [container]]]
    }

    @Test("a LimitRange is stored with Kubernetes' defaulting: default from max, defaultRequest from default, then from min")
    func limitRangeDefaulting() {
        let item = LimitRanger.defaultedItem(["type": "Container", "max": ["cpu": "2", "memory": "1Gi"], "default": ["cpu": "500m"],
                                              "min": ["ephemeral-storage": "1Mi"]])
        #expect(item["default"] == ["cpu": "500m", "memory": "1Gi"])
        #expect(item["defaultRequest"] == ["cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Mi"])
        let pod: JSONValue = ["type": "Pod", "max": ["cpu": "4"]]
        #expect(LimitRanger.defaultedItem(pod) == pod, "only Container items are defaulted")
    }

    @Test("containers get the defaults they leave out, noted in the annotation; out-of-range pods and claims are 403s in Kubernetes' words")
    func admission() async throws {
        try await TestServer.run { client in
            let range: JSONValue = ["apiVersion": "v1", "kind": "LimitRange", "metadata": ["name": "limits"], "spec": ["limits": [
                ["type": "Container", "default": ["cpu": "500m", "memory": "256Mi"], "defaultRequest": ["cpu": "100m"],
                 "min": ["cpu": "50m"], "max": ["cpu": "1", "memory": "1Gi"], "maxLimitRequestRatio": ["cpu": "5"]],
                ["type": "Pod", "max": ["memory": "1536Mi"]],
                ["type": "PersistentVolumeClaim", "min": ["storage": "1Gi"], "max": ["storage": "10Gi"]],
            ]]]
            let stored = try await client.json(.post, "/api/v1/namespaces/default/limitranges", range)
            #expect(stored.status == 201)
            #expect(stored.body.value(at: ["spec", "limits"])?.arrayValue?.first?["defaultRequest"] == ["cpu": "100m", "memory": "256Mi"])

            let bare = try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod("bare"))
            #expect(bare.status == 201, "\(bare.body)")
            #expect(bare.body.value(at: ["spec", "containers"])?.arrayValue?.first?["resources"]
                == ["requests": ["cpu": "100m", "memory": "256Mi"], "limits": ["cpu": "500m", "memory": "256Mi"]])
            #expect(bare.body.value(at: ["metadata", "annotations", "kubernetes.io/limit-ranger"])
                == "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app")

            let stated = try await client.json(.post, "/api/v1/namespaces/default/pods",
                Self.pod("stated", requests: ["cpu": "200m", "memory": "128Mi"], limits: ["cpu": "400m", "memory": "128Mi"]))
            #expect(stated.status == 201)
            #expect(stated.body.value(at: ["metadata", "annotations", "kubernetes.io/limit-ranger"]) == nil, "nothing set, nothing noted")

            let tooBig = try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod("big", limits: ["cpu": "2"]))
            #expect(tooBig.status == 403 && tooBig.body["reason"] == "Forbidden")
            #expect(tooBig.body["message"]?.stringValue
                == "pods \"big\" is forbidden: [maximum cpu usage per Container is 1, but limit is 2, maximum cpu usage per Container is 1, but request is 2]",
                "\(tooBig.body)")
            let tiny = try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod("tiny", requests: ["cpu": "10m"], limits: ["cpu": "20m"]))
            #expect(tiny.body["message"]?.stringValue == "pods \"tiny\" is forbidden: [minimum cpu usage per Container is 50m, but request is 10m, "
                + "minimum cpu usage per Container is 50m, but limit is 20m]", "\(tiny.body)")
            let ratio = try await client.json(.post, "/api/v1/namespaces/default/pods", Self.pod("ratio", requests: ["cpu": "100m"], limits: ["cpu": "1"]))
            #expect(ratio.body["message"]?.stringValue
                == "pods \"ratio\" is forbidden: cpu max limit to request ratio per Container is 5, but provided ratio is 10.000000", "\(ratio.body)")

            var pair = Self.pod("pair", limits: ["memory": "1Gi"])
            let first = pair.value(at: ["spec", "containers"])?.arrayValue ?? []
            pair["spec"]?["containers"] = .array(first + [["name": "side", "image": "busybox", "resources": ["limits": ["memory": "1Gi"]]]])
            let pairReply = try await client.json(.post, "/api/v1/namespaces/default/pods", pair)
            #expect(pairReply.body["message"]?.stringValue == "pods \"pair\" is forbidden: [maximum memory usage per Pod is 1536Mi, but limit is 2Gi, maximum memory usage per Pod is 1536Mi, but request is 2Gi]",
                "\(pairReply.body)")

            func claim(_ name: String, _ storage: String) -> JSONValue {
                ["apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": ["name": .string(name)],
                 "spec": ["accessModes": ["ReadWriteOnce"], "resources": ["requests": ["storage": .string(storage)]]]]
            }
            let small = try await client.json(.post, "/api/v1/namespaces/default/persistentvolumeclaims", claim("small", "500Mi"))
            #expect(small.status == 403 && small.body["message"]?.stringValue
                == "persistentvolumeclaims \"small\" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi", "\(small.body)")
            let fine = try await client.json(.post, "/api/v1/namespaces/default/persistentvolumeclaims", claim("fine", "2Gi"))
            #expect(fine.status == 201, "\(fine.body)")

            let elsewhere = try await client.json(.post, "/api/v1/namespaces", ["metadata": ["name": "free"]])
            #expect(elsewhere.status == 201)
            try await SecuredServer.eventually("namespace free is known") {
                try await client.json(.post, "/api/v1/namespaces/free/pods?dryRun=All", Self.pod("big", limits: ["cpu": "2"])).status == 201
            }
        }
    }
}
