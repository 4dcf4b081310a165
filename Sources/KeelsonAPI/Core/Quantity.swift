/// A Kubernetes resource quantity (`100m`, `1.5Gi`, `2`, `1e3`), held exactly in thousandths of a unit, which covers
/// every CPU (millicores) and memory (bytes) figure users write. Sums and comparisons are exact; printing follows
/// the format of the written value as `resource.Quantity` does: binary suffixes stay binary, decimal ones decimal.
public struct Quantity: Hashable, Sendable, Comparable, CustomStringConvertible {
    public enum Format: Sendable { case binarySI, decimalSI, decimalExponent }

    /// The value × 1000.
    public var milli: Int64
    public var format: Format

    public init(milli: Int64, format: Format = .decimalSI) {
        self.milli = milli
        self.format = format
    }

    public static let zero = Quantity(milli: 0)

    private static let binary: [(String, Int64)] = [("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40), ("Pi", 1 << 50), ("Ei", 1 << 60)]
    private static let decimal: [(String, Int)] = [("n", -9), ("u", -6), ("m", -3), ("k", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18)]

    /// Parses the text form; nil for anything `resource.ParseQuantity` would refuse (or values beyond 9.2e15 units).
    public init?(_ text: String) {
        var body = Substring(text)
        var sign: Int64 = 1
        if body.first == "+" || body.first == "-" {
            if body.first == "-" { sign = -1 }
            body = body.dropFirst()
        }
        let digits = body.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        guard !digits.isEmpty, digits.filter({ $0 == "." }).count <= 1, digits != "." else { return nil }
        let suffix = String(body.dropFirst(digits.count))
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        let whole = parts[0], fraction = parts.count > 1 ? parts[1] : ""
        // The number as an integer mantissa and a power of ten.
        guard let mantissa = Int64(String(whole.isEmpty ? "0" : whole) + String(fraction)) else { return nil }
        var exponent10 = -fraction.count
        var multiplier: Int64 = 1
        if suffix.isEmpty {
            format = .decimalSI
        } else if let b = Self.binary.first(where: { $0.0 == suffix }) {
            multiplier = b.1
            format = .binarySI
        } else if let d = Self.decimal.first(where: { $0.0 == suffix }) {
            exponent10 += d.1
            format = .decimalSI
        } else if suffix.first == "e" || suffix.first == "E", let e = Int(suffix.dropFirst()) {
            exponent10 += e
            format = .decimalExponent
        } else {
            return nil
        }
        // value × 1000 = mantissa × multiplier × 10^(exponent10 + 3); fractions of a thousandth round up, as upstream.
        var value = mantissa.multipliedReportingOverflow(by: multiplier)
        guard !value.overflow else { return nil }
        var scaled = value.partialValue
        var power = exponent10 + 3
        while power > 0 {
            value = scaled.multipliedReportingOverflow(by: 10)
            guard !value.overflow else { return nil }
            scaled = value.partialValue
            power -= 1
        }
        while power < 0 {
            let (q, r) = scaled.quotientAndRemainder(dividingBy: 10)
            scaled = q + (r != 0 ? 1 : 0)
            power += 1
        }
        milli = sign * scaled
    }

    /// Parses a JSON quantity (a string, or a bare number as some clients send).
    public init?(json: JSONValue?) {
        if let text = json?.stringValue {
            self.init(text)
        } else if let n = json?.intValue {
            self.init(milli: n * 1000)
        } else if case .double(let d)? = json {
            self.init(milli: Int64((d * 1000).rounded(.up)))
        } else {
            return nil
        }
    }

    public static func + (a: Quantity, b: Quantity) -> Quantity { Quantity(milli: a.milli + b.milli, format: a.milli == 0 ? b.format : a.format) }
    public static func - (a: Quantity, b: Quantity) -> Quantity { Quantity(milli: a.milli - b.milli, format: a.format) }
    public static func < (a: Quantity, b: Quantity) -> Bool { a.milli < b.milli }
    public static func == (a: Quantity, b: Quantity) -> Bool { a.milli == b.milli }
    public func hash(into hasher: inout Hasher) { hasher.combine(milli) }

    /// Whole units, rounded up (a pod asking for 1.5 of something needs 2).
    public var value: Int64 { milli >= 0 ? (milli + 999) / 1000 : milli / 1000 }

    /// The canonical text: the largest suffix of the value's format that divides it exactly, or millis.
    public var description: String {
        if milli == 0 { return "0" }
        guard milli % 1000 == 0 else { return "\(milli)m" }
        let units = milli / 1000
        switch format {
        case .binarySI:
            for (suffix, size) in Self.binary.reversed() where units % size == 0 && abs(units) >= size { return "\(units / size)\(suffix)" }
            return String(units)
        case .decimalSI, .decimalExponent:
            for (suffix, power) in Self.decimal.reversed() where power > 0 {
                var size: Int64 = 1
                for _ in 0..<power { size *= 10 }
                if units % size == 0 && abs(units) >= size { return "\(units / size)\(suffix)" }
            }
            return String(units)
        }
    }
}
