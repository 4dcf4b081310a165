import KeelsonAPI
import Testing

@testable import KeelsonAPIServer

@Suite("JSON patch")
struct JSONPatchTests {
    @Test("add, remove, replace, move, copy and test")
    func operations() throws {
        let doc: JSONValue = ["a": 1, "list": ["x", "y"], "nested": ["k": "v"]]
        let patch = try JSONParser.parse("""
            [{"op":"add","path":"/b","value":2},{"op":"add","path":"/list/1","value":"w"},{"op":"add","path":"/list/-","value":"z"},
             {"op":"remove","path":"/a"},{"op":"replace","path":"/nested/k","value":"v2"},{"op":"move","from":"/b","path":"/c"},
             {"op":"copy","from":"/c","path":"/d"},{"op":"test","path":"/d","value":2},{"op":"add","path":"/nested/a~1b","value":true}]
            """)
        let result = try JSONPatch.apply(patch, to: doc)
        #expect(result == ["list": ["x", "w", "y", "z"], "nested": ["k": "v2", "a/b": true], "c": 2, "d": 2])
    }

    @Test("a failed test or a missing path fails the whole patch")
    func failures() throws {
        let doc: JSONValue = ["a": 1]
        #expect(throws: PatchError.self) { try JSONPatch.apply(try JSONParser.parse(#"[{"op":"test","path":"/a","value":2}]"#), to: doc) }
        #expect(throws: PatchError.self) { try JSONPatch.apply(try JSONParser.parse(#"[{"op":"remove","path":"/b"}]"#), to: doc) }
        #expect(throws: PatchError.self) { try JSONPatch.apply(try JSONParser.parse(#"{"op":"add"}"#), to: doc) }
    }
}

@Suite("Merge patch")
struct MergePatchTests {
    @Test("RFC 7386 examples")
    func rfcExamples() throws {
        let target = try JSONParser.parse(#"{"a":"b","c":{"d":"e","f":"g"}}"#)
        let patch = try JSONParser.parse(#"{"a":"z","c":{"f":null}}"#)
        #expect(MergePatch.apply(patch, to: target) == (try JSONParser.parse(#"{"a":"z","c":{"d":"e"}}"#)))
        #expect(MergePatch.apply(["a": ["b"]], to: ["a": ["c", "d"]]) == ["a": ["b"]])
        #expect(MergePatch.apply(["a": ["b": "c"]], to: ["a": "string"]) == ["a": ["b": "c"]])
    }
}

@Suite("Strategic merge patch")
struct StrategicMergePatchTests {
    let deployment = PatchSchema.forKind(group: "apps", kind: "Deployment")

    func template(_ containers: JSONValue, volumes: JSONValue? = nil) -> JSONValue {
        var spec: JSONValue = ["containers": containers]
        if let volumes { spec["volumes"] = volumes }
        return ["spec": ["replicas": 1, "template": ["metadata": ["labels": ["app": "web"]], "spec": spec]]]
    }

    @Test("containers merge by name: a changed image and an added container")
    func containersMergeByName() throws {
        let original = template([["name": "nginx", "image": "nginx:1.25", "ports": [["containerPort": 80]]], ["name": "log", "image": "busybox"]])
        let patch = try JSONParser.parse(#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.26"},{"name":"new","image":"alpine"}]}}}}"#)
        let result = try StrategicMergePatch.apply(patch, to: original, schema: deployment)
        let containers = result.value(at: ["spec", "template", "spec", "containers"])?.arrayValue ?? []
        #expect(containers.map { $0["name"]?.stringValue ?? "" } == ["nginx", "log", "new"])
        #expect(containers[0]["image"] == "nginx:1.26")
        #expect(containers[0]["ports"] == [["containerPort": 80]])
    }

    @Test("$patch: delete removes one element, and $setElementOrder orders the list as kubectl sends it")
    func deleteAndOrder() throws {
        let original = template([["name": "a", "image": "a"], ["name": "b", "image": "b"], ["name": "c", "image": "c"]])
        let patch = try JSONParser.parse("""
            {"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"a"}],
             "containers":[{"$patch":"delete","name":"b"}]}}}}
            """)
        let result = try StrategicMergePatch.apply(patch, to: original, schema: deployment)
        let names = result.value(at: ["spec", "template", "spec", "containers"])?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(names == ["c", "a"])
    }

    @Test("env, ports and volume mounts merge by their keys; null deletes a field")
    func nestedMergeKeys() throws {
        let original = template([["name": "app", "image": "x", "env": [["name": "A", "value": "1"], ["name": "B", "value": "2"]],
                                  "volumeMounts": [["mountPath": "/data", "name": "data"]], "args": ["--old"]]])
        let patch = try JSONParser.parse("""
            {"spec":{"replicas":null,"template":{"spec":{"containers":[{"name":"app","env":[{"name":"B","value":"3"},{"name":"C","value":"4"}],
             "volumeMounts":[{"mountPath":"/data","readOnly":true}],"args":["--new"]}]}}}}
            """)
        let result = try StrategicMergePatch.apply(patch, to: original, schema: deployment)
        let container = result.value(at: ["spec", "template", "spec", "containers"])?.arrayValue?.first
        #expect(container?["env"] == [["name": "A", "value": "1"], ["name": "B", "value": "3"], ["name": "C", "value": "4"]])
        #expect(container?["volumeMounts"] == [["mountPath": "/data", "name": "data", "readOnly": true]])
        #expect(container?["args"] == ["--new"])
        #expect(result.value(at: ["spec", "replicas"]) == nil)
    }

    @Test("$retainKeys clears the fields of a strategy switch, as kubectl sends for Recreate")
    func retainKeys() throws {
        let original: JSONValue = ["spec": ["strategy": ["type": "RollingUpdate", "rollingUpdate": ["maxSurge": "25%"]]]]
        let patch = try JSONParser.parse(#"{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}"#)
        let result = try StrategicMergePatch.apply(patch, to: original, schema: deployment)
        #expect(result.value(at: ["spec", "strategy"]) == ["type": "Recreate"])
    }

    @Test("finalizers merge as a set and $deleteFromPrimitiveList removes values")
    func primitiveLists() throws {
        let original: JSONValue = ["metadata": ["finalizers": ["a", "b"]]]
        let added = try StrategicMergePatch.apply(["metadata": ["finalizers": ["b", "c"]]], to: original, schema: deployment)
        #expect(added.value(at: ["metadata", "finalizers"]) == ["a", "b", "c"])
        let removed = try StrategicMergePatch.apply(["metadata": ["$deleteFromPrimitiveList/finalizers": ["a"]]], to: added, schema: deployment)
        #expect(removed.value(at: ["metadata", "finalizers"]) == ["b", "c"])
    }

    @Test("$patch: replace replaces a map wholesale; lists without a strategy replace")
    func replaceDirective() throws {
        let original: JSONValue = ["metadata": ["labels": ["a": "1", "b": "2"]], "spec": ["tolerations": [["key": "x"]]]]
        let patch = try JSONParser.parse(#"{"metadata":{"labels":{"$patch":"replace","c":"3"}},"spec":{"tolerations":[{"key":"y"}]}}"#)
        let result = try StrategicMergePatch.apply(patch, to: original, schema: .forKind(group: "", kind: "Pod"))
        #expect(result.value(at: ["metadata", "labels"]) == ["c": "3"])
        #expect(result.value(at: ["spec", "tolerations"]) == [["key": "y"]])
    }

    @Test("service ports merge by port")
    func servicePorts() throws {
        let original: JSONValue = ["spec": ["ports": [["port": 80, "name": "http"], ["port": 443, "name": "https"]]]]
        let patch: JSONValue = ["spec": ["ports": [["port": 443, "targetPort": 8443]]]]
        let result = try StrategicMergePatch.apply(patch, to: original, schema: .forKind(group: "", kind: "Service"))
        #expect(result.value(at: ["spec", "ports"]) == [["port": 80, "name": "http"], ["port": 443, "name": "https", "targetPort": 8443]])
    }

    @Test("a list element without its merge key is a malformed patch")
    func missingMergeKey() {
        let patch: JSONValue = ["spec": ["template": ["spec": ["containers": [["image": "x"]]]]]]
        #expect(throws: PatchError.self) { try StrategicMergePatch.apply(patch, to: template([]), schema: deployment) }
    }
}
