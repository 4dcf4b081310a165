import ArgumentParser

/// `keelson server` flags; names and defaults follow k3s where k3s has the flag.
struct ServerFlags: ParsableArguments {
    @Option(help: "(data) Folder to hold state")
    var dataDir: String = "/var/lib/keelson"

    @Option(help: "(listener) Address the API server binds to")
    var bindAddress: String = "127.0.0.1"

    @Option(help: "(listener) Port the API server listens on")
    var httpsListenPort: Int = 6443

    @Option(help: "(client) Write the admin kubeconfig to this file (default: DATA_DIR/kubeconfig.yaml)")
    var writeKubeconfig: String?

    @Option(help: "(client) Write the kubeconfig with this mode (octal)")
    var writeKubeconfigMode: String = "0600"

    @Option(help: "(listener) Add additional hostnames or IPv4/IPv6 addresses as Subject Alternative Names on the server TLS cert")
    var tlsSan: [String] = []

    @Option(help: "(cluster) Shared secret used to join agents to the cluster (default: kept in DATA_DIR/server/token)")
    var token: String?

    @Option(help: "(auth) A CSV file of bearer tokens: token,user,uid,\"group1,group2\" (as kube-apiserver's --token-auth-file)")
    var tokenAuthFile: String?

    @Flag(help: "(security) Encrypt Secrets in the datastore with AES-GCM (keys in DATA_DIR/server/cred/encryption-config.json)")
    var secretsEncryption = false

    @Option(help: "(audit) Write an audit log (audit.k8s.io/v1 Events, one JSON per line) to this file")
    var auditLogPath: String?

    @Option(help: "(audit) An audit Policy file (audit.k8s.io/v1); without one every request is logged at Metadata level")
    var auditPolicyFile: String?

    @Option(help: "(audit) Rotate the audit log when it reaches this many megabytes (0: never)")
    var auditLogMaxsize: Int = 0

    @Option(help: "(audit) Rotated audit logs to keep (0: all)")
    var auditLogMaxbackup: Int = 0

    @OptionGroup var datastore: DatastoreFlags

    @Option(help: "(db) How long Events are kept after their last change")
    var eventTtl: String = "1h"

    @Option(help: "(db) Keep the registry in memory and answer lists from it (false: every list reads the datastore)")
    var watchCache: Bool = true

    @Flag(help: "(agent) Run the control plane only, without the node agent")
    var disableAgent = false

    @Flag(help: "(components) Do not run the controller manager")
    var disableControllerManager = false

    @Flag(help: "(components) Do not run the scheduler")
    var disableScheduler = false

    @Option(help: "(components) A KubeSchedulerConfiguration file for the scheduler: profiles, plugins and weights")
    var schedulerConfig: String?

    @Option(help: "(networking) IPv4 network CIDR to use for pod IPs")
    var clusterCidr: String = "10.42.0.0/16"

    @Option(help: "(networking) IPv4 network CIDR to use for service IPs")
    var serviceCidr: String = "10.43.0.0/16"

    @Option(help: "(networking) Port range to reserve for services with NodePort visibility")
    var serviceNodePortRange: String = "30000-32767"

    @Option(help: "(controllers) How long a node may go without a heartbeat before it is marked unreachable")
    var nodeMonitorGracePeriod: String = "40s"

    @Option(help: "(admission) Seconds new pods tolerate a not-ready node before eviction")
    var defaultNotReadyTolerationSeconds: Int = 300

    @Option(help: "(admission) Seconds new pods tolerate an unreachable node before eviction")
    var defaultUnreachableTolerationSeconds: Int = 300

    @Option(help: "(logging) Log level: trace, debug, info, notice, warning, error, critical")
    var logLevel: String = "warning"
}
