import Foundation
import KeelsonTestKit
import Logging
import Testing

@testable import KeelsonKubelet

@Suite("Image garbage collection")
struct ImageGarbageCollectorTests {
    static let gib: UInt64 = 1 << 30
    static let images = [
        RuntimeImage(id: "sha256:pause", tags: ["keelson.local/pause:1.0"], size: 1 * gib),
        RuntimeImage(id: "sha256:web", tags: ["web:1"], size: 3 * gib),
        RuntimeImage(id: "sha256:old", tags: ["old:1"], size: 2 * gib),
        RuntimeImage(id: "sha256:older", tags: ["older:1"], size: 2 * gib),
        RuntimeImage(id: "sha256:untagged", tags: [], size: 1 * gib),
    ]

    static func container(image: String, imageRef: String = "", state: ContainerState = .running) -> ContainerInfo {
        var info = ContainerInfo(id: UUID().uuidString, sandboxID: "s", name: "c", attempt: 0, state: state, createdAt: 0)
        info.image = image
        info.imageRef = imageRef
        return info
    }

    func collector(minimumAge: Duration = .zero) -> ImageGarbageCollector {
        var policy = ImageGCPolicy()
        policy.minimumAge = minimumAge
        return ImageGarbageCollector(policy: policy, pinned: ["keelson.local/pause:1.0"])
    }

    @Test("below the high threshold nothing is removed, though uses are still recorded")
    func belowThreshold() {
        var records = ImageGarbageCollector.Records()
        let now = Date()
        let plan = collector().plan(images: Self.images, containers: [Self.container(image: "web:1")], usedBytes: 84 * Self.gib,
            capacityBytes: 100 * Self.gib, now: now, records: &records)
        #expect(plan.remove.isEmpty && plan.needed == 0)
        #expect(records.lastUsed["sha256:web"] == now)
        #expect(records.firstSeen.count == Self.images.count)
    }

    @Test("above it, unused images go least recently used first until usage is at the low threshold; in use and pinned stay")
    func removesLeastRecentlyUsed() {
        var records = ImageGarbageCollector.Records()
        let start = Date(timeIntervalSince1970: 1_000_000)
        // Round one: `old` and `older` were used by exited containers (an exited container's image is in use too).
        _ = collector().plan(images: Self.images, containers: [Self.container(image: "older:1"), Self.container(image: "x", imageRef: "sha256:old", state: .exited)],
            usedBytes: 10 * Self.gib, capacityBytes: 100 * Self.gib, now: start, records: &records)
        // Round two, an hour later: only `old` still has a container; `web` runs. 87% used: 7 GiB must go.
        let later = start.addingTimeInterval(3600)
        let plan = collector().plan(images: Self.images, containers: [Self.container(image: "web:1"), Self.container(image: "old:1", state: .exited)],
            usedBytes: 87 * Self.gib, capacityBytes: 100 * Self.gib, now: later, records: &records)
        #expect(plan.needed == 7 * Self.gib)
        // Never used (untagged) before used an hour ago (older); not enough even then: 3 GiB can be freed.
        #expect(plan.remove.map(\.id) == ["sha256:untagged", "sha256:older"])
        #expect(plan.freed == 3 * Self.gib)
    }

    @Test("an image younger than the minimum age is kept, however full the disk")
    func minimumAge() {
        var records = ImageGarbageCollector.Records()
        let now = Date()
        let first = collector(minimumAge: .seconds(120)).plan(images: Self.images, containers: [], usedBytes: 99 * Self.gib,
            capacityBytes: 100 * Self.gib, now: now, records: &records)
        #expect(first.remove.isEmpty && first.needed == 19 * Self.gib)
        let after = collector(minimumAge: .seconds(120)).plan(images: Self.images, containers: [], usedBytes: 99 * Self.gib,
            capacityBytes: 100 * Self.gib, now: now.addingTimeInterval(121), records: &records)
        #expect(Set(after.remove.map(\.id)) == ["sha256:web", "sha256:old", "sha256:older", "sha256:untagged"], "all but the pinned sandbox image")
    }

    @Test("a round against a runtime removes the images it planned and reports a shortfall as kubelet words it")
    func collectAgainstRuntime() async throws {
        let runtime = FakeContainerRuntime(images: ["keelson.local/pause:1.0", "unused:1"])
        let unused = try #require(try await runtime.imageID("unused:1"))
        runtime.setImageSize(unused, 4096)
        var policy = ImageGCPolicy()
        (policy.highThresholdPercent, policy.lowThresholdPercent, policy.minimumAge) = (0, 0, .zero)
        let collector = ImageGarbageCollector(policy: policy, pinned: ["keelson.local/pause:1.0"])
        var records = ImageGarbageCollector.Records()
        // Thresholds of 0%: every used byte of the filesystem is to be freed, which one small image cannot do.
        let message = try await collector.collect(runtime: runtime, path: NSTemporaryDirectory(), records: &records, logger: Logger(label: "test"))
        #expect(runtime.calls.contains("removeImage \(unused)"))
        #expect(try await runtime.imageID("unused:1") == nil)
        #expect(try await runtime.imageID("keelson.local/pause:1.0") != nil)
        #expect(message?.hasPrefix("Failed to garbage collect required amount of images. Attempted to free ") == true, "\(message ?? "")")
        #expect(message?.hasSuffix("but only found 4096 bytes eligible to free.") == true, "\(message ?? "")")
    }
}
