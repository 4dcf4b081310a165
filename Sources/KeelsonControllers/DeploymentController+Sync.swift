import Foundation
import KeelsonAPI
import KeelsonClient

extension DeploymentController {
    // MARK: Strategies

    func rolloutRolling(_ r: inout Rollout) async throws {
        try await ensureNewReplicaSet(&r, create: true)
        if let newRS = r.newRS {
            let current = Rollout.specReplicas(newRS)
            let target = current > r.replicas ? r.replicas : r.newReplicaSetTarget(current: current)
            if target != current {
                try await scale(newRS, to: target, &r)
                return
            }
        }
        if try await scaleDownOld(&r) { return }
        if r.isComplete { try await cleanUp(r) }
    }

    func rolloutRecreate(_ r: inout Rollout) async throws {
        try await ensureNewReplicaSet(&r, create: false)
        var scaledDown = false
        for rs in r.oldRSs where Rollout.specReplicas(rs) > 0 {
            try await scale(rs, to: 0, &r)
            scaledDown = true
        }
        if scaledDown { return }
        // Recreate means no old pod runs alongside a new one: wait until every old pod has stopped.
        let oldPodsRunning = r.oldRSs.contains { rs in
            Rollout.statusCount(rs, "replicas") > 0
                || pods.byIndex(InformerIndex.ownerUID.name, rs.uid ?? "").contains { !PodState.isTerminal($0) }
        }
        if oldPodsRunning { return }
        try await ensureNewReplicaSet(&r, create: true)
        if let newRS = r.newRS, Rollout.specReplicas(newRS) != r.replicas {
            try await scale(newRS, to: r.replicas, &r)
            return
        }
        if r.isComplete { try await cleanUp(r) }
    }

    /// Scaling or paused: resize without rolling — `sync` and `scale` upstream.
    func scale(_ r: inout Rollout) async throws {
        try await ensureNewReplicaSet(&r, create: false)
        let active = r.all.filter { Rollout.specReplicas($0) > 0 }
        if active.count <= 1 {
            guard let target = active.first ?? r.newRS ?? r.oldRSs.last else { return }
            if Rollout.specReplicas(target) != r.replicas || target.annotations[Self.desiredReplicasAnnotation] != String(r.replicas) {
                try await scale(target, to: r.replicas, &r)
            }
            return
        }
        if let newRS = r.newRS, Rollout.specReplicas(newRS) == r.replicas, Rollout.statusCount(newRS, "availableReplicas") >= r.replicas {
            for rs in r.oldRSs where Rollout.specReplicas(rs) > 0 { try await scale(rs, to: 0, &r) }
            return
        }
        let sizes = r.proportionalSizes()
        for rs in active {
            let size = sizes[rs.uid ?? ""] ?? Rollout.specReplicas(rs)
            if size != Rollout.specReplicas(rs) || rs.annotations[Self.desiredReplicasAnnotation] != String(r.replicas) {
                try await scale(rs, to: size, &r)
            }
        }
    }

    /// Scales old ReplicaSets down as far as `maxUnavailable` allows — `reconcileOldReplicaSets`: unhealthy pods
    /// first (they cost no availability), then healthy ones down to the minimum available. True if it scaled.
    private func scaleDownOld(_ r: inout Rollout) async throws -> Bool {
        let oldCount = r.oldRSs.map(Rollout.specReplicas).reduce(0, +)
        guard oldCount > 0 else { return false }
        let allCount = r.all.map(Rollout.specReplicas).reduce(0, +)
        let minAvailable = r.replicas - r.maxUnavailable
        let newUnavailable = r.newRS.map { Rollout.specReplicas($0) - Rollout.statusCount($0, "availableReplicas") } ?? 0
        var budget = allCount - minAvailable - newUnavailable
        guard budget > 0 else { return false }
        var scaled = false
        for rs in r.oldRSs where budget > 0 {
            let size = Rollout.specReplicas(rs)
            let unhealthy = size - Rollout.statusCount(rs, "availableReplicas")
            guard size > 0, unhealthy > 0 else { continue }
            let cut = min(unhealthy, budget)
            try await scale(rs, to: size - cut, &r)
            budget -= cut
            scaled = true
        }
        var surplus = r.availableReplicas - minAvailable
        for rs in r.oldRSs where surplus > 0 {
            let size = Rollout.specReplicas(rs)
            guard size > 0 else { continue }
            let cut = min(size, surplus)
            try await scale(rs, to: size - cut, &r)
            surplus -= cut
            scaled = true
        }
        return scaled
    }

    /// Deletes old, empty ReplicaSets beyond `revisionHistoryLimit`, oldest revision first.
    func cleanUp(_ r: Rollout) async throws {
        let removable = r.oldRSs.filter {
            Rollout.specReplicas($0) == 0 && Rollout.statusCount($0, "replicas") == 0 && $0.deletionTimestamp == nil
        }
        let excess = removable.count - r.revisionHistoryLimit
        guard excess > 0 else { return }
        for rs in removable.sorted(by: { Rollout.revision($0) < Rollout.revision($1) }).prefix(excess) {
            do {
                try await client.delete(.replicaSets, namespace: rs.namespace, name: rs.name ?? "", uid: rs.uid ?? "")
            } catch let error as APIError where error.isNotFound || error.isConflict {
                continue
            }
        }
    }

    // MARK: ReplicaSet writes

    /// Resizes a ReplicaSet and stamps the Deployment size it was sized for, recording the event `kubectl describe`
    /// shows.
    private func scale(_ rs: JSONValue, to size: Int, _ r: inout Rollout) async throws {
        let before = Rollout.specReplicas(rs)
        let patch: JSONValue = [
            "metadata": ["annotations": [
                .init(Self.desiredReplicasAnnotation): .string(String(r.replicas)),
                .init(Self.maxReplicasAnnotation): .string(String(r.replicas + r.maxSurge)),
            ]],
            "spec": ["replicas": .integer(Int64(size))],
        ]
        let updated = try await client.patch(.replicaSets, namespace: rs.namespace, name: rs.name ?? "", patch)
        if r.newRS?.uid == updated.uid {
            r.newRS = updated
        } else if let index = r.oldRSs.firstIndex(where: { $0.uid == updated.uid }) {
            r.oldRSs[index] = updated
        }
        if before != size {
            events?.record(r.deployment, apiVersion: Self.apiVersion, kind: Self.kind, .normal, reason: "ScalingReplicaSet",
                message: "Scaled \(size > before ? "up" : "down") replica set \(rs.name ?? "") from \(before) to \(size)")
        }
    }

    /// Finds or creates the new ReplicaSet and keeps the revision annotations of it and of the Deployment in step.
    private func ensureNewReplicaSet(_ r: inout Rollout, create: Bool) async throws {
        let nextRevision = r.maxOldRevision + 1
        if var newRS = r.newRS {
            if Rollout.revision(newRS) < nextRevision || newRS.annotations[Self.revisionAnnotation] == nil {
                newRS = try await client.patch(.replicaSets, namespace: newRS.namespace, name: newRS.name ?? "",
                    ["metadata": ["annotations": [.init(Self.revisionAnnotation): .string(String(nextRevision))]]])
                r.newRS = newRS
            }
            r.progressNote = ("FoundNewReplicaSet", "Found new replica set \"\(newRS.name ?? "")\"")
            try await stampRevision(&r, Rollout.revision(newRS))
            return
        }
        guard create else { return }
        let d = r.deployment
        let collisionCount = d["status"]?["collisionCount"]?.intValue
        let template = d["spec"]?["template"] ?? [:]
        let hash = Rollout.templateHash(template, collisionCount: collisionCount)
        var rsTemplate = template
        var labels = template["metadata"]?["labels"]?.objectValue ?? [:]
        labels[Self.hashLabel] = .string(hash)
        rsTemplate.setValue(.object(labels), at: ["metadata", "labels"])
        var selector = d["spec"]?["selector"] ?? [:]
        var matchLabels = selector["matchLabels"]?.objectValue ?? [:]
        matchLabels[Self.hashLabel] = .string(hash)
        selector["matchLabels"] = .object(matchLabels)
        var annotations = (d["metadata"]?["annotations"]?.objectValue ?? [:]).filter { key, _ in
            key != "kubectl.kubernetes.io/last-applied-configuration" && !key.hasPrefix("deployment.kubernetes.io/")
        }
        annotations[Self.revisionAnnotation] = .string(String(nextRevision))
        annotations[Self.desiredReplicasAnnotation] = .string(String(r.replicas))
        annotations[Self.maxReplicasAnnotation] = .string(String(r.replicas + r.maxSurge))
        let name = "\(d.name ?? "")-\(hash)"
        var rs: JSONValue = [
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": ["name": .string(name), "labels": .object(labels), "annotations": .object(annotations)],
            "spec": [
                "replicas": 0, "minReadySeconds": d["spec"]?["minReadySeconds"] ?? 0, "selector": selector, "template": rsTemplate,
            ],
        ]
        rs.ownerReferences = [ownerReference(d)]
        r.newRS = rs  // sized below, against the other ReplicaSets
        let size = r.strategy == "RollingUpdate" ? r.newReplicaSetTarget(current: 0) : r.replicas
        rs.setValue(.integer(Int64(size)), at: ["spec", "replicas"])
        r.newRS = nil
        do {
            let created = try await client.create(.replicaSets, namespace: d.namespace, rs)
            r.newRS = created
            r.progressNote = ("NewReplicaSetCreated", "Created new replica set \"\(name)\"")
            if size > 0 {
                events?.record(d, apiVersion: Self.apiVersion, kind: Self.kind, .normal, reason: "ScalingReplicaSet",
                    message: "Scaled up replica set \(name) from 0 to \(size)")
            }
        } catch let error as APIError where error.isAlreadyExists {
            // Our own ReplicaSet the cache has not seen yet, or a hash collision with someone else's.
            let existing = try await client.get(.replicaSets, namespace: d.namespace, name: name)
            if existing.controllerRef?.uid == d.uid, Rollout.templateEqualIgnoringHash(existing["spec"]?["template"] ?? [:], template) {
                r.newRS = existing
                return
            }
            var status = d["status"] ?? [:]
            status["collisionCount"] = .integer((collisionCount ?? 0) + 1)
            _ = try await StatusWriter.write(status, to: d, resource: .deployments, client: client)
            throw error
        }
        try await stampRevision(&r, nextRevision)
    }

    /// The Deployment's own revision annotation follows its new ReplicaSet's.
    private func stampRevision(_ r: inout Rollout, _ revision: Int) async throws {
        guard r.deployment.annotations[Self.revisionAnnotation] != String(revision) else { return }
        r.deployment = try await client.patch(.deployments, namespace: r.deployment.namespace, name: r.deployment.name ?? "",
            ["metadata": ["annotations": [.init(Self.revisionAnnotation): .string(String(revision))]]])
    }
}
