import KeelsonAPI
import Testing

@testable import KeelsonKubelet

@Suite("Eviction")
struct EvictionTests {
    @Test("--eviction-hard parses quantities and percentages, and refuses what it does not know")
    func thresholds() throws {
        let defaults = EvictionThresholds()
        #expect(defaults.memoryAvailable == 100 * 1024 * 1024 && defaults.nodefsAvailable == 0.10)
        let parsed = try EvictionThresholds(parsing: "memory.available<1Gi, nodefs.available<15%")
        #expect(parsed.memoryAvailable == 1 << 30)
        #expect(parsed.nodefsAvailable == 0.15)
        #expect(throws: EvictionThresholds.Invalid.self) { try EvictionThresholds(parsing: "memory.available>1Gi") }
        #expect(throws: EvictionThresholds.Invalid.self) { try EvictionThresholds(parsing: "pid.available<10") }
        #expect(throws: EvictionThresholds.Invalid.self) { try EvictionThresholds(parsing: "nodefs.available<1Gi") }
    }

    @Test("pressure is the available amount under its threshold")
    func pressure() {
        let thresholds = EvictionThresholds()
        #expect(EvictionObservation(memoryAvailable: 50 << 20, nodefsAvailable: 50, nodefsCapacity: 100).memoryPressure(thresholds))
        #expect(!EvictionObservation(memoryAvailable: 200 << 20, nodefsAvailable: 50, nodefsCapacity: 100).memoryPressure(thresholds))
        #expect(EvictionObservation(memoryAvailable: 1 << 40, nodefsAvailable: 5, nodefsCapacity: 100).diskPressure(thresholds))
        #expect(!EvictionObservation(memoryAvailable: 1 << 40, nodefsAvailable: 50, nodefsCapacity: 100).diskPressure(thresholds))
    }

    @Test("the order is kubelet's: over their requests first, then lower priority, then the biggest excess")
    func ranking() {
        typealias C = EvictionManager.Candidate
        let within = C(key: "within", uid: "1", priority: 0, usage: 100, request: 200)
        let overSmall = C(key: "over-small", uid: "2", priority: 0, usage: 300, request: 200)
        let overBig = C(key: "over-big", uid: "3", priority: 0, usage: 900, request: 200)
        let overImportant = C(key: "over-important", uid: "4", priority: 1000, usage: 5000, request: 0)
        #expect(EvictionManager.rank([within, overSmall, overImportant, overBig]).map(\.key)
            == ["over-big", "over-small", "over-important", "within"])
    }

    @Test("under pressure one pod is chosen, never a static pod nor one already finished; without pressure none")
    func choice() {
        let manager = EvictionManager(thresholds: EvictionThresholds(), cgroupRoot: "/none", directory: .init(fileURLWithPath: "/nonexistent"),
            logger: .init(label: "test"))
        func pod(_ name: String, priority: Int64 = 0, phase: String = "Running", mirror: Bool = false) -> JSONValue {
            var metadata: JSONValue = ["name": .string(name), "namespace": "default", "uid": .string(name)]
            if mirror { metadata["annotations"] = [StaticPods.mirrorAnnotation: "abc"] }
            return ["metadata": metadata, "spec": ["priority": .integer(priority), "containers": [["name": "c"]]], "status": ["phase": .string(phase)]]
        }
        let pods = [pod("static", mirror: true), pod("done", phase: "Succeeded"), pod("important", priority: 100), pod("ordinary")]
        let pressure = EvictionObservation(memoryAvailable: 1 << 20, nodefsAvailable: 1 << 40, nodefsCapacity: 1 << 41)
        let chosen = manager.choose(pressure, pods: pods)
        #expect(chosen?.pod.name == "ordinary")
        #expect(chosen?.message.hasPrefix("The node was low on resource: memory.") == true)
        #expect(manager.choose(EvictionObservation(memoryAvailable: 1 << 40, nodefsAvailable: 1 << 40, nodefsCapacity: 1 << 41), pods: pods) == nil)
    }
}
