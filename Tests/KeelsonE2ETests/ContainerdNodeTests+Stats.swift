import Foundation
import KeelsonAPI
import Testing

/// Resource usage end to end: the kubelet's cgroup readings, through its stats endpoints and the API server's
/// metrics.k8s.io, to `kubectl top`.
extension ContainerdNodeTests {
    /// `kubectl top pod NAME --containers` rows as (container, millicores, MiB).
    static func top(_ k: KeelsonProcess, _ pod: String) async throws -> [(container: String, milliCPU: Int, mebibytes: Int)]? {
        let output = try await k.kubectl(["top", "pod", pod, "--containers", "--no-headers"])
        guard output.status == 0 else { return nil }
        return output.stdout.split(separator: "\n").compactMap { line in
            let cells = line.split(separator: " ")
            guard cells.count == 4, cells[2].hasSuffix("m"), cells[3].hasSuffix("Mi"),
                  let cpu = Int(cells[2].dropLast()), let memory = Int(cells[3].dropLast(2)) else { return nil }
            return (String(cells[1]), cpu, memory)
        }
    }

    @Test("kubectl top shows a CPU-bound pod at its 200m limit and a pod's held memory; the kubelet's Prometheus and summary figures carry the pods, their volumes and writable layers")
    func topAndMetrics() async throws {
        try await Self.withNode { k in
            try await k.kubectlOK(["apply", "-f", "-"], stdin: """
                apiVersion: v1
                kind: Pod
                metadata: {name: burner, labels: {app: burner}}
                spec:
                  terminationGracePeriodSeconds: 0
                  containers:
                  - name: main
                    image: keelson.local/busybox:1.0
                    command: [sh, -c, "head -c 1000000 /dev/zero > /scratch/fill && head -c 300000 /dev/zero > /layer && yes > /dev/null"]
                    resources: {limits: {cpu: 200m, memory: 64Mi}}
                    volumeMounts: [{name: scratch, mountPath: /scratch}]
                  volumes: [{name: scratch, emptyDir: {}}]
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: holder}
                spec:
                  terminationGracePeriodSeconds: 0
                  containers:
                  - name: main
                    image: keelson.local/busybox:1.0
                    command: [sh, -c, "head -c 40000000 /dev/zero > /dev/shm/fill && exec sleep 3600"]
                """)
            try await k.kubectlOK(["wait", "--for=condition=Ready", "pod/burner", "pod/holder", "--timeout=60s"])

            // The CFS quota holds the loop at 200m; the kubelet's 10 s average gets there within the issue's 30 s.
            let deadline = ContinuousClock.now + .seconds(30)
            var burner: [(container: String, milliCPU: Int, mebibytes: Int)]?
            while ContinuousClock.now < deadline {
                burner = try await Self.top(k, "burner")
                if let row = burner?.first, (170...230).contains(row.milliCPU) { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            let row = try #require(burner?.first, "kubectl top pod burner gave no row")
            #expect(row.container == "main")
            #expect((170...230).contains(row.milliCPU), "CPU \(row.milliCPU)m of a 200m limit")
            let holder = try #require(try await Self.top(k, "holder")?.first)
            // 40,000,000 bytes of shared memory are 38.1 MiB of working set, plus the shell.
            #expect((38...60).contains(holder.mebibytes), "holder's working set \(holder.mebibytes)Mi")

            let nodes = try await k.kubectlOK(["top", "node", "--no-headers"])
            #expect(nodes.hasPrefix("node-1 "), "\(nodes)")
            let labelled = try await k.kubectlOK(["top", "pod", "-l", "app=burner", "--no-headers"])
            #expect(labelled.hasPrefix("burner ") && !labelled.contains("holder"), "\(labelled)")
            // Keelson's own live view, printed once (from inside the node's namespace, where the server listens).
            let (topExecutable, topArguments) = k.node!.wrap(KeelsonProcess.binary.path, ["top", "--once", "--kubeconfig", k.kubeconfig])
            let top = try await Task.detached { try KeelsonProcess.run(topExecutable, topArguments) }.value
            #expect(top.status == 0, "\(top.stderr)")
            let topLines = top.stdout.split(separator: "\n")
            #expect(topLines.first?.hasPrefix("NODE") == true && topLines.contains { $0.hasPrefix("node-1 ") }, "\(top.stdout)")
            #expect(topLines.contains { $0.hasPrefix("default ") && $0.contains(" burner ") }, "\(top.stdout)")
            let missing = try await k.kubectl(["top", "pod", "nonexistent"])
            #expect(missing.status != 0 && missing.stderr.contains("not found"), "\(missing.stderr)")

            // cAdvisor's names and labels, read through the API server's node proxy (as Prometheus scrapes kubelets)
            // with Prometheus' own Python parser.
            let metricsDirectory = k.dataDir.appendingPathComponent("scraped")
            try FileManager.default.createDirectory(at: metricsDirectory, withIntermediateDirectories: true)
            for name in ["cadvisor", "resource"] {
                let text = try await k.kubectlOK(["get", "--raw", "/api/v1/nodes/node-1/proxy/metrics/\(name)"])
                try text.write(to: metricsDirectory.appendingPathComponent(name), atomically: true, encoding: .utf8)
            }
            let check = #"""
                import sys
                from prometheus_client.parser import text_string_to_metric_families
                text = open(sys.argv[1] + "/cadvisor").read()
                found = {}
                for family in text_string_to_metric_families(text):
                    for s in family.samples:
                        if s.labels.get("pod") == "burner" and s.labels.get("namespace") == "default":
                            found.setdefault(s.name, []).append(s.labels.get("container", ""))
                assert "main" in found.get("container_cpu_usage_seconds_total", []), found
                assert "main" in found.get("container_memory_working_set_bytes", []), found
                assert "" in found.get("container_network_receive_bytes_total", []), found
                resource = open(sys.argv[1] + "/resource").read()
                names = {f.name for f in text_string_to_metric_families(resource)}
                assert {"container_cpu_usage_seconds", "pod_memory_working_set_bytes", "node_cpu_usage_seconds"} <= names, names
                print("ok")
                """#
            let parsed = try await Task.detached { try KeelsonProcess.run("/usr/bin/env", ["python3", "-c", check, metricsDirectory.path]) }.value
            #expect(parsed.status == 0 && parsed.stdout == "ok\n", "\(parsed.stderr)")

            // Disk figures are walked every tenth round (10 s): the emptyDir's file and the writable layer's.
            let summaryDeadline = ContinuousClock.now + .seconds(30)
            var summary: JSONValue = nil
            var pod: JSONValue = nil
            repeat {
                summary = try JSONParser.parse(Array(try await k.kubectlOK(["get", "--raw", "/api/v1/nodes/node-1/proxy/stats/summary"]).utf8))
                pod = summary["pods"]?.arrayValue?.first { $0["podRef"]?["name"] == "burner" } ?? nil
                let volume = pod["volume"]?.arrayValue?.first { $0["name"] == "scratch" }
                if (volume?["usedBytes"]?.intValue ?? 0) >= 1_000_000, (pod["containers"]?[0]?["rootfs"]?["usedBytes"]?.intValue ?? 0) >= 300_000 { break }
                try await Task.sleep(for: .milliseconds(500))
            } while ContinuousClock.now < summaryDeadline
            let volume = pod["volume"]?.arrayValue?.first { $0["name"] == "scratch" }
            #expect((volume?["usedBytes"]?.intValue ?? 0) >= 1_000_000, "emptyDir usage: \(volume?.encodedString() ?? "none")")
            #expect((pod["containers"]?[0]?["rootfs"]?["usedBytes"]?.intValue ?? 0) >= 300_000,
                "writable layer: \(pod["containers"]?[0]?["rootfs"]?.encodedString() ?? "none")")
            #expect((pod["ephemeral-storage"]?["usedBytes"]?.intValue ?? 0) >= 1_300_000)
            #expect(pod["network"]?["name"] == "eth0")
            #expect(pod["containers"]?[0]?["memory"]?["availableBytes"] != nil, "a limited container has available bytes")
            #expect((summary["node"]?["memory"]?["workingSetBytes"]?.intValue ?? 0) > 0)
        }
    }

    @Test("a container killed for going over its memory limit is reported OOMKilled")
    func oomKilled() async throws {
        try await Self.withNode { k in
            try await k.kubectlOK(["apply", "-f", "-"], stdin: """
                apiVersion: v1
                kind: Pod
                metadata: {name: hog}
                spec:
                  restartPolicy: Never
                  containers:
                  - name: main
                    image: keelson.local/busybox:1.0
                    command: [sh, -c, "x=a; while true; do x=$x$x; done"]
                    resources: {limits: {memory: 32Mi}}
                """)
            let pod = try await Self.waitFor(k, ["get", "pod", "hog"], "the container OOM-killed") {
                Self.container($0)?["state"]?["terminated"] != nil
            }
            #expect(Self.container(pod)?["state"]?["terminated"]?["reason"] == "OOMKilled", "\(pod["status"]?.encodedString() ?? "")")
            #expect(Self.container(pod)?["state"]?["terminated"]?["exitCode"] == 137)
            #expect(pod["status"]?["phase"] == "Failed")
        }
    }
}
