import KeelsonAPI

/// A request the API server refused or could not answer, with the `Status` it sent when it sent one.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var status: Status
    public var method: String
    public var path: String

    public init(status: Status, method: String, path: String) {
        self.status = status
        self.method = method
        self.path = path
    }

    public var code: Int { status.code }
    public var reason: StatusReason? { status.reason }
    public var isNotFound: Bool { status.code == 404 }
    public var isConflict: Bool { status.code == 409 }
    public var isAlreadyExists: Bool { status.code == 409 && status.reason == .alreadyExists }
    public var isGone: Bool { status.code == 410 }

    public var description: String { "\(method) \(path): \(status.code) \(status.reason?.rawValue ?? ""): \(status.message)" }
}
