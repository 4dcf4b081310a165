import Foundation
import KeelsonAPI

/// The cluster's names at one moment, built from Services and EndpointSlices as the Kubernetes DNS specification
/// lays them out: `SVC.NS.svc.DOMAIN` (the cluster IPs, or a headless service's ready endpoints),
/// `HOSTNAME.SVC.NS.svc.DOMAIN` for endpoints with a hostname (StatefulSet pods), `_PORT._PROTO.SVC.NS.svc.DOMAIN`
/// SRV records for named ports, `A-B-C-D.NS.pod.DOMAIN`, ExternalName services as CNAMEs, and PTR records for
/// service and endpoint addresses. Immutable: a change in the cluster builds a new zone.
public struct ClusterDNSZone: Sendable {
    public struct Configuration: Sendable {
        public var domain: String
        public var ttl: UInt32 = 5

        public init(domain: String = "cluster.local") {
            self.domain = domain.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
    }

    struct Entry: Sendable {
        var ipv4: [IPv4Address] = []
        var ipv6: [[UInt8]] = []
        var cname: String?
        var services: [Service] = []
        var pointers: [String] = []

        struct Service: Sendable {
            var port: UInt16
            var weight: UInt16
            var target: String
        }
    }

    public let configuration: Configuration
    /// By lower-cased name without the root's dot.
    var entries: [String: Entry] = [:]
    /// Names that exist only because longer names end with them: they answer NODATA, not NXDOMAIN.
    var nonTerminals: Set<String> = []
    /// The SOA serial: when the zone was built, so that it grows with every change.
    let serial: UInt32

    public init(configuration: Configuration) {
        self.configuration = configuration
        serial = UInt32(truncatingIfNeeded: Int(Date().timeIntervalSince1970))
        nonTerminals = [configuration.domain, "svc.\(configuration.domain)", "pod.\(configuration.domain)"]
    }

    /// - Parameters:
    ///   - services: Services as the API serves them.
    ///   - slices: EndpointSlices as the API serves them.
    public static func build(services: [JSONValue], slices: [JSONValue], configuration: Configuration) -> ClusterDNSZone {
        var zone = ClusterDNSZone(configuration: configuration)
        let slicesByService = ServiceSnapshot.slicesByService(slices)
        for service in services {
            guard let namespace = service.namespace, let name = service.name else { continue }
            zone.add(service: service, named: "\(name).\(namespace).svc.\(configuration.domain)",
                     slices: slicesByService["\(namespace)/\(name)"] ?? [])
        }
        return zone
    }

    private mutating func add(service: JSONValue, named serviceName: String, slices: [JSONValue]) {
        let spec = service["spec"]
        addName(serviceName)
        if spec?["type"]?.stringValue == "ExternalName" {
            if let target = spec?["externalName"]?.stringValue, !target.isEmpty {
                entries[serviceName, default: Entry()].cname = target.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
            }
            return
        }
        let clusterIPs = (spec?["clusterIPs"]?.arrayValue?.compactMap(\.stringValue) ?? [spec?["clusterIP"]?.stringValue].compactMap { $0 })
            .filter { !$0.isEmpty && $0 != "None" }
        // Named ports only: SRV names are made of the port's name.
        let ports = (spec?["ports"]?.arrayValue ?? []).compactMap { port -> (name: String, proto: String, number: UInt16)? in
            guard let name = port["name"]?.stringValue, !name.isEmpty, let number = port["port"]?.intValue else { return nil }
            return (name.lowercased(), (port["protocol"]?.stringValue ?? "TCP").lowercased(), UInt16(truncatingIfNeeded: number))
        }
        if !clusterIPs.isEmpty {
            for ip in clusterIPs {
                addAddress(ip, to: serviceName)
                addPointer(from: ip, to: serviceName)
            }
            for port in ports {
                addService("_\(port.name)._\(port.proto).\(serviceName)", .init(port: port.number, weight: 100, target: serviceName))
            }
            return
        }
        // Headless: the ready endpoints themselves, each also under a name of its own.
        var targets: [(name: String, ports: [String: UInt16])] = []
        for slice in slices {
            var slicePorts: [String: UInt16] = [:]
            for port in slice["ports"]?.arrayValue ?? [] {
                guard let number = port["port"]?.intValue else { continue }
                let key = "\((port["name"]?.stringValue ?? "").lowercased())/\((port["protocol"]?.stringValue ?? "TCP").lowercased())"
                slicePorts[key] = UInt16(truncatingIfNeeded: number)
            }
            for endpoint in slice["endpoints"]?.arrayValue ?? [] where endpoint["conditions"]?["ready"]?.boolValue ?? true {
                let addresses = (endpoint["addresses"]?.arrayValue ?? []).compactMap(\.stringValue)
                guard let first = addresses.first else { continue }
                let label = endpoint["hostname"]?.stringValue.map { $0.lowercased() }
                    ?? first.replacingOccurrences(of: ".", with: "-").replacingOccurrences(of: ":", with: "-")
                let endpointName = "\(label).\(serviceName)"
                for address in addresses {
                    addAddress(address, to: serviceName)
                    addAddress(address, to: endpointName)
                    addPointer(from: address, to: endpointName)
                }
                targets.append((endpointName, slicePorts))
            }
        }
        for port in ports {
            let weight = UInt16(max(1, 100 / max(1, targets.count)))
            for target in targets {
                guard let number = target.ports["\(port.name)/\(port.proto)"] else { continue }
                addService("_\(port.name)._\(port.proto).\(serviceName)", .init(port: number, weight: weight, target: target.name))
            }
            addName("_\(port.name)._\(port.proto).\(serviceName)")
        }
    }

    private mutating func addAddress(_ text: String, to name: String) {
        addName(name)
        if let address = IPv4Address(text) {
            if !entries[name, default: Entry()].ipv4.contains(address) { entries[name, default: Entry()].ipv4.append(address) }
        } else if let bytes = Self.ipv6Bytes(text), !entries[name, default: Entry()].ipv6.contains(bytes) {
            entries[name, default: Entry()].ipv6.append(bytes)
        }
    }

    private mutating func addPointer(from address: String, to name: String) {
        guard let reverse = Self.reverseName(address) else { return }
        if !entries[reverse, default: Entry()].pointers.contains(name) { entries[reverse, default: Entry()].pointers.append(name) }
    }

    private mutating func addService(_ name: String, _ service: Entry.Service) {
        addName(name)
        entries[name, default: Entry()].services.append(service)
    }

    /// Records the name and its ancestors within the domain as existing, records or not.
    private mutating func addName(_ name: String) {
        nonTerminals.insert(name)
        var rest = Substring(name)
        while let dot = rest.firstIndex(of: ".") {
            rest = rest[rest.index(after: dot)...]
            if rest.count <= configuration.domain.count { break }
            nonTerminals.insert(String(rest))
        }
    }

    /// `d.c.b.a.in-addr.arpa`, or the nibbles of an IPv6 address under `ip6.arpa`.
    public static func reverseName(_ address: String) -> String? {
        if let v4 = IPv4Address(address) { return v4.bytes.reversed().map(String.init).joined(separator: ".") + ".in-addr.arpa" }
        guard let bytes = ipv6Bytes(address) else { return nil }
        let digits = Array("0123456789abcdef")
        return bytes.reversed().flatMap { [String(digits[Int($0 & 0xf)]), String(digits[Int($0 >> 4)])] }.joined(separator: ".") + ".ip6.arpa"
    }

    static func ipv6Bytes(_ text: String) -> [UInt8]? {
        guard text.contains(":"), let bytes = IPAddressBytes.parse(text), bytes.count == 16 else { return nil }
        return bytes
    }
}
