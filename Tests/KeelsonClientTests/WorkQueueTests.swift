@testable import KeelsonClient
import Testing

@Suite("Work queue")
struct WorkQueueTests {
    @Test("a key added many times before it is taken is taken once")
    func deduplicates() async {
        let queue = WorkQueue<String>(name: "test")
        queue.add("a")
        queue.add("b")
        queue.add("a")
        #expect(queue.count == 2)
        #expect(await queue.next() == "a")
        #expect(await queue.next() == "b")
        #expect(queue.count == 0)
    }

    @Test("a key added while it is processed comes back only after done")
    func reAddDuringProcessing() async {
        let queue = WorkQueue<String>(name: "test")
        queue.add("a")
        let key = await queue.next()
        queue.add("a")
        #expect(queue.count == 0, "must not be handed to a second worker while processing")
        queue.done(key!)
        #expect(queue.count == 1)
        #expect(await queue.next() == "a")
    }

    @Test("a waiting worker gets the next key; shut down releases waiters with nil")
    func waitersAndShutdown() async {
        let queue = WorkQueue<String>(name: "test")
        async let taken = queue.next()
        try? await Task.sleep(for: .milliseconds(20))
        queue.add("x")
        #expect(await taken == "x")
        async let none = queue.next()
        try? await Task.sleep(for: .milliseconds(20))
        queue.shutDown()
        #expect(await none == nil)
        queue.add("y")
        #expect(queue.count == 0)
    }

    @Test("failures back off exponentially until forgotten")
    func rateLimited() async {
        let queue = WorkQueue<String>(name: "test", baseDelay: .milliseconds(1), maxDelay: .milliseconds(8))
        for _ in 0..<5 { queue.addRateLimited("k") }
        #expect(queue.failures("k") == 5)
        #expect(await queue.next() == "k")
        queue.forget("k")
        #expect(queue.failures("k") == 0)
    }
}

@Suite("Work queue rate limit")
struct WorkQueueRateLimitTests {
    @Test("retries beyond the burst wait for the bucket: 10 per second after the first 100")
    func bucket() {
        let queue = WorkQueue<String>(name: "test")
        for _ in 0..<100 { #expect(queue.reserveTokenForTesting() == .zero) }
        let next = queue.reserveTokenForTesting()
        #expect(next > .milliseconds(90) && next <= .milliseconds(100))
        let after = queue.reserveTokenForTesting()
        #expect(after > .milliseconds(190) && after <= .milliseconds(200))
    }
}
