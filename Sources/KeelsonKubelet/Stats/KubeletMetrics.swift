import Foundation
import KeelsonStats
import Prometheus

/// The kubelet's own `/metrics`, under kubelet's names: the pods and containers it runs, and this process's CPU
/// and memory, updated from the stats history when scraped.
final class KubeletMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let start = Date()

    func render(history: StatsHistory) -> [UInt8] {
        let pods = history.pods
        registry.makeGauge(name: "kubelet_running_pods", labels: [], help: "Number of pods that have a running pod sandbox")
            .set(Double(pods.count))
        registry.makeGauge(name: "kubelet_running_containers", labels: [("container_state", "running")],
            help: "Number of containers currently running").set(Double(pods.reduce(0) { $0 + $1.containers.count }))
        registry.makeGauge(name: "kubelet_stats_history_samples", labels: [], help: "Samples held in the stats history")
            .set(Double(history.sampleCount))
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        registry.makeGauge(name: "process_cpu_seconds_total", labels: [], help: "Total user and system CPU time spent in seconds.").set(cpu)
        let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ") ?? []
        let resident = statm.count > 1 ? (Double(statm[1]) ?? 0) * Double(sysconf(Int32(_SC_PAGESIZE))) : 0
        registry.makeGauge(name: "process_resident_memory_bytes", labels: [], help: "Resident memory size in bytes.").set(resident)
        registry.makeGauge(name: "process_start_time_seconds", labels: [], help: "Start time of the process since unix epoch in seconds.")
            .set(start.timeIntervalSince1970.rounded())
        return registry.emitToBuffer()
    }
}
