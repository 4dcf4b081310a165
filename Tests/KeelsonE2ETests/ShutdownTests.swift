import Foundation
import Testing

@Suite("Shutdown", .serialized, .clusterSlot)
struct ShutdownTests {
    @Test("SIGTERM right after start stops the server promptly and cleanly")
    func earlyStop() async throws {
        let server = try KeelsonProcess()
        defer { server.cleanUp() }
        try await server.start()
        let start = Date()
        #expect(try await server.stop() == 0)
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test("SIGTERM with a long watch open ends the watch instead of waiting for its timeout")
    func stopWithOpenWatch() async throws {
        let server = try KeelsonProcess()
        defer { server.cleanUp() }
        try await server.start()
        let watcher = Process()
        watcher.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        watcher.arguments = ["kubectl", "get", "cm", "-A", "-w", "--request-timeout=0"]
        watcher.environment = ProcessInfo.processInfo.environment.merging(["KUBECONFIG": server.kubeconfig]) { $1 }
        watcher.standardOutput = FileHandle.nullDevice
        watcher.standardError = FileHandle.nullDevice
        try watcher.run()
        defer { if watcher.isRunning { watcher.terminate() } }
        try await server.kubectlOK(["create", "configmap", "seen", "--from-literal=a=b"])
        let start = Date()
        #expect(try await server.stop() == 0)
        #expect(Date().timeIntervalSince(start) < 5)
    }
}
