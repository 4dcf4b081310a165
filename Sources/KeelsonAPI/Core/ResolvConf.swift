/// The parts of a resolv.conf Keelson reads (the kubelet for pods' DNS, the cluster DNS for its forwarders), as
/// glibc reads them: `nameserver` lines in order, the last `search` or `domain` line, all `options`; `#` and `;`
/// start comments.
public struct ResolvConf: Sendable, Equatable {
    public var nameservers: [String] = []
    public var searches: [String] = []
    public var options: [String] = []

    public init(nameservers: [String] = [], searches: [String] = [], options: [String] = []) {
        self.nameservers = nameservers
        self.searches = searches
        self.options = options
    }

    public init(parsing text: String) {
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let keyword = fields.first, !keyword.hasPrefix("#"), !keyword.hasPrefix(";") else { continue }
            switch keyword {
            case "nameserver" where fields.count > 1: nameservers.append(fields[1])
            case "search", "domain": searches = Array(fields.dropFirst())
            case "options": options += fields.dropFirst()
            default: continue
            }
        }
    }
}
