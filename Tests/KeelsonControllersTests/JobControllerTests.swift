import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Synchronization
import Testing

@testable import KeelsonControllers

@Suite("Job controller")
struct JobControllerTests {
    final class Clock: Sendable {
        let time: Mutex<Date>
        init(_ date: Date) { time = Mutex(date) }
        var now: Date { time.withLock { $0 } }
        func advance(_ seconds: TimeInterval) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
    }

    struct Fixture {
        let api = FakeKubernetesAPI()
        let jobs: Informer
        let pods: Informer
        let controller: JobController
        let clock = Clock(Date())

        init() {
            jobs = Informer(client: api, resource: .jobs, logger: InformerFixture.logger)
            pods = Informer(client: api, resource: .pods, logger: InformerFixture.logger)
            pods.addIndex(.ownerUID)
            let clock = self.clock
            controller = JobController(client: api, jobs: jobs, pods: pods, events: nil, logger: InformerFixture.logger, now: { clock.now })
            controller.register(WorkQueue<String>(name: "test"))
        }

        func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
            try await InformerFixture.run([jobs, pods], body)
        }

        /// Syncs once the caches show what the API stores.
        @discardableResult
        func sync() async throws -> ReconcileResult {
            try await waitUntil("caches") {
                Set(pods.list().compactMap(\.resourceVersion)) == Set(api.stored(.pods).compactMap(\.resourceVersion))
                    && jobs.get("default/work")?.resourceVersion == api.stored(.jobs, namespace: "default", name: "work")?.resourceVersion
            }
            return try await controller.reconcile("default/work")
        }

        var job: JSONValue { api.stored(.jobs, namespace: "default", name: "work") ?? .null }
        var livePods: [JSONValue] { api.stored(.pods).filter(PodState.isActive) }

        func finish(_ pod: JSONValue, phase: String, exitCode: Int64 = 0) async throws {
            try await api.patch(.pods, namespace: "default", name: pod.name ?? "", [
                "status": ["phase": .string(phase), "containerStatuses": [["name": "c", "state": ["terminated": ["exitCode": .integer(exitCode),
                    "finishedAt": .string(Timestamp.format(clock.now))]]]]],
            ], type: .merge, subresource: "status")
        }
    }

    static func job(completions: Int64? = 1, parallelism: Int64 = 1, extra: [String: JSONValue] = [:]) -> JSONValue {
        var spec: JSONValue = ["parallelism": .integer(parallelism), "backoffLimit": 6, "completionMode": "NonIndexed",
                               "selector": ["matchLabels": ["job-name": "work"]],
                               "template": ["metadata": ["labels": ["job-name": "work"]],
                                            "spec": ["restartPolicy": "Never", "containers": [["name": "c", "image": "busybox"]]]]]
        if let completions { spec["completions"] = .integer(completions) }
        for (key, value) in extra { spec[key] = value }
        return ["apiVersion": "batch/v1", "kind": "Job", "metadata": ["name": "work", "namespace": "default", "uid": "uid-job"], "spec": spec]
    }

    func condition(_ job: JSONValue, _ type: String) -> JSONValue? {
        job["status"]?["conditions"]?.arrayValue?.first { $0["type"]?.stringValue == type }
    }

    @Test("runs parallelism pods until completions succeed, counting each success once, then completes")
    func completions() async throws {
        let f = Fixture()
        f.api.seed(.jobs, Self.job(completions: 3, parallelism: 2))
        try await f.run {
            try await f.sync()
            #expect(f.livePods.count == 2)
            let pod = try #require(f.livePods.first)
            #expect(pod.finalizers == ["batch.kubernetes.io/job-tracking"])
            #expect(pod.controllerRef?.uid == "uid-job")
            try await f.finish(pod, phase: "Succeeded")
            try await f.sync()
            try await f.sync()
            #expect(f.job["status"]?["succeeded"] == 1)
            #expect(f.api.stored(.pods, namespace: "default", name: pod.name ?? "")?.finalizers.isEmpty == true, "released once counted")
            #expect(f.livePods.count == 2, "one more pod for the third completion")
            for pod in f.livePods { try await f.finish(pod, phase: "Succeeded") }
            try await f.sync()
            try await f.sync()
            #expect(f.job["status"]?["succeeded"] == 3)
            #expect(self.condition(f.job, "Complete")?["status"] == "True")
            #expect(f.job["status"]?["completionTime"] != nil)
            #expect(f.job["status"]?["uncountedTerminatedPods"] == [:])
            #expect(f.api.stored(.pods).allSatisfy { $0.finalizers.isEmpty })
        }
    }

    @Test("failures beyond backoffLimit fail the Job with BackoffLimitExceeded; replacements wait out the back-off")
    func backoffLimit() async throws {
        let f = Fixture()
        f.api.seed(.jobs, Self.job(extra: ["backoffLimit": 1]))
        try await f.run {
            try await f.sync()
            try await f.finish(try #require(f.livePods.first), phase: "Failed", exitCode: 1)
            let result = try await f.sync()
            #expect(f.job["status"]?["failed"] == 1)
            #expect(f.livePods.isEmpty, "the replacement waits for the back-off")
            guard case .requeue(let after) = result else { Issue.record("expected a requeue, got \(result)"); return }
            #expect(after > .seconds(9) && after <= .seconds(10))
            f.clock.advance(11)
            try await f.sync()
            #expect(f.livePods.count == 1)
            try await f.finish(try #require(f.livePods.first), phase: "Failed", exitCode: 1)
            try await f.sync()
            try await f.sync()
            #expect(f.job["status"]?["failed"] == 2)
            #expect(self.condition(f.job, "Failed")?["reason"] == "BackoffLimitExceeded")
            #expect(f.livePods.isEmpty)
        }
    }

    @Test("Indexed: one pod per index with its annotation, hostname and JOB_COMPLETION_INDEX; completedIndexes compact")
    func indexed() async throws {
        let f = Fixture()
        f.api.seed(.jobs, Self.job(completions: 4, parallelism: 4, extra: ["completionMode": "Indexed"]))
        try await f.run {
            try await f.sync()
            let pods = f.livePods
            #expect(Set(pods.compactMap { $0.annotations["batch.kubernetes.io/job-completion-index"] }) == ["0", "1", "2", "3"])
            let zero = try #require(pods.first { $0.annotations["batch.kubernetes.io/job-completion-index"] == "0" })
            #expect(zero["spec"]?["hostname"] == "work-0")
            #expect(zero.name?.hasPrefix("work-0-") == true)
            #expect(zero["spec"]?["containers"]?.arrayValue?.first?["env"]?.arrayValue?.first?["name"] == "JOB_COMPLETION_INDEX")
            for index in ["0", "1", "3"] {
                try await f.finish(try #require(pods.first { $0.annotations["batch.kubernetes.io/job-completion-index"] == index }), phase: "Succeeded")
            }
            try await f.sync()
            #expect(f.job["status"]?["completedIndexes"] == "0-1,3")
            #expect(self.condition(f.job, "Complete") == nil)
        }
    }

    @Test("activeDeadlineSeconds fails a running Job with DeadlineExceeded and deletes its pods")
    func deadline() async throws {
        let f = Fixture()
        f.api.seed(.jobs, Self.job(extra: ["activeDeadlineSeconds": 30]))
        try await f.run {
            let first = try await f.sync()
            guard case .requeue(let after) = first else { Issue.record("expected a requeue at the deadline, got \(first)"); return }
            #expect(after > .seconds(29) && after <= .seconds(30))
            f.clock.advance(31)
            try await f.sync()
            #expect(self.condition(f.job, "Failed")?["reason"] == "DeadlineExceeded")
            #expect(f.livePods.isEmpty)
        }
    }

    @Test("the pod failure policy: FailJob on a matching exit code fails at once; Ignore does not count", arguments: [("FailJob", 42), ("Ignore", 42), ("FailJob", 1)])
    func podFailurePolicy(action: String, exitCode: Int64) async throws {
        let f = Fixture()
        f.api.seed(.jobs, Self.job(extra: ["podFailurePolicy": ["rules": [["action": .string(action),
            "onExitCodes": ["containerName": "c", "operator": "In", "values": [42]]]]]]))
        try await f.run {
            try await f.sync()
            try await f.finish(try #require(f.livePods.first), phase: "Failed", exitCode: exitCode)
            try await f.sync()
            try await f.sync()
            switch (action, exitCode) {
            case ("FailJob", 42):
                #expect(self.condition(f.job, "Failed")?["reason"] == "PodFailurePolicy")
                #expect(self.condition(f.job, "Failed")?["message"]?.stringValue?.contains("exit code 42") == true)
            case ("Ignore", _):
                #expect(f.job["status"]?["failed"] == nil)
                #expect(f.livePods.count == 1, "replaced without back-off")
            default:
                #expect(f.job["status"]?["failed"] == 1, "no rule matched: counted")
                #expect(self.condition(f.job, "Failed") == nil)
            }
        }
    }

    @Test("suspend removes the active pods; ttlSecondsAfterFinished deletes the finished Job")
    func suspendAndTTL() async throws {
        let f = Fixture()
        f.api.seed(.jobs, Self.job(extra: ["ttlSecondsAfterFinished": 60]))
        try await f.run {
            try await f.sync()
            #expect(f.livePods.count == 1)
            var job = f.job
            job.setValue(true, at: ["spec", "suspend"])
            try await f.api.update(.jobs, namespace: "default", job)
            try await f.sync()
            #expect(f.livePods.isEmpty)
            job = f.job
            job.setValue(false, at: ["spec", "suspend"])
            try await f.api.update(.jobs, namespace: "default", job)
            try await f.sync()
            try await f.finish(try #require(f.livePods.first), phase: "Succeeded")
            try await f.sync()
            let result = try await f.sync()
            #expect(self.condition(f.job, "Complete") != nil)
            guard case .requeue(let after) = result else { Issue.record("expected a requeue at the TTL, got \(result)"); return }
            #expect(after > .seconds(59))
            f.clock.advance(61)
            try await f.sync()
            #expect(f.api.stored(.jobs).isEmpty)
        }
    }

    @Test("completed indexes parse and print as upstream writes them")
    func indexFormat() {
        #expect(JobState.formatIndexes([0, 1, 2, 4, 6, 7]) == "0-2,4,6-7")
        #expect(JobState.parseIndexes("0-2,4,6-7") == [0, 1, 2, 4, 6, 7])
        #expect(JobState.parseIndexes("") == [])
    }
}
