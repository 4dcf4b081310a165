import Foundation
import KeelsonAPI
import KeelsonAPIServer
import KeelsonControllers

/// The server's TLS material and authenticators, from its flags and data dir.
enum ServerSecurity {
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    /// Signs approved client-certificate requests with `ca` (the client CA: what the API server trusts) and, given
    /// the server CA, kubelet serving certificates with it (what the API server checks kubelets against).
    static func signer(_ ca: CertificateAuthority, servingCA: CertificateAuthority? = nil) -> CertificateSigner {
        let sign: CertificateSigner.Sign = { commonName, organizations, publicKey, validity in
            try ca.issue(commonName: commonName, organizations: organizations, usage: .client, publicKey: publicKey,
                validity: validity).serializeAsPEM().pemString + "\n"
        }
        var signServing: CertificateSigner.SignServing?
        if let servingCA {
            signServing = { commonName, organizations, dnsNames, ipAddresses, publicKey, validity in
                try servingCA.issue(commonName: commonName, organizations: organizations,
                    usage: .server(dnsNames: dnsNames, ipAddresses: ipAddresses), publicKey: publicKey,
                    validity: validity).serializeAsPEM().pemString + "\n"
            }
        }
        return CertificateSigner(sign: sign, signServing: signServing)
    }

    static func make(config: ServerConfiguration, flags: ServerFlags, agent: AgentFlags, nodeName: String) throws -> (ClusterPKI, APIServerSecurity) {
        var extra = flags.tlsSan
        if let nodeIP = agent.nodeIp { extra.append(nodeIP) }
        if !["0.0.0.0", "::", "127.0.0.1", "::1"].contains(config.bindAddress) { extra.append(config.bindAddress) }
        let names = ClusterPKI.servingNames(nodeName: nodeName, serviceIP: IPv4Range.format(config.serviceRange.address(at: 1)), extra: extra)
        let pki = try ClusterPKI.loadOrCreate(directory: URL(fileURLWithPath: config.dataDir).appendingPathComponent("server/tls"),
            dnsNames: names.dnsNames, ipAddresses: names.ipAddresses)
        let caPEM = try pki.serverCAPEM
        let joinToken = try JoinToken.loadOrCreate(path: URL(fileURLWithPath: config.dataDir).appendingPathComponent("server/token").path,
            given: flags.token, caPEM: caPEM)
        var tokens: [any BearerTokenAuthenticator] = [JoinTokenAuthenticator(token: joinToken)]
        if let file = flags.tokenAuthFile {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw Invalid(description: "--token-auth-file \(file): \(error.localizedDescription)")
            }
            tokens.append(try StaticTokenAuthenticator(csv: text, source: file))
        }
        var security = APIServerSecurity(serving: pki.serving, clientCA: .init(der: try pki.clientCADER), serverCAPEM: caPEM,
            authenticator: RequestAuthenticator(clientCA: pki.clientCA.certificate, tokenAuthenticators: tokens))
        try security.useKubeletClient(try pki.issueKubeletClient())
        security.serviceAccountTokens = ServiceAccountTokenIssuer(
            key: try ServiceAccountTokenIssuer.loadOrCreateKey(path: pki.directory.appendingPathComponent("service.key").path))
        return (pki, security)
    }
}
