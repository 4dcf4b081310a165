import Foundation
import HTTPTypes
import Hummingbird
import KeelsonAPI
import Synchronization

/// Annotations that admission adds to the audit event of the request being served (Pod Security's
/// `pod-security.kubernetes.io/audit-violations`, …).
final class RequestAuditAnnotations: Sendable {
    @TaskLocal static var current: RequestAuditAnnotations?

    private let values = Mutex<[String: String]>([:])

    static func add(_ key: String, _ value: String) { current?.values.withLock { $0[key] = value } }

    var all: [String: String] { values.withLock { $0 } }
}

/// The audit record of one request: the fields every stage repeats, decided once, and the stages written as the
/// request goes. Created only for requests the policy records.
final class AuditRequest: Sendable {
    let log: AuditLog
    let level: AuditLevel
    let omitStages: Set<AuditStage>
    let auditID: String
    private let common: [String: JSONValue]
    private let received: Date
    let annotations = RequestAuditAnnotations()

    init?(log: AuditLog, attributes: AuthorizationAttributes, impersonator: UserInfo?, method: String, uri: String,
        userAgent: String?, sourceIP: String?, body: [UInt8], contentType: String? = nil)
    {
        let (level, omit) = log.configuration.policy.decide(attributes)
        guard level != .none else { return nil }
        self.log = log
        self.level = level
        self.omitStages = omit
        auditID = UUID().uuidString.lowercased()
        received = Date()
        var event: [String: JSONValue] = [
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": .string(level.rawValue), "auditID": .string(auditID),
            "requestURI": .string(uri), "verb": .string(attributes.verb),
            "sourceIPs": .array(sourceIP.map { [.string($0)] } ?? []),
            "requestReceivedTimestamp": .string(Timestamp.formatMicro(received)),
        ]
        if let impersonator {
            event["user"] = Self.json(impersonator)
            event["impersonatedUser"] = Self.json(attributes.user)
        } else {
            event["user"] = Self.json(attributes.user)
        }
        if let userAgent { event["userAgent"] = .string(userAgent) }
        if attributes.isResourceRequest {
            var reference: [String: JSONValue] = ["resource": .string(attributes.resource), "apiVersion": .string(attributes.apiVersion)]
            if !attributes.namespace.isEmpty { reference["namespace"] = .string(attributes.namespace) }
            if !attributes.name.isEmpty { reference["name"] = .string(attributes.name) }
            if !attributes.apiGroup.isEmpty { reference["apiGroup"] = .string(attributes.apiGroup) }
            if !attributes.subresource.isEmpty { reference["subresource"] = .string(attributes.subresource) }
            event["objectRef"] = .object(reference)
        }
        // The body as the server read it: JSON, YAML or protobuf (kubectl's own), logged as JSON; a patch as sent.
        if level >= .request, !body.isEmpty, ["create", "update", "patch"].contains(attributes.verb) || method == "POST",
            let object = (try? ObjectCodec.decodeBody(body, contentType: contentType)) ?? (try? JSONParser.parse(body))
        {
            event["requestObject"] = object
        }
        common = event
    }

    /// Writes the event of one stage. `decision` is the authorizer's, `responseBody` the answer for RequestResponse.
    func emit(_ stage: AuditStage, code: Int? = nil, status: Status? = nil, decision: String?, responseBody: [UInt8]? = nil) {
        guard !omitStages.contains(stage) else { return }
        var event = common
        event["stage"] = .string(stage.rawValue)
        event["stageTimestamp"] = .string(Timestamp.formatMicro(Date()))
        if let code {
            var responseStatus: [String: JSONValue] = ["metadata": [:], "code": .integer(Int64(code))]
            if let status, code >= 300 {
                responseStatus["status"] = "Failure"
                responseStatus["message"] = .string(status.message)
                if let reason = status.reason { responseStatus["reason"] = .string(reason.rawValue) }
            }
            event["responseStatus"] = .object(responseStatus)
        }
        // The server answers objects in JSON (also to clients that would take protobuf).
        if level >= .requestResponse, let responseBody, let object = try? JSONParser.parse(responseBody) {
            event["responseObject"] = object
        }
        var notes = annotations.all
        if let decision { notes["authorization.k8s.io/decision"] = decision }
        if !notes.isEmpty { event["annotations"] = .object(notes.mapValues { .string($0) }) }
        log.record(.object(event))
    }

    static let idHeader = HTTPField.Name("Audit-Id")!

    /// The response with its `Audit-Id` header, and a body that writes the ResponseComplete event once it has
    /// been sent (for a watch: when the watch ends, after a ResponseStarted event now).
    func completing(_ response: Response, decision: String?, longRunning: Bool) -> Response {
        var response = response
        response.headers[Self.idHeader] = auditID
        let code = Int(response.status.code)
        if longRunning { emit(.responseStarted, code: code, decision: decision) }
        let body = response.body
        let collected = level >= .requestResponse && !longRunning ? CollectedBody() : nil
        response.body = ResponseBody(contentLength: body.contentLength) { [self] writer in
            do {
                if let collected {
                    try await body.write(writer.map { buffer in
                        collected.bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) }
                        return buffer
                    })
                } else {
                    try await body.write(writer)
                }
            } catch {
                emit(.responseComplete, code: code, decision: decision)
                throw error
            }
            emit(.responseComplete, code: code, decision: decision, responseBody: collected?.bytes.withLock { $0 })
        }
        return response
    }

    static func json(_ user: UserInfo) -> JSONValue {
        // No name: a request whose credential was refused, logged with an empty user as kube-apiserver does.
        var value: [String: JSONValue] = user.name.isEmpty ? [:] : ["username": .string(user.name)]
        if !user.uid.isEmpty { value["uid"] = .string(user.uid) }
        if !user.groups.isEmpty { value["groups"] = .array(user.groups.map { .string($0) }) }
        if !user.extra.isEmpty { value["extra"] = .object(user.extra.mapValues { .array($0.map { .string($0) }) }) }
        return .object(value)
    }
}

/// The bytes of a response as they are sent, for a RequestResponse event.
private final class CollectedBody: Sendable {
    let bytes = Mutex<[UInt8]>([])
}
