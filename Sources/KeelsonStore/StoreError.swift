/// A failure of a `Store` operation. The API server maps each code to its Kubernetes `Status`.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        /// A create found the key present.
        case keyExists
        /// A conditional write or delete found another modification revision.
        case conflict
        /// The key is absent.
        case notFound
        /// The revision asked for is older than the last compaction.
        case compacted(compactedRevision: Int64)
        /// The revision asked for is newer than the store has.
        case futureRevision(currentRevision: Int64)
        /// A watcher fell so far behind that its buffer filled.
        case watcherTooSlow
        /// The store cannot be reached or used right now; the operation may succeed later.
        case unavailable
        /// Anything else: a bug, corruption, a full disk.
        case `internal`
    }

    public var code: Code
    public var key: String
    public var message: String
    public var cause: (any Error)?

    public init(_ code: Code, key: String = "", message: String = "", cause: (any Error)? = nil) {
        self.code = code
        self.key = key
        self.message = message
        self.cause = cause
    }

    public var description: String {
        var text = "\(code)"
        if !key.isEmpty { text += " for key \(key)" }
        if !message.isEmpty { text += ": \(message)" }
        if let cause { text += " (cause: \(cause))" }
        return text
    }
}
