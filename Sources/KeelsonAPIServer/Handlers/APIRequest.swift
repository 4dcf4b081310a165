import KeelsonAPI

/// What an API request addresses, parsed from its path: `/api/v1/namespaces/NS/pods/NAME/status`.
struct ResourcePath: Sendable, Equatable {
    var group: String
    var version: String
    var namespace: String?
    var resource: String
    var name: String?
    var subresource: String?
}

/// The parts of an HTTP request the REST machinery reads.
struct APIRequest: Sendable {
    var method: String
    var path: String
    var query: [String: String]
    var contentType: String?
    var accept: String?
    var userAgent: String?
    var body: [UInt8]
    /// `If-None-Match`, for the documents served with an ETag (OpenAPI).
    var ifNoneMatch: String? = nil

    /// Parses `a=1&b=two+words&c=%2F` as Go's `url.ParseQuery` does; the first value of a repeated key wins.
    static func parseQuery(_ query: String?) -> [String: String] {
        guard let query, !query.isEmpty else { return [:] }
        var result: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = percentDecode(parts[0])
            let value = parts.count > 1 ? percentDecode(parts[1]) : ""
            if result[key] == nil { result[key] = value }
        }
        return result
    }

    static func percentDecode(_ text: Substring) -> String {
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), let h = iterator.next(), let l = iterator.next(),
                let hi = hexValue(h), let lo = hexValue(l)
            {
                bytes.append(hi << 4 | lo)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }

    /// Splits a resource URL into its parts; nil when the path is not a resource URL.
    /// `isNamespaced` answers whether a resource name under a group version is namespaced, which tells
    /// `/api/v1/namespaces/x/status` (a subresource of namespace x) from `/api/v1/namespaces/x/pods`.
    static func parseResourcePath(_ path: String, isNamespaced: (String, String, String) -> Bool?) -> ResourcePath? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map { percentDecode($0) }
        var group = ""
        var version: String
        var rest: ArraySlice<String>
        if segments.first == "api", segments.count >= 3 {
            version = segments[1]
            rest = segments[2...]
        } else if segments.first == "apis", segments.count >= 4 {
            group = segments[1]
            version = segments[2]
            rest = segments[3...]
        } else {
            return nil
        }
        guard !rest.isEmpty else { return nil }
        if rest.first == "namespaces", rest.count >= 3, isNamespaced(group, version, rest[rest.startIndex + 2]) == true {
            let r = Array(rest)
            guard r.count <= 5 else { return nil }
            return ResourcePath(group: group, version: version, namespace: r[1], resource: r[2],
                name: r.count > 3 ? r[3] : nil, subresource: r.count > 4 ? r[4] : nil)
        }
        let r = Array(rest)
        // `nodes/NAME/proxy/PATH…`: the subresource is `proxy`, whatever path follows it.
        guard r.count <= 3 || (r.count > 3 && r[0] == "nodes" && r[2] == "proxy") else { return nil }
        return ResourcePath(group: group, version: version, namespace: nil, resource: r[0],
            name: r.count > 1 ? r[1] : nil, subresource: r.count > 2 ? r[2] : nil)
    }

    /// Whether the client asked for server-side printing (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`).
    var wantsTable: Bool {
        guard let accept else { return false }
        for mediaType in accept.split(separator: ",") {
            let params = mediaType.split(separator: ";").map { $0.trimmingCharacters(in: " ") }
            if params.contains("as=Table") && params.contains("g=meta.k8s.io") && (params.contains("v=v1") || params.contains("v=v1beta1")) {
                return true
            }
            if params.first == "application/json" && params.count == 1 { return false }
            if params.first == "*/*" { return false }
        }
        return false
    }

    /// The aggregated discovery version asked for, in the client's order of preference.
    var aggregatedDiscoveryVersion: String? {
        guard let accept else { return nil }
        for mediaType in accept.split(separator: ",") {
            let params = mediaType.split(separator: ";").map { $0.trimmingCharacters(in: " ") }
            guard params.contains("as=APIGroupDiscoveryList"), params.contains("g=apidiscovery.k8s.io") else {
                if params.first == "application/json" || params.first == "*/*" { return nil }
                continue
            }
            if params.contains("v=v2") { return "v2" }
            if params.contains("v=v2beta1") { return "v2beta1" }
        }
        return nil
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
