import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import Synchronization
import Testing

@testable import KeelsonControllers

@Suite("Cron schedules")
struct CronScheduleTests {
    static func date(_ text: String) -> Date { Timestamp.parse(text)! }

    @Test("next times", arguments: [
        ("*/15 * * * *", "2026-03-01T10:07:00Z", "2026-03-01T10:15:00Z"),
        ("0 9 * * mon-fri", "2026-03-06T09:00:00Z", "2026-03-09T09:00:00Z"),  // Friday 09:00 → Monday
        ("@hourly", "2026-03-01T10:59:59Z", "2026-03-01T11:00:00Z"),
        ("30 2 1 jan,jul *", "2026-02-01T00:00:00Z", "2026-07-01T02:30:00Z"),
        ("0 0 13 * 5", "2026-03-01T00:00:00Z", "2026-03-06T00:00:00Z"),  // the 13th or a Friday: Friday the 6th first
        ("5 4 * * 7", "2026-03-01T04:05:00Z", "2026-03-08T04:05:00Z"),  // 7 is Sunday
        ("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
    ])
    func next(schedule: String, after: String, expected: String) throws {
        let parsed = try CronSchedule(schedule)
        #expect(parsed.next(after: Self.date(after)) == Self.date(expected))
    }

    @Test("a time zone shifts the schedule, and a time skipped by daylight saving does not run that day")
    func timeZones() throws {
        let newYork = TimeZone(identifier: "America/New_York")!
        let nine = try CronSchedule("0 9 * * *", timeZone: newYork)
        #expect(nine.next(after: Self.date("2026-01-10T00:00:00Z")) == Self.date("2026-01-10T14:00:00Z"))
        let twoThirty = try CronSchedule("30 2 * * *", timeZone: newYork)
        // 2026-03-08 02:30 does not exist in New York.
        #expect(twoThirty.next(after: Self.date("2026-03-08T05:00:00Z")) == Self.date("2026-03-09T06:30:00Z"))
    }

    @Test("invalid schedules are refused", arguments: ["* * * *", "61 * * * *", "*/0 * * * *", "5-1 * * * *", "TZ=UTC * * * * *", "* * * foo *"])
    func invalid(schedule: String) {
        #expect(throws: CronSchedule.Invalid.self) { try CronSchedule(schedule) }
    }
}

@Suite("CronJob controller")
struct CronJobControllerTests {
    final class Clock: Sendable {
        let time: Mutex<Date>
        init(_ date: Date) { time = Mutex(date) }
        var now: Date { time.withLock { $0 } }
        func set(_ text: String) { time.withLock { $0 = Timestamp.parse(text)! } }
    }

    struct Fixture {
        let api = FakeKubernetesAPI()
        let cronJobs: Informer
        let jobs: Informer
        let controller: CronJobController
        let clock = Clock(Timestamp.parse("2026-03-01T10:00:30Z")!)

        init() {
            cronJobs = Informer(client: api, resource: .cronJobs, logger: InformerFixture.logger)
            jobs = Informer(client: api, resource: .jobs, logger: InformerFixture.logger)
            jobs.addIndex(.ownerUID)
            let clock = self.clock
            controller = CronJobController(client: api, cronJobs: cronJobs, jobs: jobs, events: nil, logger: InformerFixture.logger,
                now: { clock.now })
        }

        func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
            try await InformerFixture.run([cronJobs, jobs], body)
        }

        @discardableResult
        func sync() async throws -> ReconcileResult {
            try await waitUntil("caches") {
                Set(jobs.list().compactMap(\.resourceVersion)) == Set(api.stored(.jobs).compactMap(\.resourceVersion))
                    && cronJobs.get("default/tick")?.resourceVersion == api.stored(.cronJobs, namespace: "default", name: "tick")?.resourceVersion
            }
            return try await controller.reconcile("default/tick")
        }

        var jobNames: [String] { api.stored(.jobs).compactMap(\.name).sorted() }

        func finish(_ name: String, _ type: String, at time: String) async throws {
            try await api.patch(.jobs, namespace: "default", name: name, [
                "status": ["startTime": .string(time), "completionTime": type == "Complete" ? .string(time) : .null,
                           "conditions": [["type": .string(type), "status": "True"]]],
            ], type: .merge, subresource: "status")
        }
    }

    static func cronJob(_ schedule: String = "*/1 * * * *", extra: [String: JSONValue] = [:]) -> JSONValue {
        var spec: JSONValue = ["schedule": .string(schedule), "concurrencyPolicy": "Allow",
                               "jobTemplate": ["metadata": ["labels": ["app": "tick"]],
                                               "spec": ["template": ["spec": ["restartPolicy": "Never", "containers": [["name": "c", "image": "busybox"]]]]]]]
        for (key, value) in extra { spec[key] = value }
        return ["apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": ["name": "tick", "namespace": "default", "uid": "uid-cj", "creationTimestamp": "2026-03-01T09:59:00Z"], "spec": spec]
    }

    @Test("a due time creates one Job named by its minute; a second sync does not create it again")
    func fires() async throws {
        let f = Fixture()
        f.api.seed(.cronJobs, Self.cronJob())
        try await f.run {
            let result = try await f.sync()
            // Due: 10:00 (created 09:59; 10:00 ≤ 10:00:30). Next at 10:01, 29.5 s away.
            let minute = Int64(Timestamp.parse("2026-03-01T10:00:00Z")!.timeIntervalSince1970) / 60
            #expect(f.jobNames == ["tick-\(minute)"])
            let job = try #require(f.api.stored(.jobs).first)
            #expect(job.controllerRef?.uid == "uid-cj")
            #expect(job.labels == ["app": "tick"])
            #expect(job.annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] == "2026-03-01T10:00:00Z")
            guard case .requeue(let after) = result else { Issue.record("expected a wake-up, got \(result)"); return }
            #expect(after == .seconds(10), "the next time is 29.5 s away; the controller looks again within 10 s")
            let cj = try #require(f.api.stored(.cronJobs, namespace: "default", name: "tick"))
            #expect(cj["status"]?["lastScheduleTime"] == "2026-03-01T10:00:00Z")
            #expect(cj["status"]?["active"]?.arrayValue?.count == 1)
            try await f.sync()
            #expect(f.jobNames.count == 1)
        }
    }

    @Test("Forbid skips while a Job runs; Replace deletes the running one first", arguments: ["Forbid", "Replace"])
    func concurrency(policy: String) async throws {
        let f = Fixture()
        f.api.seed(.cronJobs, Self.cronJob(extra: ["concurrencyPolicy": .string(policy)]))
        try await f.run {
            try await f.sync()
            f.clock.set("2026-03-01T10:01:10Z")
            try await f.sync()
            let minute = Int64(Timestamp.parse("2026-03-01T10:01:00Z")!.timeIntervalSince1970) / 60
            if policy == "Forbid" {
                #expect(f.jobNames.count == 1)
            } else {
                #expect(f.jobNames == ["tick-\(minute)"])
            }
        }
    }

    @Test("only the latest of several missed times runs, and not when it is past startingDeadlineSeconds", arguments: [nil, 30] as [Int64?])
    func missedTimes(deadline: Int64?) async throws {
        let f = Fixture()
        var extra: [String: JSONValue] = [:]
        if let deadline { extra["startingDeadlineSeconds"] = .integer(deadline) }
        f.api.seed(.cronJobs, Self.cronJob(extra: extra))
        f.clock.set("2026-03-01T10:05:45Z")  // 10:00 … 10:05 were missed; 10:05 is 45 s ago
        try await f.run {
            try await f.sync()
            if deadline == nil {
                let minute = Int64(Timestamp.parse("2026-03-01T10:05:00Z")!.timeIntervalSince1970) / 60
                #expect(f.jobNames == ["tick-\(minute)"])
            } else {
                #expect(f.jobNames.isEmpty)
            }
        }
    }

    @Test("finished Jobs beyond the history limits are deleted oldest first; lastSuccessfulTime follows")
    func history() async throws {
        let f = Fixture()
        f.api.seed(.cronJobs, Self.cronJob(extra: ["successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 0, "suspend": true]))
        try await f.run {
            for (i, type) in ["Complete", "Complete", "Failed"].enumerated() {
                var job: JSONValue = ["apiVersion": "batch/v1", "kind": "Job", "metadata": ["name": .string("old-\(i)"), "namespace": "default"]]
                job.ownerReferences = [OwnerReference(apiVersion: "batch/v1", kind: "CronJob", name: "tick", uid: "uid-cj", controller: true)]
                try await f.api.create(.jobs, namespace: "default", job)
                try await f.finish("old-\(i)", type, at: "2026-03-01T09:0\(i):00Z")
            }
            try await f.sync()
            #expect(f.jobNames == ["old-1"])
            #expect(f.api.stored(.cronJobs, namespace: "default", name: "tick")?["status"]?["lastSuccessfulTime"] == "2026-03-01T09:01:00Z")
        }
    }
}
