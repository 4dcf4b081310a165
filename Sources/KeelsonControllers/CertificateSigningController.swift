import Foundation
import KeelsonAPI
import KeelsonClient
import Logging
import X509

/// Signs approved certificate requests with the cluster's client CA, for the signers the API server trusts.
public struct CertificateSigner: Sendable {
    public typealias Sign = @Sendable (_ commonName: String, _ organizations: [String], _ publicKey: Certificate.PublicKey,
        _ validity: TimeInterval) throws -> String

    /// Issues a client certificate (PEM) for the subject and key, valid for at most `validity`.
    public var sign: Sign

    public init(sign: @escaping Sign) {
        self.sign = sign
    }
}

/// kube-controller-manager's `csrapproving` and `csrsigning` in one: node client certificates asked for with the
/// join token (group `system:bootstrappers`) or by the node itself are approved; approved requests for
/// `kubernetes.io/kube-apiserver-client-kubelet` and `kubernetes.io/kube-apiserver-client` are signed. Other
/// requests wait for an administrator (`kubectl certificate approve`) or another signer.
public struct CertificateSigningController: Sendable {
    public static let name = "csrsigning"
    public static let kubeletClientSigner = "kubernetes.io/kube-apiserver-client-kubelet"
    public static let clientSigner = "kubernetes.io/kube-apiserver-client"
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
            guard signerName == Self.kubeletClientSigner, let parsed, Self.isNodeClientRequest(request, parsed) else { return .done }
            var approved = request
            var status = request["status"] ?? [:]
            status["conditions"] = .array((status["conditions"]?.arrayValue ?? []) + [[
                "type": "Approved", "status": "True", "reason": "AutoApproved",
                "message": "Auto approving kubelet client certificate after SubjectAccessReview.",
            ]])
            approved["status"] = status
            _ = try await client.update(.certificateSigningRequests, namespace: nil, approved, subresource: "approval")
            return .done
        }
        guard signerName == Self.kubeletClientSigner || signerName == Self.clientSigner else { return .done }
        var status = request["status"] ?? [:]
        do {
            guard let parsed else { throw Refusal(message: "the request is not a valid PEM certificate request") }
            if signerName == Self.kubeletClientSigner, !Self.hasNodeSubject(parsed) {
                throw Refusal(message: "the subject must be CN=system:node:NAME, O=system:nodes")
            }
            let requested = request.value(at: ["spec", "expirationSeconds"])?.intValue.map(TimeInterval.init) ?? Self.maximumValidity
            let subject = Self.subject(parsed)
            guard let commonName = subject.commonName, !commonName.isEmpty else { throw Refusal(message: "the subject has no common name") }
            let pem = try signer.sign(commonName, subject.organizations, parsed.publicKey, min(requested, Self.maximumValidity))
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
