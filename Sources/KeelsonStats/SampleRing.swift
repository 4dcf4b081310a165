/// A fixed number of the newest samples; the oldest is overwritten, so memory stays bounded however long it runs.
struct SampleRing<Element: Sendable>: Sendable {
    private var storage: [Element] = []
    private var start = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(2, capacity)
        storage.reserveCapacity(self.capacity)
    }

    mutating func append(_ element: Element) {
        if storage.count < capacity {
            storage.append(element)
        } else {
            storage[start] = element
            start = (start + 1) % capacity
        }
    }

    var count: Int { storage.count }
    var last: Element? { storage.isEmpty ? nil : storage[(start + storage.count - 1) % storage.count] }

    /// Newest first.
    var newestFirst: [Element] { (0..<storage.count).map { storage[(start + storage.count - 1 - $0) % storage.count] } }
}
