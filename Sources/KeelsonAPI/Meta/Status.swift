/// The reason of a failed `Status`, an open set as in `metav1.StatusReason`.
public struct StatusReason: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public static let badRequest: StatusReason = "BadRequest"
    public static let unauthorized: StatusReason = "Unauthorized"
    public static let forbidden: StatusReason = "Forbidden"
    public static let notFound: StatusReason = "NotFound"
    public static let alreadyExists: StatusReason = "AlreadyExists"
    public static let conflict: StatusReason = "Conflict"
    public static let gone: StatusReason = "Gone"
    public static let expired: StatusReason = "Expired"
    public static let invalid: StatusReason = "Invalid"
    public static let methodNotAllowed: StatusReason = "MethodNotAllowed"
    public static let notAcceptable: StatusReason = "NotAcceptable"
    public static let requestEntityTooLarge: StatusReason = "RequestEntityTooLarge"
    public static let unsupportedMediaType: StatusReason = "UnsupportedMediaType"
    public static let tooManyRequests: StatusReason = "TooManyRequests"
    public static let internalError: StatusReason = "InternalError"
    public static let serviceUnavailable: StatusReason = "ServiceUnavailable"
    public static let timeout: StatusReason = "Timeout"
}

/// A `meta/v1 Status`: the body of every error answer, and of some successful deletes.
public struct Status: Hashable, Sendable, Error {
    public struct Cause: Hashable, Sendable {
        public var reason: String
        public var message: String
        public var field: String?

        public init(reason: String, message: String, field: String? = nil) {
            self.reason = reason
            self.message = message
            self.field = field
        }
    }

    public struct Details: Hashable, Sendable {
        public var name: String?
        public var group: String?
        public var kind: String?
        public var uid: String?
        public var causes: [Cause] = []
        public var retryAfterSeconds: Int?

        public init(name: String? = nil, group: String? = nil, kind: String? = nil, uid: String? = nil, causes: [Cause] = []) {
            self.name = name
            self.group = group
            self.kind = kind
            self.uid = uid
            self.causes = causes
        }
    }

    public var code: Int
    public var reason: StatusReason?
    public var message: String
    public var details: Details?
    public var succeeded = false

    public init(code: Int, reason: StatusReason?, message: String, details: Details? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
    }

    public static func success(details: Details? = nil) -> Status {
        var s = Status(code: 200, reason: nil, message: "", details: details)
        s.succeeded = true
        return s
    }

    public var jsonValue: JSONValue {
        var o: [String: JSONValue] = [
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": .object([:]),
            "status": .string(succeeded ? "Success" : "Failure"),
            "code": .integer(Int64(code)),
        ]
        if !message.isEmpty { o["message"] = .string(message) }
        if let reason { o["reason"] = .string(reason.rawValue) }
        if let details {
            var d: [String: JSONValue] = [:]
            if let name = details.name { d["name"] = .string(name) }
            if let group = details.group { d["group"] = .string(group) }
            if let kind = details.kind { d["kind"] = .string(kind) }
            if let uid = details.uid { d["uid"] = .string(uid) }
            if let retry = details.retryAfterSeconds { d["retryAfterSeconds"] = .integer(Int64(retry)) }
            if !details.causes.isEmpty {
                d["causes"] = .array(details.causes.map { c in
                    var co: [String: JSONValue] = ["reason": .string(c.reason), "message": .string(c.message)]
                    if let field = c.field { co["field"] = .string(field) }
                    return .object(co)
                })
            }
            o["details"] = .object(d)
        }
        return .object(o)
    }
}

extension Status {
    /// `resource` is the plural with its group (`deployments.apps`), as kube-apiserver names it in messages.
    public static func notFound(_ resource: String, group: String, name: String) -> Status {
        Status(code: 404, reason: .notFound, message: "\(qualified(resource, group)) \"\(name)\" not found",
            details: Details(name: name, group: group, kind: resource))
    }

    public static func alreadyExists(_ resource: String, group: String, name: String) -> Status {
        Status(code: 409, reason: .alreadyExists, message: "\(qualified(resource, group)) \"\(name)\" already exists",
            details: Details(name: name, group: group, kind: resource))
    }

    public static func conflict(_ resource: String, group: String, name: String, _ detail: String) -> Status {
        Status(code: 409, reason: .conflict,
            message: "Operation cannot be fulfilled on \(qualified(resource, group)) \"\(name)\": \(detail)",
            details: Details(name: name, group: group, kind: resource))
    }

    public static func invalid(kind: String, group: String, name: String, _ errors: [FieldError]) -> Status {
        let groupKind = group.isEmpty ? kind : "\(kind).\(group)"
        let summary: String
        if errors.count == 1 {
            summary = errors[0].description
        } else {
            summary = "[" + errors.map(\.description).joined(separator: ", ") + "]"
        }
        return Status(code: 422, reason: .invalid, message: "\(groupKind) \"\(name)\" is invalid: \(summary)",
            details: Details(name: name, group: group, kind: kind,
                causes: errors.map { Cause(reason: $0.type.rawValue, message: $0.body, field: $0.field) }))
    }

    public static func badRequest(_ message: String) -> Status {
        Status(code: 400, reason: .badRequest, message: message)
    }

    public static func methodNotAllowed(_ message: String) -> Status {
        Status(code: 405, reason: .methodNotAllowed, message: message)
    }

    public static func gone(_ message: String) -> Status {
        Status(code: 410, reason: .expired, message: message)
    }

    public static func forbidden(_ resource: String, group: String, name: String, _ detail: String) -> Status {
        let target = name.isEmpty ? qualified(resource, group) : "\(qualified(resource, group)) \"\(name)\""
        return Status(code: 403, reason: .forbidden, message: "\(target) is forbidden: \(detail)",
            details: Details(name: name.isEmpty ? nil : name, group: group, kind: resource))
    }

    public static func internalError(_ message: String) -> Status {
        Status(code: 500, reason: .internalError, message: "Internal error occurred: \(message)",
            details: Details(causes: [Cause(reason: "", message: message)]))
    }

    public static func serviceUnavailable(_ message: String) -> Status {
        Status(code: 503, reason: .serviceUnavailable, message: message)
    }

    static func qualified(_ resource: String, _ group: String) -> String {
        group.isEmpty ? resource : "\(resource).\(group)"
    }
}

extension Status {
    /// Reads a `Status` a server answered with; nil when the value is not one.
    public init?(json: JSONValue) {
        guard json.kind == "Status", let code = json["code"]?.intValue else { return nil }
        self.init(code: Int(code), reason: json["reason"]?.stringValue.map(StatusReason.init(rawValue:)),
            message: json["message"]?.stringValue ?? "")
        if let details = json["details"] {
            var d = Details(name: details["name"]?.stringValue, group: details["group"]?.stringValue,
                kind: details["kind"]?.stringValue, uid: details["uid"]?.stringValue)
            d.causes = (details["causes"]?.arrayValue ?? []).map {
                Cause(reason: $0["reason"]?.stringValue ?? "", message: $0["message"]?.stringValue ?? "", field: $0["field"]?.stringValue)
            }
            self.details = d
        }
        succeeded = json["status"]?.stringValue == "Success"
    }
}
