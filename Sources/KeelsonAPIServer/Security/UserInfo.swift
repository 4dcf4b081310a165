/// Who a request comes from, as an authenticator established it (Kubernetes' `user.Info`).
public struct UserInfo: Sendable, Hashable {
    public var name: String
    public var uid: String
    public var groups: [String]
    public var extra: [String: [String]]

    public init(name: String, uid: String = "", groups: [String] = [], extra: [String: [String]] = [:]) {
        self.name = name
        self.uid = uid
        self.groups = groups
        self.extra = extra
    }

    public static let masters = "system:masters"
    public static let authenticated = "system:authenticated"
    public static let unauthenticated = "system:unauthenticated"
    public static let serviceAccountPrefix = "system:serviceaccount:"

    public static let anonymous = UserInfo(name: "system:anonymous", groups: [unauthenticated])

    /// Every authenticated user is in `system:authenticated`, as kube-apiserver adds it.
    func addingAuthenticatedGroup() -> UserInfo {
        var user = self
        if !user.groups.contains(Self.authenticated) { user.groups.append(Self.authenticated) }
        return user
    }

    /// `system:serviceaccount:NS:NAME` split into its namespace and name.
    public var serviceAccount: (namespace: String, name: String)? {
        guard name.hasPrefix(Self.serviceAccountPrefix) else { return nil }
        let parts = name.dropFirst(Self.serviceAccountPrefix.count).split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// The groups a service account's user has.
    static func serviceAccountGroups(namespace: String) -> [String] {
        ["system:serviceaccounts", "system:serviceaccounts:\(namespace)"]
    }
}
