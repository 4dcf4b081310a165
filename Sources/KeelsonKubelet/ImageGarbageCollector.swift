import Foundation
import KeelsonStats
import Logging

/// The thresholds of image garbage collection, as kubelet's flags name them.
public struct ImageGCPolicy: Sendable, Equatable {
    /// Percentages of the image filesystem's capacity (`--image-gc-high-threshold`, `--image-gc-low-threshold`).
    public var highThresholdPercent = 85
    public var lowThresholdPercent = 80
    /// An image is not removed before it has been known this long (`--image-minimum-gc-age`).
    public var minimumAge: Duration = .seconds(120)

    public init() {}
}

/// Kubelet's image garbage collection: when the image filesystem is fuller than the high threshold, images no
/// container uses (running or exited) are removed, least recently used first, until usage is down to the low
/// threshold. An image is kept until it has been known for the minimum age (a pull for a pod about to start is
/// not undone), and the sandbox image is never removed (containerd pins it).
struct ImageGarbageCollector: Sendable {

    /// When each image was first seen and last seen in use, across rounds (kubelet keeps the same in memory).
    struct Records: Sendable {
        var firstSeen: [String: Date] = [:]
        var lastUsed: [String: Date] = [:]
    }

    let policy: ImageGCPolicy
    /// Names of images never removed (the sandbox image).
    let pinned: Set<String>

    /// The images to remove to bring `usedBytes` of `capacityBytes` down to the low threshold, oldest use first;
    /// `records` learns this round's images and uses. `freed` may fall short of `needed` when too little is unused.
    func plan(images: [RuntimeImage], containers: [ContainerInfo], usedBytes: UInt64, capacityBytes: UInt64, now: Date,
        records: inout Records) -> (remove: [RuntimeImage], needed: UInt64, freed: UInt64)
    {
        let present = Set(images.map(\.id))
        records.firstSeen = records.firstSeen.filter { present.contains($0.key) }
        records.lastUsed = records.lastUsed.filter { present.contains($0.key) }
        for image in images where records.firstSeen[image.id] == nil { records.firstSeen[image.id] = now }
        let references = Set(containers.flatMap { [$0.imageRef, $0.image] })
        let inUse = Set(images.filter { references.contains($0.id) || $0.tags.contains(where: references.contains) }.map(\.id))
        for id in inUse { records.lastUsed[id] = now }
        guard capacityBytes > 0, usedBytes * 100 >= capacityBytes * UInt64(policy.highThresholdPercent) else { return ([], 0, 0) }
        let target = capacityBytes * UInt64(policy.lowThresholdPercent) / 100
        let needed = usedBytes > target ? usedBytes - target : 0
        let candidates = images.filter { image in
            !inUse.contains(image.id) && !image.tags.contains(where: pinned.contains)
                && now.timeIntervalSince(records.firstSeen[image.id] ?? now) >= policy.minimumAge.seconds
        }.sorted { a, b in
            let (aUsed, bUsed) = (records.lastUsed[a.id] ?? .distantPast, records.lastUsed[b.id] ?? .distantPast)
            return aUsed != bUsed ? aUsed < bUsed : (records.firstSeen[a.id] ?? now) < (records.firstSeen[b.id] ?? now)
        }
        var remove: [RuntimeImage] = []
        var freed: UInt64 = 0
        for image in candidates where freed < needed {
            remove.append(image)
            freed += image.size
        }
        return (remove, needed, freed)
    }

    /// One round against the runtime and the filesystem at `path`; the message of a warning event when it could
    /// not free enough (kubelet's `FreeDiskSpaceFailed`), nil otherwise.
    func collect(runtime: any ContainerRuntime, path: String, records: inout Records, logger: Logger) async throws -> String? {
        let images = try await runtime.listImages()
        let containers = try await runtime.listContainers()
        guard let fs = FilesystemStats.of(path) else { return nil }
        let used = fs.capacityBytes > fs.availableBytes ? fs.capacityBytes - fs.availableBytes : 0
        let (remove, needed, _) = plan(images: images, containers: containers, usedBytes: used, capacityBytes: fs.capacityBytes,
            now: Date(), records: &records)
        var freed: UInt64 = 0
        for image in remove {
            do {
                try await runtime.removeImage(image.id)
                freed += image.size
                logger.info("removed an unused image", metadata: ["image": "\(image.tags.first ?? image.id)", "bytes": "\(image.size)"])
            } catch {
                logger.warning("could not remove an unused image", metadata: ["image": "\(image.id)", "error": "\(error)"])
            }
        }
        guard freed < needed else { return nil }
        return "Failed to garbage collect required amount of images. Attempted to free \(needed) bytes, but only found \(freed) bytes eligible to free."
    }
}

extension Duration {
    /// Whole and fractional seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
