import Foundation

/// The kubeconfig files Keelson writes: the admin's (`keelson server`, as k3s writes its own) and an agent's.
enum Kubeconfig {
    struct Credentials {
        var certificateAuthorityPEM: String?
        var clientCertificatePEM: String?
        var clientKeyPEM: String?
        var token: String?
    }

    static func render(server: String, credentials: Credentials = Credentials()) -> String {
        func data(_ pem: String) -> String { Data(pem.utf8).base64EncodedString() }
        var cluster = "    server: \(server)\n"
        if let ca = credentials.certificateAuthorityPEM { cluster = "    certificate-authority-data: \(data(ca))\n" + cluster }
        var user = ""
        if let certificate = credentials.clientCertificatePEM, let key = credentials.clientKeyPEM {
            user += "    client-certificate-data: \(data(certificate))\n    client-key-data: \(data(key))\n"
        }
        if let token = credentials.token { user += "    token: \(token)\n" }
        return """
            apiVersion: v1
            kind: Config
            clusters:
            - cluster:
            \(cluster)  name: default
            contexts:
            - context:
                cluster: default
                user: default
              name: default
            current-context: default
            preferences: {}
            users:
            - name: default
              user:\(user.isEmpty ? " {}\n" : "\n" + user)
            """
    }

    /// Writes atomically (a reader never sees half a file) with the requested mode.
    static func write(server: String, credentials: Credentials = Credentials(), to path: String, mode: Int) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let temporary = path + ".tmp"
        _ = FileManager.default.createFile(atPath: temporary, contents: Data(render(server: server, credentials: credentials).utf8),
            attributes: [.posixPermissions: mode])
        _ = try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }
}
