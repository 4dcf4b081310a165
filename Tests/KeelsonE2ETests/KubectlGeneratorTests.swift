import Foundation
import KeelsonAPI
import Testing

/// kubectl 1.32+ sends the objects of its `create` generators as protobuf. Each case compares what the server stored
/// with what the same command renders locally (`--dry-run=client -o json`): every field kubectl set must arrive.
@Suite("kubectl create generators (protobuf bodies)", .serialized)
struct KubectlGeneratorTests {
    static let cases: [(kind: String, name: String, args: [String])] = [
        ("configmap", "g-cm", ["create", "configmap", "g-cm", "--from-literal=a=b", "--from-literal=c=d"]),
        ("secret", "g-secret", ["create", "secret", "generic", "g-secret", "--from-literal=user=admin", "--type=example.com/custom"]),
        ("secret", "g-registry", ["create", "secret", "docker-registry", "g-registry", "--docker-username=u", "--docker-password=p", "--docker-server=r.example"]),
        ("namespace", "g-ns", ["create", "namespace", "g-ns"]),
        ("serviceaccount", "g-sa", ["create", "serviceaccount", "g-sa"]),
        ("service", "g-svc", ["create", "service", "clusterip", "g-svc", "--tcp=80:8080", "--tcp=443:8443"]),
        ("service", "g-nodeport", ["create", "service", "nodeport", "g-nodeport", "--tcp=80:8080", "--node-port=30080"]),
        ("service", "g-external", ["create", "service", "externalname", "g-external", "--external-name=example.com"]),
        ("deployment", "g-deploy", ["create", "deployment", "g-deploy", "--image=nginx:1.25", "--image=busybox", "--port=8080", "--replicas=0"]),
        ("job", "g-job", ["create", "job", "g-job", "--image=busybox", "--", "echo", "hi"]),
        ("cronjob", "g-cron", ["create", "cronjob", "g-cron", "--image=busybox", "--schedule=*/5 * * * *", "--restart=OnFailure", "--", "date"]),
        ("role", "g-role", ["create", "role", "g-role", "--verb=get,list", "--resource=pods,deployments.apps", "--resource-name=x"]),
        ("rolebinding", "g-rb", ["create", "rolebinding", "g-rb", "--role=g-role", "--user=alice", "--serviceaccount=default:g-sa"]),
        ("clusterrole", "g-cr", ["create", "clusterrole", "g-cr", "--verb=get", "--resource=nodes", "--non-resource-url=/logs"]),
        ("clusterrolebinding", "g-crb", ["create", "clusterrolebinding", "g-crb", "--clusterrole=g-cr", "--group=devs"]),
        ("resourcequota", "g-quota", ["create", "quota", "g-quota", "--hard=pods=10,cpu=2,memory=1Gi", "--scopes=BestEffort"]),
        ("poddisruptionbudget", "g-pdb", ["create", "pdb", "g-pdb", "--selector=app=web", "--min-available=50%"]),
    ]

    /// Differences where `expected` has a value that `actual` lacks or holds differently (extra fields are defaults).
    static func missing(_ expected: JSONValue, in actual: JSONValue?, path: String) -> [String] {
        switch expected {
        case .null: return []
        case .object(let members):
            guard case .object(let have)? = actual else { return members.isEmpty ? [] : ["\(path): missing"] }
            return members.sorted { $0.key < $1.key }.flatMap { key, value -> [String] in
                key == "creationTimestamp" ? [] : missing(value, in: have[key], path: "\(path).\(key)")
            }
        case .array(let items):
            guard case .array(let have)? = actual, have.count == items.count else { return ["\(path): expected \(expected), got \(actual.map { "\($0)" } ?? "nothing")"] }
            return zip(items, have).enumerated().flatMap { missing($0.element.0, in: $0.element.1, path: "\(path)[\($0.offset)]") }
        default:
            return expected == actual ? [] : ["\(path): expected \(expected), got \(actual.map { "\($0)" } ?? "nothing")"]
        }
    }

    @Test("every field a generator sets is stored")
    func generators() async throws {
        try await withKeelson { k in
            for (kind, name, args) in Self.cases {
                // Flags go before a `--`, after which everything is the container's command.
                var dryRun = args
                dryRun.insert(contentsOf: ["--dry-run=client", "-o", "json"], at: args.firstIndex(of: "--") ?? args.endIndex)
                var expected = try JSONParser.parse(try await k.kubectlOK(dryRun))
                expected["status"] = nil
                let created = try await k.kubectl(args)
                #expect(created.status == 0, "kubectl \(args.joined(separator: " ")): \(created.stderr)")
                let stored = try JSONParser.parse(try await k.kubectlOK(["get", kind, name, "-o", "json"]))
                let problems = Self.missing(expected, in: stored, path: kind)
                #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
            }
        }
    }

    @Test("the protobuf path really is taken by kubectl 1.32+, and kubectl 1.31 still sends JSON")
    func contentTypes() async throws {
        try await withKeelson { k in
            let verbose = try await k.kubectl(["create", "configmap", "pb", "--from-literal=a=b", "-v=8"])
            #expect(verbose.stderr.contains("Content-Type: application/vnd.kubernetes.protobuf"))
            #expect(try await k.kubectlOK(["get", "cm", "pb", "-o", "jsonpath={.data.a}"]) == "b")
            if let directory = KeelsonProcess.kubectlDirectory,
                FileManager.default.isExecutableFile(atPath: (directory as NSString).appendingPathComponent("kubectl.1.31"))
            {
                let old = try await k.kubectl(["create", "configmap", "js", "--from-literal=a=b", "-v=8"], version: "1.31")
                #expect(old.stderr.contains("Content-Type: application/json"))
                #expect(old.status == 0)
            }
        }
    }
}
