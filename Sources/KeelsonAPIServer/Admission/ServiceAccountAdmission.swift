import KeelsonAPI

/// kube-apiserver's `ServiceAccount` admission plugin for new pods: the `default` service account unless one is
/// named, and — unless the pod or its account opts out with `automountServiceAccountToken: false` — the
/// `kube-api-access-XXXXX` projected volume (a token bound to the pod, `kube-root-ca.crt`'s `ca.crt`, the
/// namespace) mounted at `/var/run/secrets/kubernetes.io/serviceaccount` in every container, which is where
/// client libraries look for in-cluster credentials. Mirror pods of static pods are left alone, as in Kubernetes.
enum ServiceAccountAdmission {
    static let mountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
    static let rootCAConfigMap = "kube-root-ca.crt"
    /// Kubernetes' value: a little over an hour, so that a token seen to live longer than an hour is known to be
    /// one the kubelet renews.
    static let tokenSeconds: Int64 = 3607

    /// `account` is the pod's service account as stored, nil when it does not exist (yet).
    static func admit(_ pod: inout JSONValue, account: JSONValue?) {
        guard pod.metadata?["annotations"]?["kubernetes.io/config.mirror"] == nil else { return }
        if (pod.value(at: ["spec", "serviceAccountName"])?.stringValue ?? "").isEmpty {
            pod.setValue("default", at: ["spec", "serviceAccountName"])
        }
        let podOptOut = pod.value(at: ["spec", "automountServiceAccountToken"])?.boolValue
        let accountOptOut = account?["automountServiceAccountToken"]?.boolValue
        guard (podOptOut ?? accountOptOut ?? true) else { return }
        var volumes = pod.value(at: ["spec", "volumes"])?.arrayValue ?? []
        let containersMount = { (container: JSONValue) in
            (container["volumeMounts"]?.arrayValue ?? []).contains { $0["mountPath"]?.stringValue == mountPath }
        }
        let name = "kube-api-access-" + String((0..<5).map { _ in "bcdfghjklmnpqrstvwxz2456789".randomElement()! })
        volumes.append([
            "name": .string(name),
            "projected": [
                "defaultMode": 420,
                "sources": [
                    ["serviceAccountToken": ["expirationSeconds": .integer(tokenSeconds), "path": "token"]],
                    ["configMap": ["name": .string(rootCAConfigMap), "items": [["key": "ca.crt", "path": "ca.crt"]]]],
                    ["downwardAPI": ["items": [["path": "namespace", "fieldRef": ["apiVersion": "v1", "fieldPath": "metadata.namespace"]]]]],
                ],
            ],
        ])
        pod.setValue(.array(volumes), at: ["spec", "volumes"])
        for field in ["initContainers", "containers", "ephemeralContainers"] {
            guard var containers = pod.value(at: ["spec", field])?.arrayValue else { continue }
            for index in containers.indices where !containersMount(containers[index]) {
                var mounts = containers[index]["volumeMounts"]?.arrayValue ?? []
                mounts.append(["name": .string(name), "readOnly": true, "mountPath": .string(mountPath)])
                containers[index]["volumeMounts"] = .array(mounts)
            }
            pod.setValue(.array(containers), at: ["spec", field])
        }
    }
}
