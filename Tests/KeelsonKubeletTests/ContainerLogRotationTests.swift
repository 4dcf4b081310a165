import Foundation
import Testing

@testable import KeelsonKubelet

@Suite("Container log rotation")
struct ContainerLogRotationTests {
    @Test("a log past the size limit is renamed and reopened; only the newest rotated files are kept")
    func rotation() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-rotation-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let runtime = FakeContainerRuntime()
        let rotation = ContainerLogRotation(runtime: runtime, logger: .init(label: "test"), maxSize: 1000, maxFiles: 3)
        let path = directory.appendingPathComponent("0.log").path

        try Data(count: 500).write(to: URL(fileURLWithPath: path))
        try await rotation.rotate(path, containerID: "c1")
        #expect(runtime.calls.isEmpty, "under the limit nothing happens")

        for round in 0..<4 {
            try Data(repeating: UInt8(round), count: 1500).write(to: URL(fileURLWithPath: path))
            try await rotation.rotate(path, containerID: "c1")
            #expect(!FileManager.default.fileExists(atPath: path), "renamed away; the runtime makes the new file")
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(runtime.calls.filter { $0.hasPrefix("reopenLog") }.count == 4)
        let rotated = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("0.log.") }.sorted()
        #expect(rotated.count == 2, "max files 3: the current one and the two newest rotated: \(rotated)")
        let newest = try Data(contentsOf: directory.appendingPathComponent(rotated.last!))
        #expect(newest.first == 3, "the newest rotation is kept")
    }
}
