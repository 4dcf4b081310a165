import ArgumentParser

/// The node agent's flags, shared by `keelson agent` and `keelson server` (which runs an agent unless
/// `--disable-agent`); names follow k3s.
struct AgentFlags: ParsableArguments {
    @Option(help: "(agent/node) Node name (default: the host name)")
    var nodeName: String?

    @Option(help: "(agent/networking) IPv4 address to advertise for the node (default: the first non-loopback address)")
    var nodeIp: String?

    @Option(name: .customLong("node-label"), help: "(agent/node) Label to register the node with (KEY=VALUE; repeatable)")
    var nodeLabels: [String] = []

    @Option(name: .customLong("node-taint"), help: "(agent/node) Taint to register the node with (KEY[=VALUE]:EFFECT; repeatable)")
    var nodeTaints: [String] = []

    @Option(help: "(agent/runtime) Use this CRI socket instead of starting containerd (e.g. /run/containerd/containerd.sock)")
    var containerRuntimeEndpoint: String?

    @Option(help: "(agent/runtime) Sandbox (pause) image")
    var pauseImage: String = "keelson.local/pause:1.0"

    @Option(help: "(agent/networking) Cluster DNS server address written into pods' resolv.conf")
    var clusterDns: String = "10.43.0.10"

    @Option(help: "(agent/networking) Cluster domain")
    var clusterDomain: String = "cluster.local"

    @Option(help: "(agent/networking) resolv.conf of the node: its nameservers answer names outside the cluster, for pods with dnsPolicy Default too")
    var resolvConf: String = "/etc/resolv.conf"

    @Option(help: "(agent/networking) How pods reach pods of other nodes: host-gw (routes through the nodes' addresses) or none")
    var flannelBackend: String = "host-gw"

    @Flag(help: "(agent/networking) Do not run the service proxy")
    var disableKubeProxy = false

    @Option(help: "(agent/networking) How the service proxy programs the kernel: iptables or nftables")
    var proxyMode: String = "iptables"

    @Flag(help: "(agent/networking) Do not serve cluster DNS on the --cluster-dns address")
    var disableClusterDns = false

    @Option(help: "(agent/kubelet) Resources reserved for the system (cpu=100m,memory=100Mi)")
    var systemReserved: String?

    @Option(help: "(agent/kubelet) Resources reserved for Kubernetes components (cpu=100m,memory=100Mi)")
    var kubeReserved: String?

    @Option(help: "(agent/kubelet) Parent cgroup of the pods")
    var cgroupRoot: String = "/keelson"

    @Option(help: "(agent/kubelet) Rotate a container's log when it grows past this size")
    var containerLogMaxSize: String = "10Mi"

    @Option(help: "(agent/kubelet) Log files kept per container, the current one included")
    var containerLogMaxFiles: Int = 5

    @Option(help: "(agent/kubelet) Hard eviction thresholds (memory.available<100Mi,nodefs.available<10%)")
    var evictionHard: String = "memory.available<100Mi,nodefs.available<10%"

    @Option(help: "(agent/kubelet) Percent of the image filesystem in use above which unused images are removed")
    var imageGcHighThreshold: Int = 85

    @Option(help: "(agent/kubelet) Percent of the image filesystem in use that image garbage collection brings usage down to")
    var imageGcLowThreshold: Int = 80

    @Option(help: "(agent/kubelet) Minimum age of an unused image before it may be removed (e.g. 2m)")
    var imageMinimumGcAge: String = "2m"

    @Option(help: "(agent/kubelet) How often image garbage collection looks at the image filesystem (e.g. 5m)")
    var imageGcPeriod: String = "5m"

    @Option(help: "(agent/kubelet) How often container stats are sampled (e.g. 1s, 500ms)")
    var housekeepingInterval: String = "1s"

    @Option(help: "(agent/kubelet) How much stats history is kept in memory (e.g. 2m)")
    var statsHistoryDuration: String = "2m"

    @Option(help: "(agent/kubelet) Port of the kubelet API")
    var kubeletPort: Int = 10250

    @Option(help: "(agent/runtime) Port of containerd's streaming server (exec, attach, port-forward) on loopback")
    var streamPort: Int = 10010
}
