import Foundation
import Synchronization

/// What a controller is waiting to see in its informer after acting, per controller key — client-go's
/// `UIDTrackingControllerExpectations`. A controller that has just created pods must not count the pods its cache
/// has not seen yet and create them again; it skips managing replicas until its expectations are met or expire.
public final class ControllerExpectations: Sendable {
    private struct Record {
        var adds: Int
        var deletes: Set<String>
        var setAt: ContinuousClock.Instant
    }

    private let records = Mutex([String: Record]())
    /// After this long without being met, expectations are ignored so a lost watch event cannot wedge a controller.
    let timeout: Duration

    public init(timeout: Duration = .seconds(300)) {
        self.timeout = timeout
    }

    /// True when the controller may act on what its cache shows.
    public func satisfied(_ key: String) -> Bool {
        records.withLock { records in
            guard let record = records[key] else { return true }
            if record.adds <= 0 && record.deletes.isEmpty { return true }
            return ContinuousClock.now - record.setAt > timeout
        }
    }

    public func expect(_ key: String, adds: Int = 0, deletes: Set<String> = []) {
        records.withLock { $0[key] = Record(adds: adds, deletes: deletes, setAt: .now) }
    }

    /// A create the controller attempted and that will never show up (it failed or was skipped).
    public func lowerAdds(_ key: String, by count: Int = 1) {
        records.withLock { $0[key]?.adds -= count }
    }

    public func creationObserved(_ key: String) {
        records.withLock { $0[key]?.adds -= 1 }
    }

    /// `dependent` is the deleted object's own key (`namespace/name`).
    public func deletionObserved(_ key: String, dependent: String) {
        _ = records.withLock { $0[key]?.deletes.remove(dependent) }
    }

    public func delete(_ key: String) {
        _ = records.withLock { $0.removeValue(forKey: key) }
    }
}
