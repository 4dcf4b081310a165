/// The registry of built-in kinds. Adding a kind is a row here plus its strategy.
enum BuiltinResources {
    /// The rows, each checked for fields its kind does not declare (`fieldValidation`) where its shape is known.
    static let all: [ResourceDefinition] = rows.map { row in
        var row = row
        if row.strategy.unknownFields == nil, let name = BuiltinSchemas.definitionName(of: row) {
            row.strategy.unknownFields = { BuiltinSchemas.unknownFields(in: $0, definition: name) }
        }
        return row
    }

    private static let rows: [ResourceDefinition] = [
        // core/v1
        ResourceDefinition(group: "", version: "v1", kind: "Namespace", plural: "namespaces", singular: "namespace",
            namespaced: false, shortNames: ["ns"], nameRule: .dnsLabel, hasStatus: true, strategy: CoreStrategies.namespace),
        ResourceDefinition(group: "", version: "v1", kind: "Pod", plural: "pods", singular: "pod", namespaced: true,
            shortNames: ["po"], categories: ["all"], hasStatus: true, hasGeneration: true,
            extraSubresources: [
                ("binding", "Binding", "", "v1", ["create"]),
                ("eviction", "Eviction", "policy", "v1", ["create"]),
                ("log", "Pod", "", "v1", ["get"]),
                ("exec", "PodExecOptions", "", "v1", ["create", "get"]),
                ("attach", "PodAttachOptions", "", "v1", ["create", "get"]),
                ("portforward", "PodPortForwardOptions", "", "v1", ["create", "get"]),
            ],
            strategy: PodStrategy.strategy),
        ResourceDefinition(group: "", version: "v1", kind: "Service", plural: "services", singular: "service", namespaced: true,
            shortNames: ["svc"], categories: ["all"], nameRule: .dns1035Label, hasStatus: true, strategy: CoreStrategies.service),
        ResourceDefinition(group: "", version: "v1", kind: "Endpoints", plural: "endpoints", singular: "endpoints", namespaced: true,
            shortNames: ["ep"], allowCreateOnUpdate: true, strategy: CoreStrategies.endpoints),
        ResourceDefinition(group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", singular: "configmap", namespaced: true,
            shortNames: ["cm"], strategy: CoreStrategies.configMap),
        ResourceDefinition(group: "", version: "v1", kind: "Secret", plural: "secrets", singular: "secret", namespaced: true,
            strategy: CoreStrategies.secret),
        ResourceDefinition(group: "", version: "v1", kind: "ServiceAccount", plural: "serviceaccounts", singular: "serviceaccount",
            namespaced: true, shortNames: ["sa"],
            extraSubresources: [(name: "token", kind: "TokenRequest", group: "authentication.k8s.io", version: "v1", verbs: ["create"])],
            strategy: CoreStrategies.serviceAccount),
        ResourceDefinition(group: "", version: "v1", kind: "Node", plural: "nodes", singular: "node", namespaced: false,
            shortNames: ["no"], hasStatus: true,
            extraSubresources: [("proxy", "NodeProxyOptions", "", "v1", ["get"])],
            strategy: CoreStrategies.node),
        ResourceDefinition(group: "", version: "v1", kind: "Event", plural: "events", singular: "event", namespaced: true,
            shortNames: ["ev"], allowCreateOnUpdate: true, strategy: CoreStrategies.event),
        ResourceDefinition(group: "", version: "v1", kind: "PersistentVolumeClaim", plural: "persistentvolumeclaims",
            singular: "persistentvolumeclaim", namespaced: true, shortNames: ["pvc"], hasStatus: true,
            strategy: CoreStrategies.persistentVolumeClaim),
        ResourceDefinition(group: "", version: "v1", kind: "PersistentVolume", plural: "persistentvolumes",
            singular: "persistentvolume", namespaced: false, shortNames: ["pv"], hasStatus: true,
            strategy: StorageStrategies.persistentVolume),
        ResourceDefinition(group: "", version: "v1", kind: "LimitRange", plural: "limitranges", singular: "limitrange",
            namespaced: true, shortNames: ["limits"], strategy: CoreStrategies.limitRange),
        ResourceDefinition(group: "", version: "v1", kind: "ResourceQuota", plural: "resourcequotas", singular: "resourcequota",
            namespaced: true, shortNames: ["quota"], hasStatus: true, strategy: CoreStrategies.resourceQuota),
        // events.k8s.io/v1
        ResourceDefinition(group: "events.k8s.io", version: "v1", kind: "Event", plural: "events", singular: "event",
            namespaced: true, shortNames: ["ev"], allowCreateOnUpdate: true,
            strategy: ResourceStrategy(validate: { e in Validation.required(e, ["eventTime"], "eventTime") })),
        // coordination.k8s.io/v1
        ResourceDefinition(group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", singular: "lease",
            namespaced: true, strategy: CoreStrategies.lease),
        // apps/v1
        ResourceDefinition(group: "apps", version: "v1", kind: "Deployment", plural: "deployments", singular: "deployment",
            namespaced: true, shortNames: ["deploy"], categories: ["all"], hasStatus: true, hasGeneration: true,
            scale: ScaleSupport(), strategy: WorkloadStrategies.deployment),
        ResourceDefinition(group: "apps", version: "v1", kind: "ReplicaSet", plural: "replicasets", singular: "replicaset",
            namespaced: true, shortNames: ["rs"], categories: ["all"], hasStatus: true, hasGeneration: true,
            scale: ScaleSupport(), strategy: WorkloadStrategies.replicaSet),
        ResourceDefinition(group: "apps", version: "v1", kind: "DaemonSet", plural: "daemonsets", singular: "daemonset",
            namespaced: true, shortNames: ["ds"], categories: ["all"], hasStatus: true, hasGeneration: true,
            strategy: WorkloadStrategies.daemonSet),
        ResourceDefinition(group: "apps", version: "v1", kind: "StatefulSet", plural: "statefulsets", singular: "statefulset",
            namespaced: true, shortNames: ["sts"], categories: ["all"], hasStatus: true, hasGeneration: true,
            scale: ScaleSupport(), strategy: WorkloadStrategies.statefulSet),
        ResourceDefinition(group: "apps", version: "v1", kind: "ControllerRevision", plural: "controllerrevisions",
            singular: "controllerrevision", namespaced: true, strategy: CoreStrategies.controllerRevision),
        // batch/v1
        ResourceDefinition(group: "batch", version: "v1", kind: "Job", plural: "jobs", singular: "job", namespaced: true,
            categories: ["all"], hasStatus: true, hasGeneration: true, strategy: WorkloadStrategies.job),
        ResourceDefinition(group: "batch", version: "v1", kind: "CronJob", plural: "cronjobs", singular: "cronjob",
            namespaced: true, shortNames: ["cj"], categories: ["all"], hasStatus: true, hasGeneration: true,
            strategy: WorkloadStrategies.cronJob),
        // discovery.k8s.io/v1
        ResourceDefinition(group: "discovery.k8s.io", version: "v1", kind: "EndpointSlice", plural: "endpointslices",
            singular: "endpointslice", namespaced: true, strategy: CoreStrategies.endpointSlice),
        // rbac.authorization.k8s.io/v1, enforced by RBACAuthorizer
        ResourceDefinition(group: "rbac.authorization.k8s.io", version: "v1", kind: "Role", plural: "roles", singular: "role",
            namespaced: true, nameRule: .pathSegment, strategy: CoreStrategies.role),
        ResourceDefinition(group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRole", plural: "clusterroles",
            singular: "clusterrole", namespaced: false, nameRule: .pathSegment, strategy: CoreStrategies.role),
        ResourceDefinition(group: "rbac.authorization.k8s.io", version: "v1", kind: "RoleBinding", plural: "rolebindings",
            singular: "rolebinding", namespaced: true, nameRule: .pathSegment, strategy: CoreStrategies.roleBinding),
        ResourceDefinition(group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRoleBinding",
            plural: "clusterrolebindings", singular: "clusterrolebinding", namespaced: false, nameRule: .pathSegment,
            strategy: CoreStrategies.roleBinding),
        // admissionregistration.k8s.io/v1 (see AdmissionWebhooks)
        ResourceDefinition(group: "admissionregistration.k8s.io", version: "v1", kind: "MutatingWebhookConfiguration",
            plural: "mutatingwebhookconfigurations", singular: "mutatingwebhookconfiguration", namespaced: false,
            strategy: AdmissionStrategies.webhookConfiguration),
        ResourceDefinition(group: "admissionregistration.k8s.io", version: "v1", kind: "ValidatingWebhookConfiguration",
            plural: "validatingwebhookconfigurations", singular: "validatingwebhookconfiguration", namespaced: false,
            strategy: AdmissionStrategies.webhookConfiguration),
        // certificates.k8s.io/v1
        ResourceDefinition(group: "certificates.k8s.io", version: "v1", kind: "CertificateSigningRequest",
            plural: "certificatesigningrequests", singular: "certificatesigningrequest", namespaced: false, shortNames: ["csr"],
            hasStatus: true,
            extraSubresources: [(name: "approval", kind: "CertificateSigningRequest", group: "certificates.k8s.io", version: "v1",
                                 verbs: ["get", "patch", "update"])],
            strategy: CertificateStrategies.signingRequest),
        // storage.k8s.io/v1
        ResourceDefinition(group: "storage.k8s.io", version: "v1", kind: "StorageClass", plural: "storageclasses",
            singular: "storageclass", namespaced: false, shortNames: ["sc"], strategy: StorageStrategies.storageClass),
        // apiextensions.k8s.io/v1: the kinds they define are served by CustomResourceRegistrar.
        ResourceDefinition(group: "apiextensions.k8s.io", version: "v1", kind: "CustomResourceDefinition",
            plural: "customresourcedefinitions", singular: "customresourcedefinition", namespaced: false,
            shortNames: ["crd", "crds"], categories: ["api-extensions"], hasStatus: true, hasGeneration: true,
            strategy: CustomResourceDefinitionStrategy.strategy),
        // policy/v1
        ResourceDefinition(group: "policy", version: "v1", kind: "PodDisruptionBudget", plural: "poddisruptionbudgets",
            singular: "poddisruptionbudget", namespaced: true, shortNames: ["pdb"], hasStatus: true, hasGeneration: true,
            strategy: CoreStrategies.podDisruptionBudget),
        // metrics.k8s.io/v1beta1: read-only views of the kubelets' figures, never stored (see ResourceMetricsAPI).
        ResourceDefinition(group: "metrics.k8s.io", version: "v1beta1", kind: "NodeMetrics", plural: "nodes", singular: "",
            namespaced: false, verbs: ["get", "list"]),
        ResourceDefinition(group: "metrics.k8s.io", version: "v1beta1", kind: "PodMetrics", plural: "pods", singular: "",
            namespaced: true, verbs: ["get", "list"]),
        // authorization.k8s.io/v1 and authentication.k8s.io/v1: questions about access, answered, never stored
        // (see AccessReviewAPI).
        ResourceDefinition(group: "authorization.k8s.io", version: "v1", kind: "SelfSubjectAccessReview",
            plural: "selfsubjectaccessreviews", singular: "", namespaced: false, verbs: ["create"]),
        ResourceDefinition(group: "authorization.k8s.io", version: "v1", kind: "SelfSubjectRulesReview",
            plural: "selfsubjectrulesreviews", singular: "", namespaced: false, verbs: ["create"]),
        ResourceDefinition(group: "authorization.k8s.io", version: "v1", kind: "SubjectAccessReview",
            plural: "subjectaccessreviews", singular: "", namespaced: false, verbs: ["create"]),
        ResourceDefinition(group: "authorization.k8s.io", version: "v1", kind: "LocalSubjectAccessReview",
            plural: "localsubjectaccessreviews", singular: "", namespaced: true, verbs: ["create"]),
        ResourceDefinition(group: "authentication.k8s.io", version: "v1", kind: "SelfSubjectReview",
            plural: "selfsubjectreviews", singular: "", namespaced: false, verbs: ["create"]),
    ]
}
