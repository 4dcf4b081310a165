/// Annotations Keelson itself puts on Services.
public enum ServiceAnnotations {
    /// "true" on a Service whose cluster IP every node answers on itself (the cluster DNS address, which each
    /// agent serves): proxies leave its address alone instead of rejecting it for want of endpoints.
    public static let nodeLocal = "keelson.io/node-local"
}
