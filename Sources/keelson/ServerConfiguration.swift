import Foundation
import KeelsonStore
import KeelsonAPI
import KeelsonClient
import KeelsonScheduler
import Logging

/// `keelson server` flags, validated once into typed values.
struct ServerConfiguration {
    var dataDir: String
    var bindAddress: String
    var port: Int
    var kubeconfigPath: String
    var kubeconfigMode: Int
    var datastore: Datastore
    var eventTTL: Duration
    var logLevel: Logger.Level
    var runControllerManager: Bool
    var runScheduler: Bool
    var schedulerProfiles: [SchedulingProfile]
    var clusterRange: IPv4Range
    var serviceRange: IPv4Range
    var nodePortRange: ClosedRange<Int>
    var nodeMonitorGracePeriod: Duration
    var defaultNotReadyTolerationSeconds: Int64
    var defaultUnreachableTolerationSeconds: Int64

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    init(_ flags: ServerFlags) throws {
        dataDir = flags.dataDir
        bindAddress = flags.bindAddress
        guard (0...65535).contains(flags.httpsListenPort) else {
            throw Invalid(description: "--https-listen-port must be between 0 and 65535, not \(flags.httpsListenPort)")
        }
        port = flags.httpsListenPort
        kubeconfigPath = flags.writeKubeconfig ?? (flags.dataDir as NSString).appendingPathComponent("kubeconfig.yaml")
        guard let mode = Int(flags.writeKubeconfigMode, radix: 8) else {
            throw Invalid(description: "--write-kubeconfig-mode must be an octal mode such as 0600, not \(flags.writeKubeconfigMode)")
        }
        kubeconfigMode = mode
        do {
            datastore = try Datastore(flags.datastore, dataDir: flags.dataDir)
        } catch {
            throw Invalid(description: "\(error)")
        }
        guard let ttl = GoDuration.parse(flags.eventTtl), ttl > .zero else {
            throw Invalid(description: "--event-ttl must be a duration such as 1h, not \(flags.eventTtl)")
        }
        eventTTL = ttl
        guard let level = Logger.Level(rawValue: flags.logLevel) else {
            throw Invalid(description: "--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        logLevel = level
        runControllerManager = !flags.disableControllerManager
        runScheduler = !flags.disableScheduler
        schedulerProfiles = [.defaultProfile()]
        if let path = flags.schedulerConfig {
            do {
                schedulerProfiles = try SchedulerConfiguration.profiles(from: YAMLFile.load(path))
            } catch {
                throw Invalid(description: "--scheduler-config \(path): \(error)")
            }
        }
        guard let cluster = IPv4Range(flags.clusterCidr) else {
            throw Invalid(description: "--cluster-cidr must be an IPv4 CIDR such as 10.42.0.0/16, not \(flags.clusterCidr)")
        }
        clusterRange = cluster
        guard let service = IPv4Range(flags.serviceCidr), service.prefixLength >= 12, service.prefixLength <= 30 else {
            throw Invalid(description: "--service-cidr must be an IPv4 CIDR from /12 to /30 such as 10.43.0.0/16, not \(flags.serviceCidr)")
        }
        serviceRange = service
        let bounds = flags.serviceNodePortRange.split(separator: "-").map { Int($0) }
        guard bounds.count == 2, let low = bounds[0], let high = bounds[1], 1 <= low, low <= high, high <= 65535 else {
            throw Invalid(description: "--service-node-port-range must be LOW-HIGH such as 30000-32767, not \(flags.serviceNodePortRange)")
        }
        nodePortRange = low...high
        guard let grace = GoDuration.parse(flags.nodeMonitorGracePeriod), grace > .zero else {
            throw Invalid(description: "--node-monitor-grace-period must be a duration such as 40s, not \(flags.nodeMonitorGracePeriod)")
        }
        nodeMonitorGracePeriod = grace
        guard flags.defaultNotReadyTolerationSeconds >= 0, flags.defaultUnreachableTolerationSeconds >= 0 else {
            throw Invalid(description: "--default-not-ready-toleration-seconds and --default-unreachable-toleration-seconds must not be negative")
        }
        defaultNotReadyTolerationSeconds = Int64(flags.defaultNotReadyTolerationSeconds)
        defaultUnreachableTolerationSeconds = Int64(flags.defaultUnreachableTolerationSeconds)
    }
}
