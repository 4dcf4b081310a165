import Foundation

/// The kubelet's Prometheus endpoints that carry container figures: `/metrics/cadvisor` under cAdvisor's metric
/// names and labels (so existing scrape configs, dashboards and alerts work), and `/metrics/resource`, the small
/// stable set metrics-server reads.
public struct ContainerMetrics: Sendable {
    public let history: StatsHistory
    public let machine: MachineInfo

    public init(history: StatsHistory, machine: MachineInfo) {
        self.history = history
        self.machine = machine
    }

    static func seconds(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1e9 }

    public func cadvisor() -> String {
        var out = PrometheusText()
        out.family("machine_cpu_cores", .gauge, "Number of logical CPU cores.")
        out.sample("machine_cpu_cores", [], Double(machine.cores))
        out.family("machine_memory_bytes", .gauge, "Amount of memory installed on the machine.")
        out.sample("machine_memory_bytes", [], Double(machine.memoryBytes))
        for pod in history.pods {
            let podLabels: [(String, String)] = [("container", ""), ("id", pod.cgroup), ("image", ""), ("name", ""),
                                                 ("namespace", pod.namespace), ("pod", pod.name)]
            if let sample = history.latest(cgroup: pod.cgroup) { cgroupFamilies(&out, sample, podLabels) }
            if let network = history.network(podUID: pod.uid) {
                for interface in network.interfaces { networkFamilies(&out, interface, podLabels + [("interface", interface.name)], network.timestamp) }
            }
            for container in pod.containers {
                let labels: [(String, String)] = [("container", container.name), ("id", container.cgroup), ("image", container.image),
                                                  ("name", container.id), ("namespace", pod.namespace), ("pod", pod.name)]
                guard let sample = history.latest(cgroup: container.cgroup) else { continue }
                cgroupFamilies(&out, sample, labels)
                out.family("container_start_time_seconds", .gauge, "Start time of the container since unix epoch in seconds.")
                out.sample("container_start_time_seconds", labels, container.startTime.timeIntervalSince1970.rounded(), at: sample.timestamp)
                if let bytes = container.writableLayerBytes {
                    out.family("container_fs_usage_bytes", .gauge, "Number of bytes that are consumed by the container on this filesystem.")
                    out.sample("container_fs_usage_bytes", labels + [("device", "")], Double(bytes), at: sample.timestamp)
                }
            }
        }
        return out.text
    }

    private func cgroupFamilies(_ out: inout PrometheusText, _ s: CgroupSample, _ labels: [(String, String)]) {
        let t = s.timestamp
        func counter(_ name: String, _ help: String, _ value: Double, _ extra: [(String, String)] = []) {
            out.family(name, .counter, help)
            out.sample(name, labels + extra, value, at: t)
        }
        func gauge(_ name: String, _ help: String, _ value: Double) {
            out.family(name, .gauge, help)
            out.sample(name, labels, value, at: t)
        }
        counter("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", Self.seconds(s.cpu.usageNanoseconds))
        counter("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.", Self.seconds(s.cpu.userNanoseconds))
        counter("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.", Self.seconds(s.cpu.systemNanoseconds))
        counter("container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", Double(s.cpu.periods))
        counter("container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", Double(s.cpu.throttledPeriods))
        counter("container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.",
            Self.seconds(s.cpu.throttledNanoseconds))
        gauge("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed",
            Double(s.memory.usageBytes))
        gauge("container_memory_working_set_bytes", "Current working set in bytes.", Double(s.memory.workingSetBytes))
        gauge("container_memory_rss", "Size of RSS in bytes.", Double(s.memory.rssBytes))
        gauge("container_memory_cache", "Number of bytes of page cache memory.", Double(s.memory.cacheBytes))
        gauge("container_memory_mapped_file", "Size of memory mapped files in bytes.", Double(s.memory.mappedFileBytes))
        counter("container_memory_failcnt", "Number of memory usage hits limits", Double(s.memory.failCount))
        for (type, value) in [("pgfault", s.memory.pageFaults), ("pgmajfault", s.memory.majorPageFaults)] {
            counter("container_memory_failures_total", "Cumulative count of memory allocation failures.", Double(value),
                [("failure_type", type), ("scope", "container")])
        }
        counter("container_oom_events_total", "Count of out of memory events observed for the container", Double(s.memory.oomKills))
        if let limit = s.memory.limitBytes {
            gauge("container_spec_memory_limit_bytes", "Memory limit for the container.", Double(limit))
        }
        gauge("container_processes", "Number of processes running inside the container.", Double(s.processes))
        gauge("container_threads", "Number of threads running inside the container", Double(s.threads))
        gauge("container_last_seen", "Last time a container was seen by the exporter", t.timeIntervalSince1970.rounded())
    }

    private func networkFamilies(_ out: inout PrometheusText, _ i: InterfaceStats, _ labels: [(String, String)], _ t: Date) {
        let figures: [(String, String, UInt64)] = [
            ("container_network_receive_bytes_total", "Cumulative count of bytes received", i.rxBytes),
            ("container_network_receive_packets_total", "Cumulative count of packets received", i.rxPackets),
            ("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving", i.rxErrors),
            ("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving", i.rxDropped),
            ("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", i.txBytes),
            ("container_network_transmit_packets_total", "Cumulative count of packets transmitted", i.txPackets),
            ("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting", i.txErrors),
            ("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting", i.txDropped),
        ]
        for (name, help, value) in figures {
            out.family(name, .counter, help)
            out.sample(name, labels, Double(value), at: t)
        }
    }

    /// `/metrics/resource`: CPU and working set of the node, each pod and each container.
    public func resource() -> String {
        var out = PrometheusText()
        out.family("node_cpu_usage_seconds_total", .counter, "[STABLE] Cumulative cpu time consumed by the node in core-seconds")
        out.family("node_memory_working_set_bytes", .gauge, "[STABLE] Current working set of the node in bytes")
        if let node = history.latestNode {
            out.sample("node_cpu_usage_seconds_total", [], Self.seconds(node.cpuNanoseconds), at: node.timestamp)
            out.sample("node_memory_working_set_bytes", [], Double(node.memoryWorkingSetBytes), at: node.timestamp)
        }
        out.family("pod_cpu_usage_seconds_total", .counter, "[STABLE] Cumulative cpu time consumed by the pod in core-seconds")
        out.family("pod_memory_working_set_bytes", .gauge, "[STABLE] Current working set of the pod in bytes")
        out.family("container_cpu_usage_seconds_total", .counter, "[STABLE] Cumulative cpu time consumed by the container in core-seconds")
        out.family("container_memory_working_set_bytes", .gauge, "[STABLE] Current working set of the container in bytes")
        out.family("container_start_time_seconds", .gauge, "[STABLE] Start time of the container since unix epoch in seconds")
        for pod in history.pods {
            let podLabels: KeyValuePairs = ["namespace": pod.namespace, "pod": pod.name]
            if let s = history.latest(cgroup: pod.cgroup) {
                out.sample("pod_cpu_usage_seconds_total", podLabels, Self.seconds(s.cpu.usageNanoseconds), at: s.timestamp)
                out.sample("pod_memory_working_set_bytes", podLabels, Double(s.memory.workingSetBytes), at: s.timestamp)
            }
            for c in pod.containers {
                guard let s = history.latest(cgroup: c.cgroup) else { continue }
                let labels: KeyValuePairs = ["container": c.name, "namespace": pod.namespace, "pod": pod.name]
                out.sample("container_cpu_usage_seconds_total", labels, Self.seconds(s.cpu.usageNanoseconds), at: s.timestamp)
                out.sample("container_memory_working_set_bytes", labels, Double(s.memory.workingSetBytes), at: s.timestamp)
                out.sample("container_start_time_seconds", labels, c.startTime.timeIntervalSince1970.rounded(), at: s.timestamp)
            }
        }
        out.family("resource_scrape_error", .gauge, "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise")
        out.sample("resource_scrape_error", [], 0)
        return out.text
    }
}
