import KeelsonAPI
import KeelsonClient
import Logging
import ServiceLifecycle

/// Gives the node of a server its role labels (`node-role.kubernetes.io/control-plane`, `…/master`), as k3s does
/// from its server process: the node's own kubelet may not set labels in the `kubernetes.io` domain
/// (NodeRestriction). Labels once the node has registered, then waits for shutdown.
public struct ControlPlaneNodeLabeler: Service {
    let client: APIClient
    let nodeName: String
    let logger: Logger

    public static let labels: [String: JSONValue] = ["node-role.kubernetes.io/control-plane": "true", "node-role.kubernetes.io/master": "true"]

    public init(client: APIClient, nodeName: String, logger: Logger) {
        self.client = client
        self.nodeName = nodeName
        self.logger = logger
    }

    public func run() async throws {
        var delay = Duration.milliseconds(200)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                _ = try await client.patch(.nodes, namespace: nil, name: nodeName, ["metadata": ["labels": .object(Self.labels)]], type: .merge)
                break
            } catch {
                // Usually: the node has not registered yet.
                logger.debug("cannot label the control-plane node yet", metadata: ["node": "\(nodeName)", "error": "\(error)"])
                let pause = delay
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
                delay = min(delay * 2, .seconds(5))
            }
        }
        try? await gracefulShutdown()
    }
}
