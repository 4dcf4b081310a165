import Foundation
import KeelsonAPI
import KeelsonClient
import Logging
import NIOCore
import ServiceLifecycle

/// The cluster DNS of a node: follows Services and EndpointSlices through informers and answers for them on
/// the cluster DNS address, which the agent puts on the node's loopback interface so that every pod of the
/// node reaches its own node's server (as NodeLocal DNSCache does), without a pod or a proxy rule in between.
public struct ClusterDNSService: Service {
    public struct Configuration: Sendable {
        public var addresses: [String]
        public var port = 53
        public var domain = "cluster.local"
        /// resolv.conf whose nameservers receive the names outside the cluster.
        public var resolvConf = "/etc/resolv.conf"
        /// Put the addresses on the loopback interface first, so that this node owns them.
        public var addToLoopback = false

        public init(addresses: [String]) { self.addresses = addresses }
    }

    let client: any KubernetesClient
    let configuration: Configuration
    let logger: Logger

    public init(client: any KubernetesClient, configuration: Configuration, logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        let zoneConfiguration = ClusterDNSZone.Configuration(domain: configuration.domain)
        let upstreams = Self.upstreams(resolvConf: configuration.resolvConf, excluding: configuration.addresses)
        if upstreams.isEmpty {
            logger.warning("no resolver to forward names outside the cluster to; they will fail", metadata: ["resolv-conf": "\(configuration.resolvConf)"])
        }
        if configuration.addToLoopback {
            for address in configuration.addresses { try await Self.addToLoopback(address) }
        }
        let forwarder = upstreams.isEmpty ? nil : try await DNSForwarder.start(upstreams: upstreams)
        let server: ClusterDNSServer
        do {
            server = try await ClusterDNSServer.start(zone: ClusterDNSZone(configuration: zoneConfiguration), addresses: configuration.addresses,
                                                      port: configuration.port, forwarder: forwarder)
        } catch {
            await forwarder?.close()
            throw ClusterDNSError(description: "cannot listen on \(configuration.addresses.joined(separator: ", ")) port \(configuration.port): \(error)")
        }
        let services = Informer(client: client, resource: .services, logger: logger)
        let slices = Informer(client: client, resource: .endpointSlices, logger: logger)
        var failure: (any Error)?
        do {
            try await InformerSync.run([services, slices]) {
                server.update(ClusterDNSZone.build(services: services.list(), slices: slices.list(), configuration: zoneConfiguration))
                return nil
            }
        } catch {
            failure = error
        }
        await server.close()
        await forwarder?.close()
        if let failure { throw failure }
    }

    /// `ip address replace` is idempotent: a restarted agent finds the address where it left it.
    static func addToLoopback(_ address: String) async throws {
        do {
            try await SystemCommand.output(["ip", "address", "replace", address.contains(":") ? "\(address)/128" : "\(address)/32", "dev", "lo"])
        } catch {
            throw ClusterDNSError(description: "cannot put the cluster DNS address \(address) on the loopback interface: \(error)")
        }
    }

    /// The node's resolvers. systemd-resolved's stub (127.0.0.53) would send back to itself what it cannot
    /// answer, so the upstream list it keeps is used instead, as k3s does.
    static func upstreams(resolvConf: String, excluding own: [String]) -> [SocketAddress] {
        let text = (try? String(contentsOfFile: resolvConf, encoding: .utf8)) ?? ""
        var servers = DNSForwarder.nameservers(resolvConf: text)
        if !servers.isEmpty, servers.allSatisfy({ $0.ipAddress == "127.0.0.53" }),
           let resolved = try? String(contentsOfFile: "/run/systemd/resolve/resolv.conf", encoding: .utf8) {
            servers = DNSForwarder.nameservers(resolvConf: resolved)
        }
        return servers.filter { !own.contains($0.ipAddress ?? "") }
    }
}

public struct ClusterDNSError: Error, CustomStringConvertible {
    public var description: String
}
