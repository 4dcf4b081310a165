import Crypto
import Foundation
import KeelsonAPI
import KeelsonClient
import KeelsonTestKit
import SwiftASN1
import Synchronization
import Testing
import X509

@testable import KeelsonControllers

@Suite("Certificate signing requests")
struct CertificateSigningControllerTests {
    static func request(_ name: String, commonName: String, organizations: [String], signer: String = CertificateSigningController.kubeletClientSigner,
        usages: [String] = ["digital signature", "key encipherment", "client auth"], username: String, groups: [String],
        approved: Bool = false, names: [GeneralName] = []) throws -> JSONValue
    {
        let key = P256.Signing.PrivateKey()
        var attributes = CertificateSigningRequest.Attributes()
        if !names.isEmpty {
            attributes = CertificateSigningRequest.Attributes([
                try .init(ExtensionRequest(extensions: try Certificate.Extensions { SubjectAlternativeNames(names) })),
            ])
        }
        let csr = try CertificateSigningRequest(version: .v1, subject: try DistinguishedName {
            for organization in organizations { OrganizationName(organization) }
            CommonName(commonName)
        }, privateKey: .init(key), attributes: attributes, signatureAlgorithm: .ecdsaWithSHA256)
        var object: JSONValue = [
            "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": ["name": .string(name), "uid": .string("uid-\(name)")],
            "spec": ["request": .string(Data((try csr.serializeAsPEM().pemString).utf8).base64EncodedString()), "signerName": .string(signer),
                     "usages": .array(usages.map(JSONValue.string)), "username": .string(username), "groups": .array(groups.map(JSONValue.string))],
        ]
        if approved { object["status"] = ["conditions": [["type": "Approved", "status": "True", "reason": "ByHand"]]] }
        return object
    }

    /// The condition types of a stored request.
    static func conditions(_ api: FakeKubernetesAPI, _ name: String) -> [String] {
        (api.stored(.certificateSigningRequests, namespace: nil, name: name)?.value(at: ["status", "conditions"])?.arrayValue ?? [])
            .compactMap { $0["type"]?.stringValue }
    }

    /// A signer that records what it signed and answers with a recognisable text instead of a certificate.
    final class RecordingSigner: Sendable {
        let signed = Mutex<[(String, [String], TimeInterval)]>([])
        let served = Mutex<[(String, [String], [String])]>([])
        var signer: CertificateSigner {
            CertificateSigner(sign: { commonName, organizations, _, validity in
                self.signed.withLock { $0.append((commonName, organizations, validity)) }
                return "-----BEGIN CERTIFICATE-----\nfor \(commonName)\n-----END CERTIFICATE-----\n"
            }, signServing: { commonName, _, dnsNames, ipAddresses, _, _ in
                self.served.withLock { $0.append((commonName, dnsNames, ipAddresses)) }
                return "-----BEGIN CERTIFICATE-----\nserving \(commonName)\n-----END CERTIFICATE-----\n"
            })
        }
    }

    @Test("a node's request made with the join token is approved, then signed; a stranger's waits; a manual approval of a client request is signed")
    func approvesAndSigns() async throws {
        let api = FakeKubernetesAPI()
        api.seed(.certificateSigningRequests,
            try Self.request("node", commonName: "system:node:n1", organizations: ["system:nodes"], username: "system:bootstrap:node-join",
                groups: ["system:bootstrappers", "system:authenticated"]),
            try Self.request("renewal", commonName: "system:node:n2", organizations: ["system:nodes"], username: "system:node:n2",
                groups: ["system:nodes", "system:authenticated"]),
            try Self.request("impostor", commonName: "system:node:n3", organizations: ["system:nodes"], username: "system:node:n2",
                groups: ["system:nodes"]),
            try Self.request("stranger", commonName: "system:node:n4", organizations: ["system:nodes"], username: "mallory", groups: ["devs"]),
            try Self.request("too-much", commonName: "system:node:n5", organizations: ["system:nodes"],
                usages: ["client auth", "server auth"], username: "system:bootstrap:node-join", groups: ["system:bootstrappers"]),
            try Self.request("alice", commonName: "alice", organizations: ["devs"], signer: CertificateSigningController.clientSigner,
                username: "admin", groups: ["system:masters"], approved: true),
            try Self.request("bad-subject", commonName: "alice", organizations: [], username: "admin", groups: ["system:masters"],
                approved: true))
        let requests = Informer(client: api, resource: .certificateSigningRequests, logger: InformerFixture.logger)
        let recorder = RecordingSigner()
        let controller = CertificateSigningController(client: api, requests: requests, signer: recorder.signer, logger: InformerFixture.logger)
        func conditions(_ name: String) -> [String] { Self.conditions(api, name) }
        func certificate(_ name: String) -> String? {
            api.stored(.certificateSigningRequests, namespace: nil, name: name)?.value(at: ["status", "certificate"])?.stringValue
                .flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
        }
        try await InformerFixture.run([requests]) {
            try await waitUntil("cache") { requests.list().count == 7 }
            for name in ["node", "renewal", "impostor", "stranger", "too-much", "alice", "bad-subject"] { _ = try await controller.reconcile(name) }
            #expect(conditions("node") == ["Approved"] && conditions("renewal") == ["Approved"])
            #expect(conditions("impostor").isEmpty && conditions("stranger").isEmpty && conditions("too-much").isEmpty,
                "only a bootstrapper, or the node itself, with client usages only, is approved automatically")
            #expect(certificate("alice")?.contains("for alice") == true, "a manually approved client request is signed")
            #expect(conditions("bad-subject") == ["Approved", "Failed"] && certificate("bad-subject") == nil,
                "the kubelet signer refuses a subject that is not a node")
            // The approvals reach the cache, and the next pass signs them.
            try await waitUntil("approvals seen") {
                requests.get(namespace: nil, name: "node")?.value(at: ["status", "conditions"]) != nil
                    && requests.get(namespace: nil, name: "renewal")?.value(at: ["status", "conditions"]) != nil
            }
            for name in ["node", "renewal"] { _ = try await controller.reconcile(name) }
            #expect(certificate("node")?.contains("for system:node:n1") == true && certificate("renewal")?.contains("for system:node:n2") == true)
        }
        let signed = recorder.signed.withLock { $0 }
        #expect(signed.map(\.0).sorted() == ["alice", "system:node:n1", "system:node:n2"])
        #expect(signed.allSatisfy { $0.2 == 365 * 86400 }, "a year unless the request asks for less")
        #expect(signed.first { $0.0 == "system:node:n1" }?.1 == ["system:nodes"])
    }

    @Test("a node's own kubelet serving request is approved once its Node reports the address; other names, nodes or usages wait")
    func servingCertificates() async throws {
        let api = FakeKubernetesAPI()
        func address(_ text: String) -> GeneralName {
            .ipAddress(ASN1OctetString(contentBytes: text.split(separator: ".").map { UInt8($0)! }[...]))
        }
        func serving(_ name: String, node: String, requester: String, names: [GeneralName], usages: [String] = ["digital signature", "server auth"])
            throws -> JSONValue
        {
            try Self.request(name, commonName: "system:node:\(node)", organizations: ["system:nodes"], signer: CertificateSigningController.servingSigner,
                usages: usages, username: "system:node:\(requester)", groups: ["system:nodes", "system:authenticated"], names: names)
        }
        api.seed(.certificateSigningRequests,
            try serving("own", node: "n1", requester: "n1", names: [.dnsName("n1"), address("192.0.2.10")]),
            try serving("early", node: "n2", requester: "n2", names: [.dnsName("n2"), address("192.0.2.20")]),
            try serving("other-address", node: "n1", requester: "n1", names: [.dnsName("n1"), address("192.0.2.99")]),
            try serving("other-name", node: "n1", requester: "n1", names: [.dnsName("api.example.com"), address("192.0.2.10")]),
            try serving("for-another", node: "n1", requester: "n3", names: [.dnsName("n1"), address("192.0.2.10")]),
            try serving("client-too", node: "n1", requester: "n1", names: [.dnsName("n1")], usages: ["server auth", "client auth"]))
        api.seed(.nodes, ["apiVersion": "v1", "kind": "Node", "metadata": ["name": "n1"],
                          "status": ["addresses": [["type": "InternalIP", "address": "192.0.2.10"], ["type": "Hostname", "address": "n1"]]]])
        let requests = Informer(client: api, resource: .certificateSigningRequests, logger: InformerFixture.logger)
        let recorder = RecordingSigner()
        let controller = CertificateSigningController(client: api, requests: requests, signer: recorder.signer, logger: InformerFixture.logger)
        func conditions(_ name: String) -> [String] { Self.conditions(api, name) }
        try await InformerFixture.run([requests]) {
            try await waitUntil("cache") { requests.list().count == 6 }
            #expect(try await controller.reconcile("own") == .done)
            #expect(try await controller.reconcile("early") == .requeue(after: .seconds(1)), "n2 has not registered: asked again")
            #expect(try await controller.reconcile("other-address") == .requeue(after: .seconds(1)), "not an address n1 reports")
            for name in ["other-name", "for-another", "client-too"] { #expect(try await controller.reconcile(name) == .done) }
            #expect(conditions("own") == ["Approved"])
            for name in ["early", "other-address", "other-name", "for-another", "client-too"] { #expect(conditions(name).isEmpty, "\(name)") }
            try await waitUntil("approval seen") { requests.get(namespace: nil, name: "own")?.value(at: ["status", "conditions"]) != nil }
            _ = try await controller.reconcile("own")
        }
        let served = recorder.served.withLock { $0 }
        #expect(served.count == 1 && served.first?.0 == "system:node:n1")
        #expect(served.first?.1 == ["n1"] && served.first?.2 == ["192.0.2.10"])
    }
}
