import ServiceLifecycle

/// Runs `body` every `interval` until graceful shutdown, for the server's housekeeping services. The first run is
/// one interval after the start.
func everyInterval(_ interval: Duration, _ body: () async -> Void) async {
    while !Task.isShuttingDownGracefully {
        do {
            try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        } catch {
            return
        }
        await body()
    }
}
