/// An IPv4 CIDR block such as `10.43.0.0/16`, for the service and cluster ranges.
public struct IPv4Range: Sendable, Hashable, CustomStringConvertible {
    public let base: UInt32
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let length = Int(parts[1]), (0...32).contains(length), let address = Self.parse(String(parts[0])) else {
            return nil
        }
        let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
        base = address & mask
        prefixLength = length
    }

    public var description: String { "\(Self.format(base))/\(prefixLength)" }

    /// Number of addresses in the block.
    public var size: UInt64 { UInt64(1) << UInt64(32 - prefixLength) }

    public func contains(_ address: UInt32) -> Bool {
        UInt64(address) >= UInt64(base) && UInt64(address) < UInt64(base) + size
    }

    public func address(at offset: UInt64) -> UInt32 { UInt32(UInt64(base) + offset) }

    public static func parse(_ text: String) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var value: UInt32 = 0
        for octet in octets {
            guard !octet.isEmpty, octet.count <= 3, octet.allSatisfy(\.isASCII), let n = UInt32(octet), n <= 255 else { return nil }
            if octet.count > 1 && octet.first == "0" { return nil }  // no octal-looking octets, as Go's parser refuses them
            value = value << 8 | n
        }
        return value
    }

    public static func format(_ address: UInt32) -> String {
        "\(address >> 24).\(address >> 16 & 0xff).\(address >> 8 & 0xff).\(address & 0xff)"
    }
}
