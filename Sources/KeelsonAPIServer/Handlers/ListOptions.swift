import KeelsonAPI

/// The query parameters of list and watch, validated once.
struct ListOptions: Sendable {
    var labelSelector = LabelSelector.everything
    var fieldSelector = FieldSelector.everything
    var limit: Int?
    var continueToken: ContinueToken?
    var resourceVersion: String?
    var resourceVersionMatch: String?
    var watch = false
    var allowWatchBookmarks = false
    var sendInitialEvents: Bool?
    var timeoutSeconds: Int?

    init(query: [String: String], definition: ResourceDefinition) throws(Status) {
        do {
            if let text = query["labelSelector"] { labelSelector = try LabelSelector.parse(text) }
            if let text = query["fieldSelector"] { fieldSelector = try FieldSelector.parse(text) }
        } catch {
            throw Status.badRequest("unable to parse requirement: \(error.message)")
        }
        let supported = RESTHandler.supportedFieldSelectors(definition)
        if let field = fieldSelector.unsupportedField(supported: supported) {
            throw Status.badRequest("field label not supported: \(field)")
        }
        if let text = query["limit"], !text.isEmpty {
            guard let value = Int(text), value >= 0 else { throw Status.badRequest("invalid limit: \(text)") }
            limit = value == 0 ? nil : value
        }
        if let text = query["continue"], !text.isEmpty {
            guard let token = ContinueToken(encoded: text) else {
                throw Status.badRequest("continue key is not valid: \(text)")
            }
            continueToken = token
        }
        resourceVersion = query["resourceVersion"].flatMap { $0.isEmpty ? nil : $0 }
        resourceVersionMatch = query["resourceVersionMatch"].flatMap { $0.isEmpty ? nil : $0 }
        watch = query["watch"] == "true" || query["watch"] == "1"
        allowWatchBookmarks = query["allowWatchBookmarks"] == "true" || query["allowWatchBookmarks"] == "1"
        if let text = query["sendInitialEvents"] { sendInitialEvents = text == "true" || text == "1" }
        if let text = query["timeoutSeconds"], let value = Int(text) { timeoutSeconds = value }
        if let rv = resourceVersion, Int64(rv) == nil {
            throw Status.badRequest("invalid resource version: \(rv)")
        }
        if let match = resourceVersionMatch {
            guard ["NotOlderThan", "Exact"].contains(match) else {
                throw Status.badRequest("resourceVersionMatch: Unsupported value: \"\(match)\": supported values: \"Exact\", \"NotOlderThan\"")
            }
        }
        // apimachinery's ValidateListOptions: a streaming list (a watch that starts with the current state) must ask
        // for NotOlderThan and for bookmarks, whose last one marks the end of the initial state.
        if watch {
            if sendInitialEvents != nil {
                var errors: [FieldError] = []
                if resourceVersionMatch != "NotOlderThan" {
                    errors.append(.forbidden("resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
                }
                if !allowWatchBookmarks {
                    errors.append(.forbidden("allowWatchBookmarks", "sendInitialEvents requires setting allowWatchBookmarks to true"))
                }
                if !errors.isEmpty { throw Status.invalidListOptions(errors) }
            } else if resourceVersionMatch != nil {
                throw Status.invalidListOptions([.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")])
            }
        } else {
            if sendInitialEvents != nil {
                throw Status.invalidListOptions([.forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list")])
            }
            if resourceVersionMatch != nil && resourceVersion == nil {
                throw Status(code: 422, reason: .invalid, message: "resourceVersionMatch is forbidden unless resourceVersion is provided")
            }
        }
        if continueToken != nil, let rv = resourceVersion, rv != "0" {
            throw Status(code: 422, reason: .invalid, message: "specifying resource version is not allowed when using continue")
        }
    }
}

/// A list continuation: the revision the first page was read at and the last key returned, base64 of JSON as
/// kube-apiserver encodes it.
struct ContinueToken: Sendable, Equatable {
    var revision: Int64
    var startAfter: String

    init(revision: Int64, startAfter: String) {
        self.revision = revision
        self.startAfter = startAfter
    }

    init?(encoded: String) {
        var text = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let data = Base64.decode(text), let value = try? JSONParser.parse(data),
            let rv = value["rv"]?.intValue, let start = value["start"]?.stringValue, value["v"]?.stringValue == "meta.k8s.io/v1"
        else { return nil }
        revision = rv
        startAfter = start
    }

    var encoded: String {
        let json: JSONValue = ["v": "meta.k8s.io/v1", "rv": .integer(revision), "start": .string(startAfter)]
        return Base64.encode(json.encoded())
    }
}

/// Standard base64, without Foundation's Data detours on the hot path.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i]
            let b1 = i + 1 < bytes.count ? bytes[i + 1] : 0
            let b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(i + 1 < bytes.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        var lookup = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { lookup[Int(c)] = UInt8(i) }
        let bytes = Array(text.utf8).filter { $0 != UInt8(ascii: "=") }
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            let v = lookup[Int(byte)]
            if v == 0xFF { return nil }
            buffer = buffer << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((buffer >> UInt32(bits)) & 0xFF))
            }
        }
        return out
    }
}

extension Status {
    /// A 422 about the query's list options, worded as kube-apiserver words it (`ListOptions.meta.k8s.io`).
    static func invalidListOptions(_ errors: [FieldError]) -> Status {
        Status.invalid(kind: "ListOptions", group: "meta.k8s.io", name: "", errors)
    }
}
