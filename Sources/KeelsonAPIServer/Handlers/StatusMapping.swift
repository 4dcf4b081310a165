import KeelsonAPI
import KeelsonStore

extension Status {
    /// The one place store failures become Kubernetes errors, as kube-apiserver's `storage.InterpretError`s.
    init(mapping error: any Error, definition: ResourceDefinition?, name: String) {
        if let status = error as? Status {
            self = status
            return
        }
        guard let storeError = error as? StoreError else {
            self = .internalError("\(type(of: error)): \(error)")
            return
        }
        let resource = definition?.plural ?? ""
        let group = definition?.group ?? ""
        switch storeError.code {
        case .keyExists: self = .alreadyExists(resource, group: group, name: name)
        case .notFound: self = .notFound(resource, group: group, name: name)
        case .conflict:
            self = .conflict(resource, group: group, name: name,
                "the object has been modified; please apply your changes to the latest version and try again")
        case .compacted: self = .gone("The resourceVersion for the provided list is too old.")
        case .futureRevision(let current):
            self = Status(code: 504, reason: .timeout,
                message: "Too large resource version: requested revision is newer than the current revision \(current)")
        case .watcherTooSlow: self = .gone("the watch fell too far behind; relist and watch again")
        case .unavailable: self = .serviceUnavailable("the datastore is unavailable: \(storeError.message)")
        case .internal: self = .internalError(storeError.description)
        }
    }
}
