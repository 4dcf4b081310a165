/// One invalid field, as `field.Error` in apimachinery; it becomes a `StatusCause` of a 422.
public struct FieldError: Hashable, Sendable, CustomStringConvertible {
    public enum ErrorType: String, Sendable {
        case required = "FieldValueRequired"
        case invalid = "FieldValueInvalid"
        case notSupported = "FieldValueNotSupported"
        case duplicate = "FieldValueDuplicate"
        case forbidden = "FieldValueForbidden"
        case tooLong = "FieldValueTooLong"
        case tooMany = "FieldValueTooMany"
    }

    public var type: ErrorType
    public var field: String
    public var detail: String
    public var badValue: String?

    public init(_ type: ErrorType, field: String, detail: String = "", badValue: String? = nil) {
        self.type = type
        self.field = field
        self.detail = detail
        self.badValue = badValue
    }

    public static func required(_ field: String, _ detail: String = "") -> FieldError {
        FieldError(.required, field: field, detail: detail)
    }

    public static func invalid(_ field: String, _ value: String, _ detail: String) -> FieldError {
        FieldError(.invalid, field: field, detail: detail, badValue: value)
    }

    public static func forbidden(_ field: String, _ detail: String) -> FieldError {
        FieldError(.forbidden, field: field, detail: detail)
    }

    public static func notSupported(_ field: String, _ value: String, supported: [String]) -> FieldError {
        let list = supported.map { "\"\($0)\"" }.joined(separator: ", ")
        return FieldError(.notSupported, field: field, detail: "supported values: \(list)", badValue: value)
    }

    /// The message text apimachinery's `field.Error.Error()` produces.
    public var description: String { "\(field): \(body)" }

    /// The message without the field (`field.Error.ErrorBody()`): what a `StatusCause` carries beside its field.
    public var body: String {
        switch type {
        case .required: return "Required value" + (detail.isEmpty ? "" : ": \(detail)")
        case .forbidden: return "Forbidden: \(detail)"
        case .invalid: return "Invalid value: \(quoted): \(detail)"
        case .notSupported: return "Unsupported value: \(quoted): \(detail)"
        case .duplicate: return "Duplicate value: \(quoted)"
        case .tooLong: return "Too long: \(detail)"
        case .tooMany: return "Too many: \(badValue ?? ""): \(detail)"
        }
    }

    private var quoted: String {
        guard let badValue else { return "null" }
        if Int64(badValue) != nil || badValue == "true" || badValue == "false" { return badValue }
        return "\"\(badValue)\""
    }
}
