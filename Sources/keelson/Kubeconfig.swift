import Foundation

/// The admin kubeconfig `keelson server` writes once the API answers, as k3s writes its own.
enum Kubeconfig {
    static func render(server: String) -> String {
        """
        apiVersion: v1
        kind: Config
        clusters:
        - cluster:
            server: \(server)
          name: default
        contexts:
        - context:
            cluster: default
            user: default
          name: default
        current-context: default
        preferences: {}
        users:
        - name: default
          user: {}

        """
    }

    /// Writes atomically (a reader never sees half a file) with the requested mode.
    static func write(server: String, to path: String, mode: Int) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let temporary = path + ".tmp"
        _ = FileManager.default.createFile(atPath: temporary, contents: Data(render(server: server).utf8),
            attributes: [.posixPermissions: mode])
        _ = try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }
}
