import ArgumentParser
import Foundation
import KeelsonAPI
import KeelsonClient

/// `keelson top`: the nodes' and pods' CPU and memory from metrics.k8s.io, as a table redrawn in place every
/// interval (`--once` prints it once, for scripts).
struct TopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "top",
        abstract: "Show the CPU and memory of nodes and pods, refreshed live.")

    @Option(help: "Path to the kubeconfig (default: $KUBECONFIG, else /var/lib/keelson/kubeconfig.yaml)") var kubeconfig: String?
    @Option(name: .shortAndLong, help: "Only pods of this namespace (default: all)") var namespace: String?
    @Option(help: "Time between refreshes (e.g. 2s)") var interval: String = "2s"
    @Flag(help: "Print the table once and exit") var once = false

    func validate() throws {
        guard let duration = GoDuration.parse(interval), duration >= .milliseconds(200) else {
            throw ValidationError("--interval must be a duration of at least 200ms, such as 2s")
        }
    }

    func run() async throws {
        let path = kubeconfig ?? ProcessInfo.processInfo.environment["KUBECONFIG"] ?? "/var/lib/keelson/kubeconfig.yaml"
        let configuration: ClientConfiguration
        do {
            configuration = try ClientConfiguration.kubeconfig(at: path, userAgent: "keelson-top")
        } catch {
            throw ValidationError("--kubeconfig \(path): \(error)")
        }
        try await APIClient.using(configuration) { try await loop($0) }
    }

    private func loop(_ client: APIClient) async throws {
        let pause = GoDuration.parse(interval) ?? .seconds(2)
        while true {
            let table: String
            do {
                table = try await render(client)
            } catch {
                if once { throw error }
                table = "metrics unavailable: \(error)\n"
            }
            if once {
                print(table, terminator: "")
                return
            }
            // Home and clear, then the table: a redraw in place rather than a scrolling log.
            print("\u{1B}[H\u{1B}[2J" + table, terminator: "")
            fflush(nil)
            try await Task.sleep(for: pause)
        }
    }

    func render(_ client: APIClient) async throws -> String {
        let nodeMetrics = try await client.raw(.GET, "/apis/metrics.k8s.io/v1beta1/nodes")["items"]?.arrayValue ?? []
        let nodes = try await client.raw(.GET, "/api/v1/nodes")["items"]?.arrayValue ?? []
        let podPath = namespace.map { "/apis/metrics.k8s.io/v1beta1/namespaces/\($0)/pods" } ?? "/apis/metrics.k8s.io/v1beta1/pods"
        let podMetrics = try await client.raw(.GET, podPath)["items"]?.arrayValue ?? []

        var rows = [["NODE", "CPU", "CPU%", "", "MEMORY", "MEMORY%", ""]]
        for metrics in nodeMetrics.sorted(by: { ($0.name ?? "") < ($1.name ?? "") }) {
            let allocatable = nodes.first { $0.name == metrics.name }?["status"]?["allocatable"]
            let cpu = Quantity(json: metrics["usage"]?["cpu"])?.milli ?? 0
            let memory = (Quantity(json: metrics["usage"]?["memory"])?.milli ?? 0) / 1000
            let cpuShare = Self.share(cpu, of: Quantity(json: allocatable?["cpu"])?.milli)
            let memoryShare = Self.share(memory, of: Quantity(json: allocatable?["memory"]).map { $0.milli / 1000 })
            rows.append([metrics.name ?? "", "\(cpu)m", cpuShare.map { "\($0)%" } ?? "-", Self.bar(cpuShare),
                         Self.mebibytes(memory), memoryShare.map { "\($0)%" } ?? "-", Self.bar(memoryShare)])
        }
        var podRows = [["NAMESPACE", "POD", "CPU", "MEMORY"]]
        let pods = podMetrics.map { pod -> (namespace: String, name: String, cpu: Int64, memory: Int64) in
            let containers = pod["containers"]?.arrayValue ?? []
            return (pod.metadata?["namespace"]?.stringValue ?? "", pod.name ?? "",
                    containers.reduce(0) { $0 + (Quantity(json: $1["usage"]?["cpu"])?.milli ?? 0) },
                    containers.reduce(0) { $0 + (Quantity(json: $1["usage"]?["memory"])?.milli ?? 0) / 1000 })
        }
        // Busiest first, as top sorts.
        for pod in pods.sorted(by: { ($0.cpu, $0.memory) > ($1.cpu, $1.memory) }) {
            podRows.append([pod.namespace, pod.name, "\(pod.cpu)m", Self.mebibytes(pod.memory)])
        }
        return Self.format(rows) + "\n" + Self.format(podRows)
    }

    static func share(_ used: Int64, of total: Int64?) -> Int? {
        guard let total, total > 0 else { return nil }
        return Int((Double(used) / Double(total) * 100).rounded())
    }

    static func mebibytes(_ bytes: Int64) -> String { "\(bytes / (1024 * 1024))Mi" }

    /// A ten-cell gauge of a percentage.
    static func bar(_ percent: Int?) -> String {
        guard let percent else { return "" }
        let filled = min(10, max(0, (percent + 5) / 10))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 10 - filled) + "]"
    }

    static func format(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "   ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n") + "\n"
    }
}
