import ArgumentParser
import Foundation
import KeelsonAPI
import KeelsonAPIServer
import KeelsonClient
import KeelsonControllers
import Logging
import ServiceLifecycle

/// `keelson controller-manager`: the controllers on their own, against any API server a kubeconfig names, with
/// leader election so several can run for availability.
struct ControllerManagerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller-manager",
        abstract: "Run the controller manager against an API server."
    )

    @Option(help: "Path to the kubeconfig naming the API server and credentials")
    var kubeconfig: String

    @Flag(inversion: .prefixedNo, help: "Elect a leader through the kube-system/kube-controller-manager Lease")
    var leaderElect = true

    @Option(help: "Leader election: how long a Lease is valid without renewal, in seconds")
    var leaderElectLeaseDuration: Int = 15

    @Option(help: "Leader election: how long the leader keeps trying to renew before giving up, in seconds")
    var leaderElectRenewDeadline: Int = 10

    @Option(help: "Leader election: how often candidates try to acquire or renew, in seconds")
    var leaderElectRetryPeriod: Int = 2

    @Option(help: "CIDR range for pods; each node gets a block of it")
    var clusterCidr: String = "10.42.0.0/16"

    @Option(help: "Prefix length of each node's block of the cluster CIDR")
    var nodeCidrMaskSize: Int = 24

    @Option(help: "How long a node may go without a heartbeat before it is marked unreachable (e.g. 40s)")
    var nodeMonitorGracePeriod: String = "40s"

    @Option(help: "How often each node's health is checked (e.g. 5s)")
    var nodeMonitorPeriod: String = "5s"

    @Option(help: "Finished pods kept before the oldest are deleted (0 keeps all)")
    var terminatedPodGcThreshold: Int = 12_500

    @Option(help: "The client CA's certificate (PEM): with --cluster-signing-key-file, approved client certificate requests are signed with it (a server's DATA_DIR/server/tls/client-ca.crt)")
    var clusterSigningCertFile: String?

    @Option(help: "The client CA's key (PEM)")
    var clusterSigningKeyFile: String?

    @Option(help: "The server CA's certificate (PEM): with --cluster-signing-kubelet-serving-key-file, approved kubelet serving certificate requests are signed with it (a server's DATA_DIR/server/tls/server-ca.crt)")
    var clusterSigningKubeletServingCertFile: String?

    @Option(help: "The server CA's key (PEM)")
    var clusterSigningKubeletServingKeyFile: String?

    @Option(help: "The cluster CA (PEM) to publish as kube-root-ca.crt in every namespace (a server's DATA_DIR/server/tls/server-ca.crt)")
    var rootCaFile: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical")
    var logLevel: String = "warning"

    func validate() throws {
        guard let range = IPv4Range(clusterCidr), (range.prefixLength...30).contains(nodeCidrMaskSize) else {
            throw ValidationError("--cluster-cidr must be an IPv4 CIDR and --node-cidr-mask-size between its prefix and 30")
        }
        guard GoDuration.parse(nodeMonitorGracePeriod) != nil, GoDuration.parse(nodeMonitorPeriod) != nil else {
            throw ValidationError("--node-monitor-grace-period and --node-monitor-period must be durations such as 40s")
        }
        try ComponentCommand.validateLogLevel(logLevel)
        guard (clusterSigningCertFile == nil) == (clusterSigningKeyFile == nil),
            (clusterSigningKubeletServingCertFile == nil) == (clusterSigningKubeletServingKeyFile == nil)
        else {
            throw ValidationError("each --cluster-signing-…-cert-file goes with its --cluster-signing-…-key-file")
        }
        guard clusterSigningKubeletServingCertFile == nil || clusterSigningCertFile != nil else {
            throw ValidationError("--cluster-signing-kubelet-serving-cert-file needs --cluster-signing-cert-file too")
        }
        guard leaderElectRetryPeriod > 0, leaderElectRenewDeadline > leaderElectRetryPeriod, leaderElectLeaseDuration > leaderElectRenewDeadline else {
            throw ValidationError("leader election needs retry period < renew deadline < lease duration")
        }
    }

    func run() async throws {
        var signer: CertificateSigner?
        var rootCAPEM: String?
        do {
            if let certificate = clusterSigningCertFile, let key = clusterSigningKeyFile {
                var servingCA: CertificateAuthority?
                if let servingCertificate = clusterSigningKubeletServingCertFile, let servingKey = clusterSigningKubeletServingKeyFile {
                    servingCA = try ClusterPKI.loadCA(certificateFile: servingCertificate, keyFile: servingKey)
                }
                signer = ServerSecurity.signer(try ClusterPKI.loadCA(certificateFile: certificate, keyFile: key), servingCA: servingCA)
            }
            if let rootCaFile {
                rootCAPEM = try String(contentsOfFile: rootCaFile, encoding: .utf8)
            }
        } catch {
            throw ValidationError("\(error)")
        }
        try await ComponentCommand.run(kubeconfig: kubeconfig, userAgent: "keelson-controller-manager", logLevel: logLevel,
            label: "keelson.controllers")
        { client, logger in
            let election: LeaderElector.Configuration? = leaderElect
                ? .init(name: ControllerManager.leaseName, identity: LeaderElector.defaultIdentity(),
                    leaseDuration: .seconds(leaderElectLeaseDuration), renewDeadline: .seconds(leaderElectRenewDeadline),
                    retryPeriod: .seconds(leaderElectRetryPeriod))
                : nil
            var controllers = ControllerManager.Configuration(leaderElection: election)
            controllers.clusterRange = IPv4Range(clusterCidr)!
            controllers.nodeCIDRMaskSize = nodeCidrMaskSize
            controllers.nodeLifecycle = .init(gracePeriod: GoDuration.parse(nodeMonitorGracePeriod)!, monitorPeriod: GoDuration.parse(nodeMonitorPeriod)!)
            controllers.terminatedPodThreshold = terminatedPodGcThreshold
            controllers.certificateSigner = signer
            controllers.rootCAPEM = rootCAPEM
            return ControllerManager(client: client, logger: logger, configuration: controllers)
        }
    }
}
