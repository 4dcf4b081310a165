/// Why a patch could not be applied. `malformed` is the client's document (400); `failed` is a well-formed patch
/// that does not apply to the object (422), as kube-apiserver distinguishes them.
enum PatchError: Error, CustomStringConvertible {
    case malformed(String)
    case failed(String)

    var description: String {
        switch self {
        case .malformed(let m), .failed(let m): return m
        }
    }
}
