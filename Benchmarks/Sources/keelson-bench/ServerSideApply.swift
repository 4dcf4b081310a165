import ArgumentParser
import Foundation
import NIOCore

/// Server-side apply of a Deployment with many containers, applied again and again with one image changed each
/// time, next to the same change sent as a strategic merge patch (the reference: the patch path without the
/// field-ownership work), alternating in rounds so both see the same machine.
struct ServerSideApplyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ssa",
        abstract: "Server-side apply of a many-container Deployment, next to strategic merge patches of the same change.")
    @Option(help: "API server URL") var server: String = "https://127.0.0.1:6443"
    @Option(help: "Containers in the Deployment") var containers: Int = 50
    @Option(help: "Applies (and as many patches) in all") var patches: Int = 1_000
    @Option(help: "Rounds the two kinds of request alternate in") var rounds: Int = 10

    func run() async throws {
        try await withBenchmarkClient(connections: 2) { client in
            let namespace = "ssa-\(UInt32.random(in: 0...UInt32.max))"
            let (status, _) = try await client.send(.POST, "\(server)/api/v1/namespaces", body: #"{"metadata":{"name":"\#(namespace)"}}"#)
            guard status == 201 else { throw BenchmarkFailure(description: "cannot create namespace: \(status)") }
            let base = "\(server)/apis/apps/v1/namespaces/\(namespace)/deployments"
            for name in ["applied", "patched"] {
                let (code, body) = try await client.send(.PATCH, "\(base)/\(name)?fieldManager=bench", body: deployment(name, version: 0),
                    contentType: "application/apply-patch+yaml")
                guard code == 201 else { throw BenchmarkFailure(description: "first apply answered \(code): \(String(buffer: body))") }
            }
            var applyLatencies: [Double] = [], patchLatencies: [Double] = []
            var applySeconds = 0.0, patchSeconds = 0.0
            let perRound = patches / rounds
            for round in 0..<rounds {
                for kind in ["applied", "patched"] {
                    let start = Date()
                    for i in 0..<perRound {
                        let version = round * perRound + i + 1
                        let began = Date()
                        let code: Int
                        if kind == "applied" {
                            (code, _) = try await client.send(.PATCH, "\(base)/applied?fieldManager=bench", body: deployment("applied", version: version),
                                contentType: "application/apply-patch+yaml")
                        } else {
                            (code, _) = try await client.send(.PATCH, "\(base)/patched?fieldManager=bench", body: imagePatch(version),
                                contentType: "application/strategic-merge-patch+json")
                        }
                        guard code == 200 else { throw BenchmarkFailure(description: "\(kind) answered \(code)") }
                        let micros = Date().timeIntervalSince(began) * 1e6
                        if kind == "applied" { applyLatencies.append(micros) } else { patchLatencies.append(micros) }
                    }
                    let elapsed = Date().timeIntervalSince(start)
                    if kind == "applied" { applySeconds += elapsed } else { patchSeconds += elapsed }
                }
            }
            let applied = RunStats(operations: applyLatencies.count, errors: 0, seconds: applySeconds, latenciesMicros: applyLatencies)
            let patched = RunStats(operations: patchLatencies.count, errors: 0, seconds: patchSeconds, latenciesMicros: patchLatencies)
            print(applied.line("server-side apply, \(containers) containers"))
            print(patched.line("strategic merge patch, same change"))
            print(String(format: "apply / patch throughput: %.2f", applied.perSecond / patched.perSecond))
            _ = try? await client.send(.DELETE, "\(server)/api/v1/namespaces/\(namespace)")
        }
    }

    private func image(_ container: Int, _ version: Int) -> String {
        "registry.example/app-\(container):v\(container == version % containers ? version : 0)"
    }

    /// The whole Deployment as an applier sends it every time; only container `version % containers` differs.
    func deployment(_ name: String, version: Int) -> String {
        let list = (0..<containers).map { c in
            #"{"name":"c\#(c)","image":"\#(image(c, version))","ports":[{"containerPort":\#(8000 + c)}],"env":[{"name":"INDEX","value":"\#(c)"}],"resources":{"requests":{"cpu":"10m","memory":"16Mi"}}}"#
        }.joined(separator: ",")
        return #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"\#(name)","labels":{"app":"\#(name)"}},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"\#(name)"}},"template":{"metadata":{"labels":{"app":"\#(name)"}},"spec":{"containers":[\#(list)]}}}}"#
    }

    /// The same change as a strategic merge patch: the one container's image (and the one it replaces back).
    func imagePatch(_ version: Int) -> String {
        let changed = version % containers, previous = (version - 1) % containers
        var items = [#"{"name":"c\#(changed)","image":"\#(image(changed, version))"}"#]
        if previous != changed { items.append(#"{"name":"c\#(previous)","image":"\#(image(previous, version))"}"#) }
        return #"{"spec":{"template":{"spec":{"containers":[\#(items.joined(separator: ","))]}}}}"#
    }
}
