import Foundation
import KeelsonAPI
import Testing

/// Deployments and garbage collection driven by the real kubectl, with pods marked Running by a simulated kubelet.
@Suite("Workloads with kubectl", .serialized)
struct WorkloadTests {
    static func replicaSets(_ k: KeelsonProcess, _ selector: String) async throws -> [String: Int] {
        let out = try await k.kubectlOK(["get", "rs", "-l", selector, "-o", "jsonpath={range .items[*]}{.metadata.name}={.spec.replicas}{\"\\n\"}{end}"])
        var result: [String: Int] = [:]
        for line in out.split(separator: "\n") {
            let parts = line.split(separator: "=")
            if parts.count == 2 { result[String(parts[0])] = Int(parts[1]) }
        }
        return result
    }

    @Test("create deployment, scale, set image, rollout status, history and undo")
    func deploymentRollout() async throws {
        try await withKeelson { k in
            try await withSimulatedKubelet(k) {
                try await k.kubectlOK(["create", "deployment", "web", "--image=registry.example/web:1", "--replicas=3"])
                try await k.kubectlOK(["rollout", "status", "deployment/web", "--timeout=120s"])
                #expect(try await k.kubectlOK(["get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}/{.status.updatedReplicas}"]) == "3/3")

                try await k.kubectlOK(["scale", "deployment", "web", "--replicas=5"])
                try await k.kubectlOK(["rollout", "status", "deployment/web", "--timeout=120s"])
                #expect(try await k.kubectlOK(["get", "pods", "-l", "app=web", "-o", "name"]).split(separator: "\n").count == 5)

                try await k.kubectlOK(["set", "image", "deployment/web", "web=registry.example/web:2"])
                try await k.kubectlOK(["rollout", "status", "deployment/web", "--timeout=120s"])
                var sets = try await Self.replicaSets(k, "app=web")
                #expect(sets.count == 2)
                #expect(sets.values.sorted() == [0, 5])
                let images = try await k.kubectlOK(["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.containers[0].image}"])
                #expect(Set(images.split(separator: " ")) == ["registry.example/web:2"])

                let history = try await k.kubectlOK(["rollout", "history", "deployment/web"])
                #expect(history.contains("1 ") && history.contains("2 "), "\(history)")

                try await k.kubectlOK(["rollout", "undo", "deployment/web"])
                try await k.kubectlOK(["rollout", "status", "deployment/web", "--timeout=120s"])
                #expect(try await k.kubectlOK(["get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]) == "registry.example/web:1")
                #expect(try await k.kubectlOK(["get", "deployment", "web", "-o", "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}"]) == "3")
                sets = try await Self.replicaSets(k, "app=web")
                #expect(sets.count == 2, "undo reuses the first ReplicaSet")

                let described = try await k.kubectlOK(["describe", "deployment", "web"])
                #expect(described.contains("ScalingReplicaSet"), "\(described)")
                #expect(described.contains("NewReplicaSetAvailable"), "\(described)")
            }
        }
    }

    @Test("pause holds a template change back until resume; restart rolls out new pods")
    func pauseResumeRestart() async throws {
        try await withKeelson { k in
            try await withSimulatedKubelet(k) {
                try await k.kubectlOK(["create", "deployment", "api", "--image=registry.example/api:1", "--replicas=2"])
                try await k.kubectlOK(["rollout", "status", "deployment/api", "--timeout=120s"])
                try await k.kubectlOK(["rollout", "pause", "deployment/api"])
                try await k.kubectlOK(["set", "image", "deployment/api", "api=registry.example/api:2"])
                // The paused deployment reports on the change it holds back before anything moves.
                try await eventually {
                    try await k.kubectlOK(["get", "deployment", "api", "-o", "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}"]) == "DeploymentPaused"
                }
                #expect(try await Self.replicaSets(k, "app=api").count == 1)
                try await k.kubectlOK(["rollout", "resume", "deployment/api"])
                try await k.kubectlOK(["rollout", "status", "deployment/api", "--timeout=120s"])
                #expect(try await Self.replicaSets(k, "app=api").count == 2)
                let before = try await k.kubectlOK(["get", "pods", "-l", "app=api", "-o", "name"])
                try await k.kubectlOK(["rollout", "restart", "deployment/api"])
                try await k.kubectlOK(["rollout", "status", "deployment/api", "--timeout=120s"])
                try await eventually {
                    let after = try await k.kubectlOK(["get", "pods", "-l", "app=api", "-o", "name"])
                    return Set(after.split(separator: "\n")).isDisjoint(with: Set(before.split(separator: "\n")))
                }
            }
        }
    }

    @Test("delete with background, foreground and orphan propagation", arguments: ["background", "foreground", "orphan"])
    func cascadingDelete(cascade: String) async throws {
        try await withKeelson { k in
            try await k.kubectlOK(["create", "deployment", "gc", "--image=registry.example/gc:1", "--replicas=2"])
            try await eventually { try await k.kubectlOK(["get", "pods", "-l", "app=gc", "-o", "name"]).split(separator: "\n").count == 2 }
            let delete = try await k.kubectl(["delete", "deployment", "gc", "--cascade=\(cascade)", "--timeout=30s"])
            #expect(delete.status == 0, "\(delete.stderr)")
            try await eventually { try await k.kubectl(["get", "deployment", "gc"]).status != 0 }
            if cascade == "orphan" {
                // The ReplicaSet and its pods stay, without an owner reference to the deployment.
                try await eventually { try await k.kubectlOK(["get", "rs", "-l", "app=gc", "-o", "jsonpath={.items[*].metadata.ownerReferences}"]).isEmpty }
                #expect(try await Self.replicaSets(k, "app=gc").count == 1)
                #expect(try await k.kubectlOK(["get", "pods", "-l", "app=gc", "-o", "name"]).split(separator: "\n").count == 2)
            } else {
                if cascade == "foreground" {
                    // kubectl waited for the deployment to go, which in the foreground happens after its dependents.
                    #expect(try await Self.replicaSets(k, "app=gc").isEmpty)
                }
                try await eventually { try await Self.replicaSets(k, "app=gc").isEmpty }
                try await eventually { try await k.kubectlOK(["get", "pods", "-l", "app=gc", "-o", "name"]).isEmpty }
            }
        }
    }

    @Test("a Service gets a cluster IP, Endpoints and an EndpointSlice that follow its ready pods")
    func serviceEndpoints() async throws {
        try await withKeelson { k in
            try await withSimulatedKubelet(k) {
                try await k.kubectlOK(["create", "deployment", "echo", "--image=registry.example/echo:1", "--replicas=3", "--port=8080"])
                try await k.kubectlOK(["expose", "deployment", "echo", "--port=80", "--target-port=8080"])
                let ip = try await k.kubectlOK(["get", "svc", "echo", "-o", "jsonpath={.spec.clusterIP}"])
                #expect(ip.hasPrefix("10.43."))
                let rollout = try await k.kubectl(["rollout", "status", "deployment/echo", "--timeout=120s"])
                guard rollout.status == 0 else { throw KeelsonProcess.Failure("rollout did not finish: \(rollout.stderr)") }
                try await eventually {
                    try await k.kubectlOK(["get", "endpoints", "echo", "-o", "jsonpath={.subsets[*].addresses[*].ip}"]).split(separator: " ").count == 3
                }
                try await eventually {
                    try await k.kubectlOK(["get", "endpointslices", "-l", "kubernetes.io/service-name=echo", "-o", "jsonpath={.items[*].endpoints[*].addresses[0]}"])
                        .split(separator: " ").count == 3
                }
                let described = try await k.kubectlOK(["describe", "service", "echo"])
                #expect(described.contains(":8080"), "\(described)")

                try await k.kubectlOK(["scale", "deployment", "echo", "--replicas=1"])
                try await eventually {
                    try await k.kubectlOK(["get", "endpoints", "echo", "-o", "jsonpath={.subsets[*].addresses[*].ip}"]).split(separator: " ").count == 1
                }
                try await k.kubectlOK(["delete", "service", "echo"])
                try await eventually { try await k.kubectlOK(["get", "endpointslices", "-l", "kubernetes.io/service-name=echo", "-o", "name"]).isEmpty }
                try await eventually { try await k.kubectl(["get", "endpoints", "echo"]).status != 0 }
            }
        }
    }

    @Test("a Job reaches Complete when its pods succeed; a */1 CronJob creates a Job within its minute")
    func jobsAndCronJobs() async throws {
        try await withKeelson { k in
            try await k.kubectlOK(["create", "cronjob", "tick", "--image=registry.example/tick:1", "--schedule=*/1 * * * *"])
            try await k.kubectlOK(["create", "job", "once", "--image=registry.example/once:1"])
            try await eventually { try await !k.kubectlOK(["get", "pods", "-l", "job-name=once", "-o", "name"]).isEmpty }
            let pod = try await k.kubectlOK(["get", "pods", "-l", "job-name=once", "-o", "name"]).trimmingCharacters(in: .whitespacesAndNewlines)
            try await k.kubectlOK(["patch", pod, "--subresource=status", "--type=merge", "-p", #"{"status":{"phase":"Succeeded"}}"#])
            try await k.kubectlOK(["wait", "--for=condition=complete", "job/once", "--timeout=30s"])
            #expect(try await k.kubectlOK(["get", "job", "once", "-o", "jsonpath={.status.succeeded}"]) == "1")
            // The pod was counted and released: nothing holds it any more.
            #expect(try await k.kubectlOK(["get", pod, "-o", "jsonpath={.metadata.finalizers}"]).isEmpty)

            // The next whole minute is at most 60 s away.
            do {
                try await eventually(seconds: 75) {
                    try await k.kubectlOK(["get", "jobs", "-o", "name"]).contains("job.batch/tick-")
                }
            } catch {
                let state = try await k.kubectl(["get", "cronjob,jobs,events", "-o", "yaml"])
                Issue.record("no Job from the CronJob; cluster state:\n\(state.stdout)")
                throw error
            }
            #expect(try await !k.kubectlOK(["get", "cronjob", "tick", "-o", "jsonpath={.status.lastScheduleTime}"]).isEmpty)
        }
    }

    @Test("a controller manager killed in the middle of a rollout resumes it after restart")
    func rolloutSurvivesRestart() async throws {
        try await withKeelson { k in
            try await withSimulatedKubelet(k) {
                try await k.kubectlOK(["create", "deployment", "steady", "--image=registry.example/steady:1", "--replicas=4"])
                try await k.kubectlOK(["rollout", "status", "deployment/steady", "--timeout=120s"])
                try await k.kubectlOK(["patch", "deployment", "steady", "--type=merge", "-p",
                    #"{"spec":{"strategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}}"#])
            }
            // No kubelet while the rollout starts: the surge pod stays unready, the rollout is stuck half way.
            try await k.kubectlOK(["set", "image", "deployment/steady", "steady=registry.example/steady:2"])
            try await eventually { try await Self.replicaSets(k, "app=steady").count == 2 }
            try await k.crash()
            try await k.start()
            try await withSimulatedKubelet(k) {
                try await k.kubectlOK(["rollout", "status", "deployment/steady", "--timeout=120s"])
            }
            let sets = try await Self.replicaSets(k, "app=steady")
            #expect(sets.values.sorted() == [0, 4], "\(sets)")
            let images = try await k.kubectlOK(["get", "pods", "-l", "app=steady", "-o", "jsonpath={.items[*].spec.containers[0].image}"])
            #expect(Set(images.split(separator: " ")) == ["registry.example/steady:2"])
        }
    }
}
