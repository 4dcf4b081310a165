import Foundation

/// A CA with a serving certificate for 127.0.0.1/localhost (and any names asked for) and a client certificate, made with the openssl
/// command for one test (ECDSA P-256, valid for a day). A second, unrelated CA's client certificate is there too,
/// to show that a certificate the server does not trust is refused.
public struct TestCertificates: Sendable {
    public var ca: String
    public var serverCertificate: String
    public var serverKey: String
    public var clientCertificate: String
    public var clientKey: String
    public var untrustedClientCertificate: String
    public var untrustedClientKey: String

    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    /// `dnsNames` are added to the serving certificate's names.
    public static func make(in directory: URL, dnsNames: [String] = []) throws -> TestCertificates {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        try openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path("ca.key")])
        try openssl(["req", "-x509", "-new", "-key", path("ca.key"), "-subj", "/CN=keelson-test-ca", "-days", "1", "-out", path("ca.crt")])
        try openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path("other-ca.key")])
        try openssl(["req", "-x509", "-new", "-key", path("other-ca.key"), "-subj", "/CN=other-ca", "-days", "1", "-out", path("other-ca.crt")])
        func issue(_ name: String, subject: String, extensions: String, ca: String = "ca") throws {
            try openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path("\(name).key")])
            try openssl(["req", "-new", "-key", path("\(name).key"), "-subj", subject, "-out", path("\(name).csr")])
            try extensions.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
            try openssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).crt"), "-CAkey", path("\(ca).key"),
                         "-CAcreateserial", "-days", "1", "-extfile", path("\(name).ext"), "-out", path("\(name).crt")])
        }
        try issue("server", subject: "/CN=etcd", extensions: """
            subjectAltName = IP:127.0.0.1, DNS:localhost\(dnsNames.map { ", DNS:\($0)" }.joined())
            extendedKeyUsage = serverAuth, clientAuth
            """)
        try issue("client", subject: "/CN=keelson", extensions: "extendedKeyUsage = clientAuth\n")
        try issue("untrusted", subject: "/CN=intruder", extensions: "extendedKeyUsage = clientAuth\n", ca: "other-ca")
        return TestCertificates(ca: path("ca.crt"), serverCertificate: path("server.crt"), serverKey: path("server.key"),
            clientCertificate: path("client.crt"), clientKey: path("client.key"),
            untrustedClientCertificate: path("untrusted.crt"), untrustedClientKey: path("untrusted.key"))
    }

    private static func openssl(_ arguments: [String]) throws {
        let output = try Command.run("/usr/bin/openssl", arguments)
        guard output.status == 0 else {
            throw Failed(description: "openssl \(arguments.first ?? "") failed: \(output.stderr)")
        }
    }
}
