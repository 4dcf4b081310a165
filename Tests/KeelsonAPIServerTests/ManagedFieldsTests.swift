import KeelsonAPI
import Testing

@testable import KeelsonAPIServer

/// The set algebra of field ownership and the rules of server-side apply, on objects, without a server: cases
/// from Kubernetes' documentation of server-side apply (conflicts, shared ownership, force, removal of fields
/// no longer applied, updates taking fields over).
@Suite("Managed fields")
struct ManagedFieldsTests {
    static let deploymentSchema = MergeSchema.forBuiltIn(group: "apps", kind: "Deployment")

    static func deployment(replicas: Int64? = 3, image: String = "nginx:1.27", labels: [String: JSONValue] = ["app": "web"]) -> JSONValue {
        var spec: [String: JSONValue] = [
            "selector": ["matchLabels": ["app": "web"]],
            "template": [
                "metadata": ["labels": ["app": "web"]],
                "spec": ["containers": [["name": "web", "image": .string(image), "ports": [["containerPort": 80]]]]],
            ],
        ]
        if let replicas { spec["replicas"] = .integer(replicas) }
        return ["apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": ["name": "web", "namespace": "default", "labels": .object(labels)], "spec": .object(spec)]
    }

    static func apply(_ config: JSONValue, to live: JSONValue?, by manager: String, force: Bool = false) throws -> JSONValue {
        try ManagedFields.apply(config, to: live, manager: manager, force: force, apiVersion: "apps/v1", subresource: nil,
            hasStatus: true, schema: deploymentSchema, resource: "deployments", group: "apps")
    }

    /// A Deployment applied by "kubectl" whose entry was recorded at an old time, to tell kept times from new ones.
    static func appliedLongAgo() throws -> JSONValue {
        var live = try apply(deployment(), to: nil, by: "kubectl")
        var entries = live.metadata?["managedFields"]?.arrayValue ?? []
        entries[0]["time"] = "2020-01-01T00:00:00Z"
        live.setMetadataField("managedFields", .array(entries))
        return live
    }

    static func owned(_ object: JSONValue, by manager: String, operation: String = ManagedFieldsEntry.apply) -> [String] {
        let entry = ManagedFields.of(object)?.entries.first { $0.manager == manager && $0.operation == operation }
        return entry?.fields.paths.map(FieldSet.pathText) ?? []
    }

    @Test("FieldsV1 is read and written back unchanged: fields, keyed items, set values, '.' on owned nodes with children")
    func fieldsV1RoundTrip() throws {
        let text = #"{"f:metadata":{"f:finalizers":{"v:\"example.com/x\"":{}},"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}"#
        let document = try JSONParser.parse(text)
        let set = try #require(FieldSet(fieldsV1: document))
        #expect(set.fieldsV1 == document)
        #expect(set.paths.map(FieldSet.pathText) == [
            ".metadata.finalizers[=\"example.com/x\"]", ".metadata.labels", ".metadata.labels.app", ".spec.replicas",
            ".spec.template.spec.containers[name=\"web\"]", ".spec.template.spec.containers[name=\"web\"].image",
            ".spec.template.spec.containers[name=\"web\"].ports[containerPort=80,protocol=\"TCP\"]",
            ".spec.template.spec.containers[name=\"web\"].ports[containerPort=80,protocol=\"TCP\"].containerPort",
        ])
        #expect(FieldSet(fieldsV1: ["x:bad": [:]]) == nil)
        #expect(FieldSet(fieldsV1: ["f:a": "not an object"]) == nil)
    }

    @Test("union, difference and intersection work path by path")
    func setAlgebra() {
        var a = FieldSet(), b = FieldSet()
        a.insert([.field("spec"), .field("replicas")])
        a.insert([.field("spec"), .field("paused")])
        b.insert([.field("spec"), .field("replicas")])
        b.insert([.field("metadata"), .field("labels"), .field("app")])
        #expect(a.union(b).paths.map(FieldSet.pathText) == [".metadata.labels.app", ".spec.paused", ".spec.replicas"])
        #expect(a.subtracting(b).paths.map(FieldSet.pathText) == [".spec.paused"])
        #expect(a.intersection(b).paths.map(FieldSet.pathText) == [".spec.replicas"])
        #expect(a.subtracting(a).isEmpty)
        #expect(a.contains([.field("spec"), .field("paused")]) && !a.contains([.field("spec")]))
    }

    @Test("an applied configuration owns its leaves and list items, keyed as the built-in schema says, and atomic structs (the selector) whole; identity fields are nobody's")
    func appliedFieldSet() throws {
        let object = try Self.apply(Self.deployment(), to: nil, by: "kubectl")
        #expect(Self.owned(object, by: "kubectl") == [
            ".metadata.labels.app", ".spec.replicas", ".spec.selector", ".spec.template.metadata.labels.app",
            ".spec.template.spec.containers[name=\"web\"]", ".spec.template.spec.containers[name=\"web\"].image",
            ".spec.template.spec.containers[name=\"web\"].name",
            ".spec.template.spec.containers[name=\"web\"].ports[containerPort=80,protocol=\"TCP\"]",
            ".spec.template.spec.containers[name=\"web\"].ports[containerPort=80,protocol=\"TCP\"].containerPort",
        ])
        #expect(object.name == "web" && object.kind == "Deployment")
    }

    @Test("a field another manager set is a conflict naming it and its manager; the same value is shared, not a conflict")
    func conflicts() throws {
        // Created by `kubectl create` (an Update) with 1 replica.
        var live = Self.deployment(replicas: 1)
        ManagedFields.recordUpdate(old: nil, new: &live, sent: nil, manager: "kubectl-create", apiVersion: "apps/v1",
            subresource: nil, hasStatus: true, schema: Self.deploymentSchema)
        #expect(Self.owned(live, by: "kubectl-create", operation: ManagedFieldsEntry.update).contains(".spec.replicas"))

        #expect {
            _ = try Self.apply(Self.deployment(replicas: 3), to: live, by: "kubectl")
        } throws: { error in
            guard let status = error as? Status else { return false }
            return status.code == 409 && status.reason == .conflict
                && status.message == "Apply failed with 1 conflict: conflict with \"kubectl-create\" using apps/v1: .spec.replicas"
                && status.details?.causes == [.init(reason: "FieldManagerConflict", message: "conflict with \"kubectl-create\" using apps/v1", field: ".spec.replicas")]
        }
        // The same values: no conflict, and both own them.
        let shared = try Self.apply(Self.deployment(replicas: 1), to: live, by: "kubectl")
        #expect(Self.owned(shared, by: "kubectl").contains(".spec.replicas"))
        #expect(Self.owned(shared, by: "kubectl-create", operation: ManagedFieldsEntry.update).contains(".spec.replicas"))

        // Conflicts with several managers: grouped by manager, sorted.
        var edited = Self.deployment(replicas: 1, image: "nginx:1.26")
        edited.setMetadataField("managedFields", shared.metadata?["managedFields"])
        ManagedFields.recordUpdate(old: shared, new: &edited, sent: nil, manager: "kubectl-edit", apiVersion: "apps/v1", subresource: nil,
            hasStatus: true, schema: Self.deploymentSchema)
        let expected = """
            Apply failed with 3 conflicts: conflicts with "kubectl":
            - .spec.replicas
            conflicts with "kubectl-create" using apps/v1:
            - .spec.replicas
            conflicts with "kubectl-edit" using apps/v1:
            - .spec.template.spec.containers[name="web"].image
            """
        #expect {
            _ = try Self.apply(Self.deployment(replicas: 5, image: "nginx:1.28"), to: edited, by: "ci")
        } throws: { error in
            (error as? Status)?.message == expected
        }
    }

    @Test("force takes the conflicting fields over; the former owner keeps the rest")
    func force() throws {
        var live = Self.deployment(replicas: 1)
        ManagedFields.recordUpdate(old: nil, new: &live, sent: nil, manager: "kubectl-create", apiVersion: "apps/v1",
            subresource: nil, hasStatus: true, schema: Self.deploymentSchema)
        let forced = try Self.apply(Self.deployment(replicas: 3), to: live, by: "kubectl", force: true)
        #expect(forced.value(at: ["spec", "replicas"]) == 3)
        #expect(Self.owned(forced, by: "kubectl").contains(".spec.replicas"))
        let creator = Self.owned(forced, by: "kubectl-create", operation: ManagedFieldsEntry.update)
        #expect(!creator.contains(".spec.replicas") && creator.contains(".spec.template.spec.containers[name=\"web\"].image"))
    }

    @Test("an apply that changes nothing returns the live object as it was, recorded times included")
    func noOpApply() throws {
        let live = try Self.appliedLongAgo()
        #expect(try Self.apply(Self.deployment(), to: live, by: "kubectl") == live)
        let changed = try Self.apply(Self.deployment(replicas: 4), to: live, by: "kubectl")
        #expect(changed.metadata?["managedFields"]?.arrayValue?.first?["time"] != "2020-01-01T00:00:00Z")
    }

    @Test("a field the applier stops applying is removed, unless another manager owns it too")
    func removal() throws {
        let first = try Self.apply(Self.deployment(labels: ["app": "web", "tier": "front"]), to: nil, by: "kubectl")
        let second = try Self.apply(Self.deployment(labels: ["app": "web"]), to: first, by: "kubectl")
        #expect(second.metadata?["labels"] == ["app": "web"])
        #expect(!Self.owned(second, by: "kubectl").contains(".metadata.labels.tier"))

        // Another applier shares the label: it stays when the first stops applying it.
        let sharedConfig: JSONValue = ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web", "labels": ["tier": "front"]]]
        let shared = try Self.apply(sharedConfig, to: first, by: "team")
        let kept = try Self.apply(Self.deployment(labels: ["app": "web"]), to: shared, by: "kubectl")
        #expect(kept.metadata?["labels"] == ["app": "web", "tier": "front"])
        #expect(Self.owned(kept, by: "team") == [".metadata.labels.tier"])

        // A container left out of the configuration goes, with its fields.
        var two = Self.deployment()
        two.setValue([["name": "web", "image": "nginx"], ["name": "log", "image": "busybox"]], at: ["spec", "template", "spec", "containers"])
        let withTwo = try Self.apply(two, to: nil, by: "kubectl")
        let withOne = try Self.apply(Self.deployment(), to: withTwo, by: "kubectl")
        #expect(withOne.value(at: ["spec", "template", "spec", "containers"])?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["web"])
    }

    @Test("an update takes over the fields it changes; removing a field removes it from every owner")
    func updatesTakeOver() throws {
        let applied = try Self.apply(Self.deployment(), to: nil, by: "kubectl")
        var scaled = applied
        scaled.setValue(5, at: ["spec", "replicas"])
        ManagedFields.recordUpdate(old: applied, new: &scaled, sent: nil, manager: "kubectl-scale", apiVersion: "apps/v1",
            subresource: nil, hasStatus: true, schema: Self.deploymentSchema)
        #expect(Self.owned(scaled, by: "kubectl-scale", operation: ManagedFieldsEntry.update) == [".spec.replicas"])
        #expect(!Self.owned(scaled, by: "kubectl").contains(".spec.replicas"))
        // Applying the old value again is now a conflict with the scaler.
        #expect(throws: Status.self) { try Self.apply(Self.deployment(), to: scaled, by: "kubectl") }

        var unlabelled = scaled
        unlabelled.setMetadataField("labels", nil)
        ManagedFields.recordUpdate(old: scaled, new: &unlabelled, sent: nil, manager: "kubectl-edit", apiVersion: "apps/v1",
            subresource: nil, hasStatus: true, schema: Self.deploymentSchema)
        #expect(!Self.owned(unlabelled, by: "kubectl").contains(".metadata.labels.app"))
        #expect(ManagedFields.of(unlabelled)?.entries.contains { $0.manager == "kubectl-edit" } == false, "removing owns nothing")

        // Status written through the status subresource is owned under that subresource, not by the main resource.
        var withStatus = unlabelled
        withStatus["status"] = ["replicas": 5]
        ManagedFields.recordUpdate(old: unlabelled, new: &withStatus, sent: nil, manager: "controller", apiVersion: "apps/v1",
            subresource: "status", hasStatus: true, schema: Self.deploymentSchema)
        let entry = ManagedFields.of(withStatus)?.entries.first { $0.manager == "controller" }
        #expect(entry?.subresource == "status" && entry?.fields.paths.map(FieldSet.pathText) == [".status.replicas"])
    }

    @Test("a write that changes no owned field keeps the stored entries as they are, even when the client leaves them out")
    func untouchedEntries() throws {
        let live = try Self.appliedLongAgo()
        var touched = live
        touched.setMetadataField("managedFields", nil)
        touched.setMetadataField("generation", 7)
        ManagedFields.recordUpdate(old: live, new: &touched, sent: nil, manager: "other", apiVersion: "apps/v1",
            subresource: nil, hasStatus: true, schema: Self.deploymentSchema)
        #expect(touched.metadata?["managedFields"] == live.metadata?["managedFields"])
    }

    @Test("more than ten updaters: the oldest are folded into one ancient-changes entry")
    func updatersCapped() {
        var object: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"], "data": [:]]
        for writer in 0..<12 {
            var next = object
            next.setValue(.string("\(writer)"), at: ["data", "k\(writer)"])
            ManagedFields.recordUpdate(old: object, new: &next, sent: nil, manager: "writer-\(writer)", apiVersion: "v1",
                subresource: nil, hasStatus: false, schema: .deduced)
            object = next
        }
        let entries = ManagedFields.of(object)?.entries ?? []
        #expect(entries.count == 10)
        #expect(entries.filter { $0.manager.hasPrefix("writer-") }.count == 9)
        let folded = entries.first { $0.manager == ManagedFields.foldedUpdater }
        #expect(folded?.fields.paths.count == 3, "the three oldest writers' fields")
        #expect(entries.contains { $0.manager == "writer-11" })
    }

    @Test("managedFields a client sends replace the recorded ones; one empty entry clears them; garbage is ignored")
    func clientManagedFields() throws {
        let applied = try Self.apply(Self.deployment(), to: nil, by: "kubectl")
        var cleared = applied
        cleared.setMetadataField("managedFields", [[:]])
        ManagedFields.recordUpdate(old: applied, new: &cleared, sent: cleared.metadata?["managedFields"], manager: "x", apiVersion: "apps/v1",
            subresource: nil, hasStatus: true, schema: Self.deploymentSchema)
        #expect(cleared.metadata?["managedFields"] == nil)
        #expect(ManagedFields.of(["metadata": ["managedFields": [["manager": "m"]]]]) == nil)
    }

    @Test("sets and custom schemas: list-type map keys, set values, atomic lists and maps")
    func customSchema() throws {
        let schema = MergeSchema.forCustomKind([
            "type": "object",
            "properties": [
                "spec": [
                    "type": "object",
                    "properties": [
                        "ports": ["type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                                  "items": ["type": "object", "properties": ["name": ["type": "string"], "port": ["type": "integer"]]]],
                        "tags": ["type": "array", "x-kubernetes-list-type": "set", "items": ["type": "string"]],
                        "args": ["type": "array", "items": ["type": "string"]],
                        "selector": ["type": "object", "x-kubernetes-map-type": "atomic", "additionalProperties": ["type": "string"]],
                    ],
                ],
            ],
        ])
        let config: JSONValue = ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "w", "finalizers": ["a/b"]],
            "spec": ["ports": [["name": "http", "port": 80]], "tags": ["x", "y"], "args": ["-v"], "selector": ["a": "b"]]]
        let object = try ManagedFields.apply(config, to: nil, manager: "m", force: false, apiVersion: "example.com/v1", subresource: nil,
            hasStatus: false, schema: schema, resource: "widgets", group: "example.com")
        #expect(Self.owned(object, by: "m") == [
            ".metadata.finalizers[=\"a/b\"]", ".spec.args", ".spec.ports[name=\"http\"]", ".spec.ports[name=\"http\"].name",
            ".spec.ports[name=\"http\"].port", ".spec.selector", ".spec.tags[=\"x\"]", ".spec.tags[=\"y\"]",
        ])
        // A second applier adds a port and a tag: merged in, not replacing.
        let more: JSONValue = ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "w"],
            "spec": ["ports": [["name": "metrics", "port": 9090]], "tags": ["z"]]]
        let merged = try ManagedFields.apply(more, to: object, manager: "other", force: false, apiVersion: "example.com/v1", subresource: nil,
            hasStatus: false, schema: schema, resource: "widgets", group: "example.com")
        #expect(merged.value(at: ["spec", "ports"])?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["http", "metrics"])
        #expect(merged.value(at: ["spec", "tags"]) == ["x", "y", "z"])
        // Duplicate keys in one configuration are refused as invalid, not as a conflict.
        let duplicated: JSONValue = ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "w"],
            "spec": ["ports": [["name": "http", "port": 80], ["name": "http", "port": 81]]]]
        #expect {
            _ = try ManagedFields.apply(duplicated, to: object, manager: "m", force: false, apiVersion: "example.com/v1", subresource: nil,
                hasStatus: false, schema: schema, resource: "widgets", group: "example.com")
        } throws: { ($0 as? Status)?.code == 422 }
    }
}
