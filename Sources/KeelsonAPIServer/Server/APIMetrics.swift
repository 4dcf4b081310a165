import Prometheus

/// The API server's own metrics, under kube-apiserver's names so existing dashboards and alerts read them.
final class APIMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    // Computed: the descriptor type is not Sendable, so it cannot be a stored static.
    private static var requestTotal: MetricNameDescriptor {
        MetricNameDescriptor(metricName: "apiserver_request_total",
            helpText: "Counter of apiserver requests broken out for each verb, resource and HTTP response code.")
    }
    private static var requestDuration: MetricNameDescriptor {
        MetricNameDescriptor(metricName: "apiserver_request_duration_seconds",
            helpText: "Response latency distribution in seconds for each verb and resource.")
    }
    private static let buckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30),
    ]

    func record(verb: String, resource: String, code: Int, duration: Duration) {
        registry.makeCounter(descriptor: Self.requestTotal,
            labels: [("verb", verb), ("resource", resource), ("code", String(code))]).increment()
        registry.makeDurationHistogram(descriptor: Self.requestDuration, labels: [("verb", verb), ("resource", resource)],
            buckets: Self.buckets).record(duration)
    }

    /// The Prometheus text exposition of every metric.
    func render() -> [UInt8] { registry.emitToBuffer() }

    /// kube-apiserver's verb names: GET is get, list or watch; DELETE of a collection is deletecollection.
    static func verb(method: String, hasName: Bool, watch: Bool) -> String {
        switch method {
        case "GET": return watch ? "WATCH" : (hasName ? "GET" : "LIST")
        case "POST": return "POST"
        case "PUT": return "PUT"
        case "PATCH": return "PATCH"
        case "DELETE": return hasName ? "DELETE" : "DELETECOLLECTION"
        default: return method
        }
    }
}
