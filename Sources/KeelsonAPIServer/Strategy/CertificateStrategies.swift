import Foundation
import KeelsonAPI

/// certificates.k8s.io/v1 CertificateSigningRequest: a request is immutable once made; the server records who
/// made it (see `RESTHandler.stampRequester`); approval and the issued certificate arrive through `/approval`
/// and `/status`.
enum CertificateStrategies {
    static let signingRequest = ResourceStrategy(
        prepareForCreate: { csr in csr["status"] = nil },
        validate: { csr in
            var errors = Validation.required(csr, ["spec", "signerName"], "spec.signerName")
            let request = csr.value(at: ["spec", "request"])?.stringValue ?? ""
            if request.isEmpty {
                errors.append(.required("spec.request"))
            } else if Data(base64Encoded: request).map({ String(decoding: $0, as: UTF8.self).contains("-----BEGIN CERTIFICATE REQUEST-----") }) != true {
                errors.append(FieldError(.invalid, field: "spec.request", detail: "must be a base64-encoded PEM CERTIFICATE REQUEST block"))
            }
            if (csr.value(at: ["spec", "usages"])?.arrayValue ?? []).isEmpty {
                errors.append(.required("spec.usages"))
            }
            if let seconds = csr.value(at: ["spec", "expirationSeconds"])?.intValue, seconds < 600 {
                errors.append(FieldError(.invalid, field: "spec.expirationSeconds", detail: "may not specify a duration less than 600 seconds (10 minutes)",
                    badValue: String(seconds)))
            }
            return errors
        },
        validateUpdate: { new, old in Validation.immutable(new, old, ["spec"], "spec") },
        selectableFields: { csr in ["spec.signerName": csr.value(at: ["spec", "signerName"])?.stringValue ?? ""] },
        columns: [
            CoreStrategies.ageColumn,
            TableColumn(name: "SignerName", description: "Name of the signer that will issue the certificate"),
            TableColumn(name: "Requestor", description: "Name of the user that requested the certificate"),
            TableColumn(name: "RequestedDuration", description: "Requested validity of the certificate"),
            TableColumn(name: "Condition", description: "Approval state of the request"),
        ],
        cells: { csr, now in
            let conditions = (csr.value(at: ["status", "conditions"])?.arrayValue ?? []).compactMap { $0["type"]?.stringValue }
            var condition = conditions.isEmpty ? "Pending" : conditions.joined(separator: ",")
            if csr.value(at: ["status", "certificate"])?.stringValue?.isEmpty == false { condition += ",Issued" }
            let duration = csr.value(at: ["spec", "expirationSeconds"])?.intValue.map { TablePrinter.humanDuration(TimeInterval($0)) } ?? "<none>"
            return [.string(TablePrinter.age(of: csr, now: now)), .string(csr.value(at: ["spec", "signerName"])?.stringValue ?? ""),
                    .string(csr.value(at: ["spec", "username"])?.stringValue ?? ""), .string(duration), .string(condition)]
        }
    )
}
