/// The shape of one protobuf message of the Kubernetes API, as its `generated.proto` declares it: field numbers,
/// JSON names and types. Only what the transcoder needs, written down for the messages clients send.
struct ProtobufMessage: Sendable {
    enum FieldType: Sendable {
        case string
        case bytes
        case bool
        case int32
        case int64
        case message(String)
        /// `resource.Quantity`: a message with the string form in field 1; JSON is the string.
        case quantity
        /// `metav1.Time` / `MicroTime`: seconds and nanos; JSON is RFC 3339.
        case time
        case microTime
        /// `intstr.IntOrString`: type, intVal, strVal; JSON is the number or the string.
        case intOrString
        /// `runtime.RawExtension` and `FieldsV1`: raw JSON bytes in field 1.
        case rawJSON
    }

    struct Field: Sendable {
        var number: Int
        var name: String
        var type: FieldType
        var repeated = false
        /// `map<string, V>` with `type` as V.
        var map = false
        /// A Go pointer (`*int32`, `*bool`…): present even when zero. Other zero scalars are Go's omitted defaults.
        var pointer = false
        /// A gogo embedded struct (`LocalObjectReference`): its fields are the parent's in JSON.
        var inline = false
    }

    var fields: [Int: Field]

    init(_ fields: [Field]) {
        self.fields = Dictionary(fields.map { ($0.number, $0) }, uniquingKeysWith: { a, _ in a })
    }
}

/// Shorthands that keep the schema table readable.
extension ProtobufMessage.Field {
    static func s(_ n: Int, _ name: String, ptr: Bool = false) -> Self { .init(number: n, name: name, type: .string, pointer: ptr) }
    static func rs(_ n: Int, _ name: String) -> Self { .init(number: n, name: name, type: .string, repeated: true) }
    static func b(_ n: Int, _ name: String, ptr: Bool = false) -> Self { .init(number: n, name: name, type: .bool, pointer: ptr) }
    static func i32(_ n: Int, _ name: String, ptr: Bool = false) -> Self { .init(number: n, name: name, type: .int32, pointer: ptr) }
    static func i64(_ n: Int, _ name: String, ptr: Bool = false) -> Self { .init(number: n, name: name, type: .int64, pointer: ptr) }
    static func m(_ n: Int, _ name: String, _ message: String, ptr: Bool = false) -> Self {
        .init(number: n, name: name, type: .message(message), pointer: ptr)
    }
    static func rm(_ n: Int, _ name: String, _ message: String) -> Self { .init(number: n, name: name, type: .message(message), repeated: true) }
    static func inline(_ n: Int, _ message: String) -> Self { .init(number: n, name: "", type: .message(message), inline: true) }
    static func mapSS(_ n: Int, _ name: String) -> Self { .init(number: n, name: name, type: .string, map: true) }
    static func mapSBytes(_ n: Int, _ name: String) -> Self { .init(number: n, name: name, type: .bytes, map: true) }
    static func mapSQ(_ n: Int, _ name: String) -> Self { .init(number: n, name: name, type: .quantity, map: true) }
    static func mapSM(_ n: Int, _ name: String, _ message: String) -> Self { .init(number: n, name: name, type: .message(message), map: true) }
    static func q(_ n: Int, _ name: String) -> Self { .init(number: n, name: name, type: .quantity, pointer: true) }
    static func t(_ n: Int, _ name: String) -> Self { .init(number: n, name: name, type: .time) }
    static func mt(_ n: Int, _ name: String) -> Self { .init(number: n, name: name, type: .microTime) }
    static func ios(_ n: Int, _ name: String) -> Self { .init(number: n, name: name, type: .intOrString, pointer: true) }
    static func raw(_ n: Int, _ name: String) -> Self { .init(number: n, name: name, type: .rawJSON) }
}
