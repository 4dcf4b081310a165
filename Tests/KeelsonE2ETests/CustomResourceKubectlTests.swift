import Foundation
import KeelsonAPI
import Testing

/// The CronTab of Kubernetes' CustomResourceDefinition walkthrough, with printer columns, a status and a scale
/// subresource and the `all` category.
private let definition = """
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: crontabs.stable.example.com
    spec:
      group: stable.example.com
      scope: Namespaced
      names:
        plural: crontabs
        singular: crontab
        kind: CronTab
        shortNames: [ct]
        categories: [all]
      versions:
      - name: v1
        served: true
        storage: true
        schema:
          openAPIV3Schema:
            type: object
            properties:
              spec:
                type: object
                x-kubernetes-validations:
                - {rule: "self.replicas <= 10", message: at most 10 copies}
                properties:
                  cronSpec: {type: string}
                  image: {type: string}
                  replicas: {type: integer, minimum: 0, default: 1, description: How many copies of the job run at once.}
              status:
                type: object
                properties:
                  replicas: {type: integer}
                  labelSelector: {type: string}
        subresources:
          status: {}
          scale:
            specReplicasPath: .spec.replicas
            statusReplicasPath: .status.replicas
            labelSelectorPath: .status.labelSelector
        additionalPrinterColumns:
        - {name: Spec, type: string, jsonPath: .spec.cronSpec}
        - {name: Replicas, type: integer, jsonPath: .spec.replicas}
        - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    """

private func crontab(_ name: String, replicas: String = "2") -> String {
    """
    apiVersion: stable.example.com/v1
    kind: CronTab
    metadata:
      name: \(name)
    spec:
      cronSpec: "* * * * */5"
      image: my-awesome-cron-image
      replicas: \(replicas)
    """
}

@Suite("Custom resources with kubectl", .serialized)
struct CustomResourceKubectlTests {
    @Test("a CRD is applied and established; its objects are applied, listed with their columns, scaled, refused when invalid, and go with it")
    func crontabs() async throws {
        try await withKeelson { k in
            #expect(try await k.kubectlOK(["apply", "-f", "-"], stdin: definition)
                .contains("customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com created"))
            _ = try await k.kubectlOK(["wait", "--for", "condition=established", "crd/crontabs.stable.example.com", "--timeout=30s"])

            // Every kubectl from 1.27 to 1.33 applies and reads a custom object.
            for minor in 27...33 {
                let version = "1.\(minor)"
                let applied = try await k.kubectlOK(["apply", "-f", "-"], version: version, stdin: crontab("cron-\(minor)"))
                #expect(applied.contains("crontab.stable.example.com/cron-\(minor) created"), "kubectl \(version): \(applied)")
                let image = try await k.kubectlOK(["get", "crontab", "cron-\(minor)", "-o", "jsonpath={.spec.image}"], version: version)
                #expect(image == "my-awesome-cron-image", "kubectl \(version)")
                let field = try await k.kubectlOK(["explain", "crontab.spec.replicas"], version: version)
                #expect(field.contains("How many copies of the job run at once.") && field.contains("<integer>"), "kubectl \(version): \(field)")
            }

            let tooMany = try await k.kubectl(["apply", "-f", "-"], stdin: crontab("big", replicas: "11"))
            #expect(tooMany.status != 0 && tooMany.stderr.contains(#"spec: Invalid value: "object": at most 10 copies"#), "\(tooMany.stderr)")

            let explained = try await k.kubectlOK(["explain", "crontab.spec.replicas"])
            #expect(explained.contains("KIND:") && explained.contains("CronTab"), "\(explained)")
            #expect(explained.contains("replicas") && explained.contains("<integer>"), "\(explained)")
            #expect(explained.contains("How many copies of the job run at once."), "\(explained)")
            #expect(try await k.kubectlOK(["explain", "crontab.spec"]).contains("cronSpec"))

            let table = try await k.kubectlOK(["get", "crontabs"])
            let header = table.split(separator: "\n").first.map(String.init) ?? ""
            #expect(header.split(separator: " ", omittingEmptySubsequences: true) == ["NAME", "SPEC", "REPLICAS", "AGE"])
            #expect(table.contains("cron-27") && table.contains("* * * * */5"))
            #expect(try await k.kubectlOK(["get", "ct", "-o", "name"]).split(separator: "\n").count == 7)
            #expect(try await k.kubectlOK(["get", "all"]).contains("crontab.stable.example.com/cron-33"))

            // A second apply of a changed manifest is a merge patch (custom kinds have no strategic merge).
            #expect(try await k.kubectlOK(["apply", "-f", "-"], stdin: crontab("cron-33", replicas: "3"))
                .contains("crontab.stable.example.com/cron-33 configured"))
            #expect(try await k.kubectlOK(["apply", "-f", "-"], stdin: crontab("cron-33", replicas: "3"))
                .contains("crontab.stable.example.com/cron-33 unchanged"))
            #expect(try await k.kubectlOK(["get", "ct", "cron-33", "-o", "jsonpath={.spec.replicas}"]) == "3")

            let scaled = try await k.kubectlOK(["scale", "crontab/cron-27", "--replicas=5"])
            #expect(scaled.contains("crontab.stable.example.com/cron-27 scaled"))
            #expect(try await k.kubectlOK(["get", "ct", "cron-27", "-o", "jsonpath={.spec.replicas}"]) == "5")

            let invalid = try await k.kubectl(["apply", "-f", "-"], stdin: crontab("bad", replicas: "-1"))
            #expect(invalid.status != 0)
            #expect(invalid.stderr.contains("spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"),
                    "\(invalid.stderr)")
            #expect(try await k.kubectl(["get", "ct", "bad"]).status != 0)
            // kubectl validates strictly by default: an undeclared field is refused; with --validate=warn it is
            // reported and dropped.
            let unknownField = crontab("shaped").replacingOccurrences(of: "  replicas: 2", with: "  replicas: 2\n  shape: round")
            let strict = try await k.kubectl(["apply", "-f", "-"], stdin: unknownField)
            #expect(strict.status != 0)
            #expect(strict.stderr.contains(#"strict decoding error: unknown field "spec.shape""#), "\(strict.stderr)")
            let warned = try await k.kubectl(["apply", "--validate=warn", "-f", "-"], stdin: unknownField)
            #expect(warned.status == 0)
            #expect(warned.stderr.contains(#"Warning: unknown field "spec.shape""#), "\(warned.stderr)")
            #expect(try await k.kubectlOK(["get", "ct", "shaped", "-o", "jsonpath={.spec}"]).contains("shape") == false)

            // The garbage collector follows the new kind: what a custom object owns goes with it.
            let uid = try await k.kubectlOK(["get", "ct", "cron-28", "-o", "jsonpath={.metadata.uid}"])
            _ = try await k.kubectlOK(["apply", "-f", "-"], stdin: """
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: owned-by-cron
                  ownerReferences:
                  - {apiVersion: stable.example.com/v1, kind: CronTab, name: cron-28, uid: \(uid)}
                data: {a: b}
                """)
            _ = try await k.kubectlOK(["delete", "crontab", "cron-28"])
            try await eventually(seconds: 30) { try await k.kubectl(["get", "configmap", "owned-by-cron"]).status != 0 }

            #expect(try await k.kubectlOK(["delete", "crd", "crontabs.stable.example.com"])
                .contains("customresourcedefinition.apiextensions.k8s.io \"crontabs.stable.example.com\" deleted"))
            let gone = try await k.kubectl(["get", "crontabs"])
            #expect(gone.status != 0)
            // From fresh discovery kubectl says it has no such type; from its cached discovery, the list is a 404.
            #expect(gone.stderr.contains("the server doesn't have a resource type \"crontabs\"")
                || gone.stderr.contains("Unable to list \"stable.example.com/v1, Resource=crontabs\": the server could not find the requested resource"),
                "\(gone.stderr)")
        }
    }
}
