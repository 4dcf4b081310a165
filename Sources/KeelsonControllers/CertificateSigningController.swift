import Foundation
import KeelsonAPI
import KeelsonClient
import Logging
import X509

/// Signs approved certificate requests: client certificates with the cluster's client CA (what the API server
/// trusts), kubelet serving certificates with the server CA (what the API server checks kubelets against).
public struct CertificateSigner: Sendable {
    public typealias Sign = @Sendable (_ commonName: String, _ organizations: [String], _ publicKey: Certificate.PublicKey,
        _ validity: TimeInterval) throws -> String
    public typealias SignServing = @Sendable (_ commonName: String, _ organizations: [String], _ dnsNames: [String],
        _ ipAddresses: [String], _ publicKey: Certificate.PublicKey, _ validity: TimeInterval) throws -> String

    /// Issues a client certificate (PEM) for the subject and key, valid for at most `validity`.
    public var sign: Sign
    /// Issues a kubelet serving certificate (PEM) for the names; nil leaves `kubernetes.io/kubelet-serving` requests
    /// to another signer.
    public var signServing: SignServing?

    public init(sign: @escaping Sign, signServing: SignServing? = nil) {
        self.sign = sign
        self.signServing = signServing
    }
}

/// kube-controller-manager's `csrapproving` and `csrsigning` in one: node client certificates asked for with the
/// join token (group `system:bootstrappers`) or by the node itself are approved, and so are a node's requests for
/// its kubelet serving certificate when every name in it is the node's own (its name, the addresses its Node
/// reports) — what k3s's server grants its agents; approved requests for `kubernetes.io/kube-apiserver-client-kubelet`,
/// `kubernetes.io/kube-apiserver-client` and `kubernetes.io/kubelet-serving` are signed. Other requests wait for an
/// administrator (`kubectl certificate approve`) or another signer.
public struct CertificateSigningController: Sendable {
    public static let name = "csrsigning"
    public static let kubeletClientSigner = "kubernetes.io/kube-apiserver-client-kubelet"
    public static let clientSigner = "kubernetes.io/kube-apiserver-client"
    public static let servingSigner = "kubernetes.io/kubelet-serving"
    static let maximumValidity: TimeInterval = 365 * 86400

    let client: any KubernetesClient
    let requests: Informer
    let signer: CertificateSigner
    let logger: Logger

    public init(client: any KubernetesClient, requests: Informer, signer: CertificateSigner, logger: Logger) {
        self.client = client
        self.requests = requests
        self.signer = signer
        self.logger = logger
    }

    public func register(_ queue: WorkQueue<String>) {
        requests.addHandler { event in
            switch event {
            case .added(let request), .updated(_, let request): queue.add(request.name ?? "")
            case .deleted: break
            }
        }
    }

    public func reconcile(_ key: String) async throws -> ReconcileResult {
        guard let request = requests.get(namespace: nil, name: key) else { return .done }
        let signerName = request.value(at: ["spec", "signerName"])?.stringValue ?? ""
        let conditions = (request.value(at: ["status", "conditions"])?.arrayValue ?? []).compactMap { $0["type"]?.stringValue }
        if !(request.value(at: ["status", "certificate"])?.stringValue ?? "").isEmpty || conditions.contains("Denied")
            || conditions.contains("Failed")
        {
            return .done
        }
        let parsed = Self.parse(request)
        if !conditions.contains("Approved") {
            guard let parsed else { return .done }
            let approvable: Bool
            switch signerName {
            case Self.kubeletClientSigner: approvable = Self.isNodeClientRequest(request, parsed)
            case Self.servingSigner:
                // nil: the node has not registered (or reported that address) yet; ask again shortly.
                guard let own = try await isOwnServingRequest(request, parsed) else { return .requeue(after: .seconds(1)) }
                approvable = own
            default: approvable = false
            }
            guard approvable else { return .done }
            var approved = request
            var status = request["status"] ?? [:]
            status["conditions"] = .array((status["conditions"]?.arrayValue ?? []) + [[
                "type": "Approved", "status": "True", "reason": "AutoApproved",
                "message": .string(signerName == Self.servingSigner ? "Auto approving the kubelet serving certificate of the node itself."
                    : "Auto approving kubelet client certificate after SubjectAccessReview."),
            ]])
            approved["status"] = status
            _ = try await client.update(.certificateSigningRequests, namespace: nil, approved, subresource: "approval")
            return .done
        }
        guard signerName == Self.kubeletClientSigner || signerName == Self.clientSigner
            || (signerName == Self.servingSigner && signer.signServing != nil) else { return .done }
        var status = request["status"] ?? [:]
        do {
            guard let parsed else { throw Refusal(message: "the request is not a valid PEM certificate request") }
            if signerName == Self.kubeletClientSigner, !Self.hasNodeSubject(parsed) {
                throw Refusal(message: "the subject must be CN=system:node:NAME, O=system:nodes")
            }
            let requested = request.value(at: ["spec", "expirationSeconds"])?.intValue.map(TimeInterval.init) ?? Self.maximumValidity
            let subject = Self.subject(parsed)
            guard let commonName = subject.commonName, !commonName.isEmpty else { throw Refusal(message: "the subject has no common name") }
            let validity = min(requested, Self.maximumValidity)
            let pem: String
            if signerName == Self.servingSigner, let signServing = signer.signServing {
                guard Self.hasNodeSubject(parsed) else { throw Refusal(message: "the subject must be CN=system:node:NAME, O=system:nodes") }
                let names = Self.subjectAlternativeNames(parsed)
                guard !names.dnsNames.isEmpty || !names.ipAddresses.isEmpty else { throw Refusal(message: "the request names no DNS name or address") }
                pem = try signServing(commonName, subject.organizations, names.dnsNames, names.ipAddresses, parsed.publicKey, validity)
            } else {
                pem = try signer.sign(commonName, subject.organizations, parsed.publicKey, validity)
            }
            status["certificate"] = .string(Data(pem.utf8).base64EncodedString())
        } catch let refusal as Refusal {
            status["conditions"] = .array((status["conditions"]?.arrayValue ?? []) + [[
                "type": "Failed", "status": "True", "reason": "SignerValidationFailure", "message": .string(refusal.message),
                "lastUpdateTime": .string(Timestamp.format(Date())), "lastTransitionTime": .string(Timestamp.format(Date())),
            ]])
        }
        var signed = request
        signed["status"] = status
        _ = try await client.update(.certificateSigningRequests, namespace: nil, signed, subresource: "status")
        return .done
    }

    struct Refusal: Error {
        var message: String
    }

    static func parse(_ request: JSONValue) -> CertificateSigningRequest? {
        guard let encoded = request.value(at: ["spec", "request"])?.stringValue, let data = Data(base64Encoded: encoded) else { return nil }
        return try? CertificateSigningRequest(pemEncoded: String(decoding: data, as: UTF8.self))
    }

    static func subject(_ request: CertificateSigningRequest) -> (commonName: String?, organizations: [String]) {
        var commonName: String?
        var organizations: [String] = []
        for rdn in request.subject {
            for attribute in rdn {
                if attribute.type == .RDNAttributeType.commonName { commonName = String(describing: attribute.value) }
                if attribute.type == .RDNAttributeType.organizationName { organizations.append(String(describing: attribute.value)) }
            }
        }
        return (commonName, organizations)
    }

    static func hasNodeSubject(_ request: CertificateSigningRequest) -> Bool {
        let subject = subject(request)
        guard let name = subject.commonName, name.hasPrefix("system:node:"), name.count > "system:node:".count else { return false }
        return subject.organizations == ["system:nodes"]
    }

    /// The DNS names and IP addresses a request asks for.
    static func subjectAlternativeNames(_ request: CertificateSigningRequest) -> (dnsNames: [String], ipAddresses: [String]) {
        guard let extensions = try? request.attributes.extensionRequest?.extensions,
            let names = try? extensions.subjectAlternativeNames
        else { return ([], []) }
        var dns: [String] = []
        var ips: [String] = []
        for name in names {
            switch name {
            case .dnsName(let value): dns.append(value)
            case .ipAddress(let octets): ips.append(Self.format(address: Array(octets.bytes)))
            default: dns.append("\(name)")  // anything else is a name no node owns: the checks refuse it
            }
        }
        return (dns, ips)
    }

    static func format(address bytes: [UInt8]) -> String { IPAddressBytes.format(bytes) ?? "invalid" }

    /// A node asking for its own serving certificate: subject and requester are the node, only server usages, and
    /// every name its own — its node name, and addresses its Node object reports. Nil while the Node does not
    /// (yet) report every address asked for.
    func isOwnServingRequest(_ object: JSONValue, _ request: CertificateSigningRequest) async throws -> Bool? {
        guard Self.hasNodeSubject(request), let commonName = Self.subject(request).commonName else { return false }
        let usages = Set((object.value(at: ["spec", "usages"])?.arrayValue ?? []).compactMap(\.stringValue))
        guard usages.contains("server auth"), usages.isSubset(of: ["digital signature", "key encipherment", "server auth"]) else { return false }
        let groups = (object.value(at: ["spec", "groups"])?.arrayValue ?? []).compactMap(\.stringValue)
        guard groups.contains("system:nodes"), object.value(at: ["spec", "username"])?.stringValue == commonName else { return false }
        let nodeName = String(commonName.dropFirst("system:node:".count))
        let names = Self.subjectAlternativeNames(request)
        guard !names.ipAddresses.isEmpty || !names.dnsNames.isEmpty, names.dnsNames.allSatisfy({ $0 == nodeName }) else { return false }
        guard !names.ipAddresses.isEmpty else { return true }
        let node: JSONValue
        do {
            node = try await client.get(.nodes, name: nodeName)
        } catch let error as APIError where error.isNotFound {
            return nil
        }
        let reported = Set((node.value(at: ["status", "addresses"])?.arrayValue ?? []).compactMap { $0["address"]?.stringValue })
        return names.ipAddresses.allSatisfy(reported.contains) ? true : nil
    }

    /// What the auto-approver accepts: a node client certificate with only client usages, asked for by a holder of
    /// the join token or by that same node renewing its own.
    static func isNodeClientRequest(_ object: JSONValue, _ request: CertificateSigningRequest) -> Bool {
        guard hasNodeSubject(request) else { return false }
        let usages = Set((object.value(at: ["spec", "usages"])?.arrayValue ?? []).compactMap(\.stringValue))
        guard usages.contains("client auth"), usages.isSubset(of: ["digital signature", "key encipherment", "client auth"]) else { return false }
        let requester = object.value(at: ["spec", "username"])?.stringValue ?? ""
        let groups = (object.value(at: ["spec", "groups"])?.arrayValue ?? []).compactMap(\.stringValue)
        if groups.contains("system:bootstrappers") { return true }
        return groups.contains("system:nodes") && requester == subject(request).commonName
    }
}
