import Foundation
import Logging

/// Keeps container logs bounded, as kubelet's container log manager does: a running container's log file larger
/// than `maxSize` is renamed to `FILE.TIMESTAMP` and the runtime reopens a fresh one; of the rotated files the
/// newest `maxFiles - 1` are kept. `kubectl logs` reads the current file.
struct ContainerLogRotation: Sendable {
    let runtime: any ContainerRuntime
    let logger: Logger
    var maxSize: Int64 = 10 * 1024 * 1024
    var maxFiles = 5
    var period: Duration = .seconds(10)

    func run() async {
        while !Task.isCancelled {
            await rotateOnce()
            try? await Task.sleep(for: period)
        }
    }

    func rotateOnce() async {
        guard let containers = try? await runtime.listContainers() else { return }
        for summary in containers where summary.state == .running && summary.labels[RuntimeLabels.podUID] != nil {
            guard let status = try? await runtime.containerStatus(summary.id), !status.logPath.isEmpty else { continue }
            do {
                try await rotate(status.logPath, containerID: summary.id)
            } catch {
                logger.info("container log not rotated", metadata: ["path": "\(status.logPath)", "error": "\(error)"])
            }
        }
    }

    func rotate(_ path: String, containerID: String) async throws {
        let files = FileManager.default
        guard let size = (try? files.attributesOfItem(atPath: path))?[.size] as? Int64, size > maxSize else { return }
        let stamp = Self.stamp(Date())
        try files.moveItem(atPath: path, toPath: "\(path).\(stamp)")
        do {
            try await runtime.reopenContainerLog(containerID)
        } catch {
            // The runtime still writes to the renamed file: put it back rather than lose what follows.
            try? files.moveItem(atPath: "\(path).\(stamp)", toPath: path)
            throw error
        }
        let directory = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent + "."
        let rotated = ((try? files.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix(base) }.sorted()
        for old in rotated.dropLast(max(0, maxFiles - 1)) { try? files.removeItem(atPath: "\(directory)/\(old)") }
    }

    /// Sortable as text: `20261128-183512.123456`.
    static func stamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss.SSSSSS"
        return formatter.string(from: date)
    }
}
