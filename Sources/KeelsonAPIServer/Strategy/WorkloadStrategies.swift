import Foundation
import KeelsonAPI

/// apps/v1 and batch/v1 workloads: defaults, validation and printing.
enum WorkloadStrategies {
    private static let ageColumn = TableColumn(name: "Age", description: "CreationTimestamp is a timestamp representing the server time when this object was created.")
    private static let containersColumn = TableColumn(name: "Containers", description: "Names of each container in the template.", priority: 1)
    private static let imagesColumn = TableColumn(name: "Images", description: "Images referenced by each container in the template.", priority: 1)
    private static let selectorColumn = TableColumn(name: "Selector", description: "Label selector for pods.", priority: 1)

    private static func int(_ o: JSONValue, _ path: [String]) -> Int64 { o.value(at: path)?.intValue ?? 0 }

    private static func templateWide(_ o: JSONValue, templatePath: [String] = ["spec", "template"]) -> [JSONValue] {
        let (names, images) = TablePrinter.containerNamesAndImages(o.value(at: templatePath + ["spec"]))
        return [.string(names), .string(images), .string(TablePrinter.selectorString(o.value(at: ["spec", "selector"])))]
    }

    private static func validateReplicated(_ o: JSONValue, selectorRequired: Bool = true) -> [FieldError] {
        var errors = Validation.nonNegative(o, ["spec", "replicas"], "spec.replicas")
        if selectorRequired {
            errors += Validation.labelsMatchSelector(o, selectorPath: ["spec", "selector"],
                labelsPath: ["spec", "template", "metadata", "labels"], field: "spec.template.metadata.labels")
        }
        errors += PodStrategy.validatePodSpec(o.value(at: ["spec", "template", "spec"]), field: "spec.template.spec")
        errors += Validation.oneOf(o, ["spec", "template", "spec", "restartPolicy"], "spec.template.spec.restartPolicy", ["Always"])
        return errors
    }

    static let deployment = ResourceStrategy(
        applyDefaults: { d in
            d.setDefault(1, at: ["spec", "replicas"])
            if d.value(at: ["spec", "strategy", "type"]) == nil {
                d.setDefault("RollingUpdate", at: ["spec", "strategy", "type"])
            }
            if d.value(at: ["spec", "strategy", "type"])?.stringValue == "RollingUpdate" {
                d.setDefault("25%", at: ["spec", "strategy", "rollingUpdate", "maxUnavailable"])
                d.setDefault("25%", at: ["spec", "strategy", "rollingUpdate", "maxSurge"])
            }
            d.setDefault(10, at: ["spec", "revisionHistoryLimit"])
            d.setDefault(600, at: ["spec", "progressDeadlineSeconds"])
            PodStrategy.defaultTemplate(&d, at: ["spec", "template"])
        },
        prepareForCreate: { $0["status"] = nil },
        validate: { d in
            var errors = validateReplicated(d)
            errors += Validation.oneOf(d, ["spec", "strategy", "type"], "spec.strategy.type", ["Recreate", "RollingUpdate"])
            if d.value(at: ["spec", "strategy", "type"])?.stringValue == "Recreate", d.value(at: ["spec", "strategy", "rollingUpdate"]) != nil {
                errors.append(.forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
            }
            return errors
        },
        validateUpdate: { new, old in Validation.immutable(new, old, ["spec", "selector"], "spec.selector") },
        columns: [
            TableColumn(name: "Ready", description: "Number of the pod with ready state"),
            TableColumn(name: "Up-to-date", type: "integer", description: "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
            TableColumn(name: "Available", type: "integer", description: "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
            ageColumn, containersColumn, imagesColumn, selectorColumn,
        ],
        cells: { d, now in
            [.string("\(int(d, ["status", "readyReplicas"]))/\(int(d, ["spec", "replicas"]))"),
             .integer(int(d, ["status", "updatedReplicas"])), .integer(int(d, ["status", "availableReplicas"])),
             .string(TablePrinter.age(of: d, now: now))] + templateWide(d)
        }
    )

    static let replicaSet = ResourceStrategy(
        applyDefaults: { rs in
            rs.setDefault(1, at: ["spec", "replicas"])
            PodStrategy.defaultTemplate(&rs, at: ["spec", "template"])
        },
        prepareForCreate: { $0["status"] = nil },
        validate: { validateReplicated($0) },
        validateUpdate: { new, old in Validation.immutable(new, old, ["spec", "selector"], "spec.selector") },
        columns: [
            TableColumn(name: "Desired", type: "integer", description: "Number of desired pods."),
            TableColumn(name: "Current", type: "integer", description: "Number of actual running pods."),
            TableColumn(name: "Ready", type: "integer", description: "Number of ready pods."),
            ageColumn, containersColumn, imagesColumn, selectorColumn,
        ],
        cells: { rs, now in
            [.integer(int(rs, ["spec", "replicas"])), .integer(int(rs, ["status", "replicas"])),
             .integer(int(rs, ["status", "readyReplicas"])), .string(TablePrinter.age(of: rs, now: now))] + templateWide(rs)
        }
    )

    static let daemonSet = ResourceStrategy(
        applyDefaults: { ds in
            ds.setDefault("RollingUpdate", at: ["spec", "updateStrategy", "type"])
            if ds.value(at: ["spec", "updateStrategy", "type"])?.stringValue == "RollingUpdate" {
                ds.setDefault(1, at: ["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"])
                ds.setDefault(0, at: ["spec", "updateStrategy", "rollingUpdate", "maxSurge"])
            }
            ds.setDefault(10, at: ["spec", "revisionHistoryLimit"])
            PodStrategy.defaultTemplate(&ds, at: ["spec", "template"])
        },
        prepareForCreate: { $0["status"] = nil },
        validate: { validateReplicated($0) },
        validateUpdate: { new, old in Validation.immutable(new, old, ["spec", "selector"], "spec.selector") },
        columns: [
            TableColumn(name: "Desired", type: "integer", description: "The total number of nodes that should be running the daemon pod."),
            TableColumn(name: "Current", type: "integer", description: "The number of nodes that are running at least 1 daemon pod."),
            TableColumn(name: "Ready", type: "integer", description: "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
            TableColumn(name: "Up-to-date", type: "integer", description: "The total number of nodes that are running updated daemon pod"),
            TableColumn(name: "Available", type: "integer", description: "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available."),
            TableColumn(name: "Node Selector", description: "NodeSelector is a selector which must be true for the pod to fit on a node."),
            ageColumn, containersColumn, imagesColumn, selectorColumn,
        ],
        cells: { ds, now in
            let nodeSelector = (ds.value(at: ["spec", "template", "spec", "nodeSelector"])?.objectValue ?? [:])
                .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.stringValue ?? "")" }
            return [.integer(int(ds, ["status", "desiredNumberScheduled"])), .integer(int(ds, ["status", "currentNumberScheduled"])),
                    .integer(int(ds, ["status", "numberReady"])), .integer(int(ds, ["status", "updatedNumberScheduled"])),
                    .integer(int(ds, ["status", "numberAvailable"])), .string(TablePrinter.joinedOrNone(nodeSelector)),
                    .string(TablePrinter.age(of: ds, now: now))] + templateWide(ds)
        }
    )

    static let statefulSet = ResourceStrategy(
        applyDefaults: { sts in
            sts.setDefault(1, at: ["spec", "replicas"])
            sts.setDefault("OrderedReady", at: ["spec", "podManagementPolicy"])
            sts.setDefault("RollingUpdate", at: ["spec", "updateStrategy", "type"])
            if sts.value(at: ["spec", "updateStrategy", "type"])?.stringValue == "RollingUpdate" {
                sts.setDefault(0, at: ["spec", "updateStrategy", "rollingUpdate", "partition"])
            }
            sts.setDefault(10, at: ["spec", "revisionHistoryLimit"])
            sts.setDefault("Retain", at: ["spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"])
            sts.setDefault("Retain", at: ["spec", "persistentVolumeClaimRetentionPolicy", "whenScaled"])
            PodStrategy.defaultTemplate(&sts, at: ["spec", "template"])
            sts.updateEach(at: ["spec", "volumeClaimTemplates"]) { pvc in
                pvc.setDefault("Filesystem", at: ["spec", "volumeMode"])
            }
        },
        prepareForCreate: { $0["status"] = nil },
        validate: { sts in
            validateReplicated(sts)
                + Validation.oneOf(sts, ["spec", "podManagementPolicy"], "spec.podManagementPolicy", ["OrderedReady", "Parallel"])
        },
        validateUpdate: { new, old in
            // Only these spec fields may change (`ValidateStatefulSetUpdate`).
            var a = new["spec"] ?? .null
            var b = old["spec"] ?? .null
            for field in ["replicas", "template", "updateStrategy", "minReadySeconds", "persistentVolumeClaimRetentionPolicy", "ordinals", "revisionHistoryLimit"] {
                a[field] = nil
                b[field] = nil
            }
            return a == b ? [] : [.forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")]
        },
        columns: [TableColumn(name: "Ready", description: "Number of the pod with ready state"), ageColumn, containersColumn, imagesColumn],
        cells: { sts, now in
            let (names, images) = TablePrinter.containerNamesAndImages(sts.value(at: ["spec", "template", "spec"]))
            return [.string("\(int(sts, ["status", "readyReplicas"]))/\(int(sts, ["spec", "replicas"]))"),
                    .string(TablePrinter.age(of: sts, now: now)), .string(names), .string(images)]
        }
    )

    /// A Job's generated selector and template labels (`batch.kubernetes.io/controller-uid`), as the Job strategy
    /// sets them unless `manualSelector` is true.
    static func generateJobSelector(_ job: inout JSONValue) {
        guard job.value(at: ["spec", "manualSelector"])?.boolValue != true, let uid = job.uid, let name = job.name else { return }
        let labels: [String: JSONValue] = [
            "batch.kubernetes.io/controller-uid": .string(uid), "controller-uid": .string(uid),
            "batch.kubernetes.io/job-name": .string(name), "job-name": .string(name),
        ]
        var templateLabels = job.value(at: ["spec", "template", "metadata", "labels"])?.objectValue ?? [:]
        templateLabels.merge(labels) { _, new in new }
        job.setValue(.object(templateLabels), at: ["spec", "template", "metadata", "labels"])
        job.setDefault(["matchLabels": ["batch.kubernetes.io/controller-uid": .string(uid)]], at: ["spec", "selector"])
    }

    static func defaultJobSpec(_ spec: inout JSONValue) {
        if spec["completions"] == nil && spec["parallelism"] == nil {
            spec["completions"] = 1
            spec["parallelism"] = 1
        }
        spec.setDefault(1, at: ["parallelism"])
        spec.setDefault(6, at: ["backoffLimit"])
        spec.setDefault("NonIndexed", at: ["completionMode"])
        spec.setDefault(false, at: ["suspend"])
        spec.setDefault("TerminatingOrFailed", at: ["podReplacementPolicy"])
        if var template = spec["template"], case .object = template {
            PodStrategy.defaultTemplate(&template, at: [])
            spec["template"] = template
        }
    }

    static let job = ResourceStrategy(
        applyDefaults: { job in
            job.update(at: ["spec"]) { defaultJobSpec(&$0) }
        },
        prepareForCreate: { job in
            job["status"] = nil
            generateJobSelector(&job)
        },
        validate: { job in
            var errors = Validation.nonNegative(job, ["spec", "parallelism"], "spec.parallelism")
            errors += Validation.nonNegative(job, ["spec", "completions"], "spec.completions")
            errors += Validation.nonNegative(job, ["spec", "backoffLimit"], "spec.backoffLimit")
            errors += PodStrategy.validatePodSpec(job.value(at: ["spec", "template", "spec"]), field: "spec.template.spec")
            errors += Validation.oneOf(job, ["spec", "template", "spec", "restartPolicy"], "spec.template.spec.restartPolicy", ["OnFailure", "Never"])
            errors += Validation.oneOf(job, ["spec", "completionMode"], "spec.completionMode", ["NonIndexed", "Indexed"])
            return errors
        },
        validateUpdate: { new, old in
            Validation.immutable(new, old, ["spec", "selector"], "spec.selector")
                + Validation.immutable(new, old, ["spec", "completions"], "spec.completions")
                + Validation.immutable(new, old, ["spec", "completionMode"], "spec.completionMode")
        },
        selectableFields: { job in ["status.successful": String(job.value(at: ["status", "succeeded"])?.intValue ?? 0)] },
        columns: [
            TableColumn(name: "Status", description: "Status of the job."),
            TableColumn(name: "Completions", description: "The desired number of successfully finished pods the job should be run with."),
            TableColumn(name: "Duration", description: "Time required to complete the job."),
            ageColumn, containersColumn, imagesColumn, selectorColumn,
        ],
        cells: { job, now in
            let conditions = job.value(at: ["status", "conditions"])?.arrayValue ?? []
            func has(_ type: String) -> Bool { conditions.contains { $0["type"]?.stringValue == type && $0["status"]?.stringValue == "True" } }
            let status = has("Complete") ? "Complete" : has("Failed") ? "Failed" : has("FailureTarget") ? "FailureTarget"
                : has("Suspended") ? "Suspended" : job.deletionTimestamp != nil ? "Terminating" : "Running"
            let completions = job.value(at: ["spec", "completions"])?.intValue
            let succeeded = int(job, ["status", "succeeded"])
            let completionText = completions.map { "\(succeeded)/\($0)" } ?? "\(succeeded)/1 of \(int(job, ["spec", "parallelism"]))"
            var duration = ""
            if let start = job.value(at: ["status", "startTime"])?.stringValue.flatMap(Timestamp.parse) {
                let end = job.value(at: ["status", "completionTime"])?.stringValue.flatMap(Timestamp.parse) ?? now
                duration = TablePrinter.humanDuration(end.timeIntervalSince(start))
            }
            return [.string(status), .string(completionText), .string(duration), .string(TablePrinter.age(of: job, now: now))]
                + templateWide(job)
        }
    )

    static let cronJob = ResourceStrategy(
        applyDefaults: { cj in
            cj.setDefault("Allow", at: ["spec", "concurrencyPolicy"])
            cj.setDefault(false, at: ["spec", "suspend"])
            cj.setDefault(3, at: ["spec", "successfulJobsHistoryLimit"])
            cj.setDefault(1, at: ["spec", "failedJobsHistoryLimit"])
            cj.update(at: ["spec", "jobTemplate", "spec"]) { defaultJobSpec(&$0) }
        },
        prepareForCreate: { $0["status"] = nil },
        validate: { cj in
            var errors = Validation.required(cj, ["spec", "schedule"], "spec.schedule")
            if let schedule = cj.value(at: ["spec", "schedule"])?.stringValue, !schedule.isEmpty,
                !schedule.hasPrefix("@"), schedule.split(separator: " ").count != 5
            {
                errors.append(.invalid("spec.schedule", schedule, "unparseable schedule: expected exactly 5 fields"))
            }
            errors += Validation.oneOf(cj, ["spec", "concurrencyPolicy"], "spec.concurrencyPolicy", ["Allow", "Forbid", "Replace"])
            errors += PodStrategy.validatePodSpec(cj.value(at: ["spec", "jobTemplate", "spec", "template", "spec"]), field: "spec.jobTemplate.spec.template.spec")
            return errors
        },
        columns: [
            TableColumn(name: "Schedule", description: "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
            TableColumn(name: "Timezone", description: "The time zone name for the given schedule"),
            TableColumn(name: "Suspend", type: "boolean", description: "This flag tells the controller to suspend subsequent executions."),
            TableColumn(name: "Active", type: "integer", description: "A list of pointers to currently running jobs."),
            TableColumn(name: "Last Schedule", description: "Information when was the last time the job was successfully scheduled."),
            ageColumn, containersColumn, imagesColumn, selectorColumn,
        ],
        cells: { cj, now in
            let last = cj.value(at: ["status", "lastScheduleTime"])?.stringValue.flatMap(Timestamp.parse)
                .map { TablePrinter.humanDuration(now.timeIntervalSince($0)) } ?? "<none>"
            let (names, images) = TablePrinter.containerNamesAndImages(cj.value(at: ["spec", "jobTemplate", "spec", "template", "spec"]))
            return [.string(cj.value(at: ["spec", "schedule"])?.stringValue ?? ""),
                    .string(cj.value(at: ["spec", "timeZone"])?.stringValue ?? "<none>"),
                    .bool(cj.value(at: ["spec", "suspend"])?.boolValue ?? false),
                    .integer(Int64(cj.value(at: ["status", "active"])?.arrayValue?.count ?? 0)),
                    .string(last), .string(TablePrinter.age(of: cj, now: now)), .string(names), .string(images),
                    .string(TablePrinter.selectorString(cj.value(at: ["spec", "jobTemplate", "spec", "selector"])))]
        }
    )
}
