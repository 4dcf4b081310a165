/// Field numbers of the Kubernetes messages that clients send as `application/vnd.kubernetes.protobuf`
/// (client-go 1.32+ does so for every typed request, kubectl's `create` generators among them). The numbers are
/// facts of the public API's `generated.proto` files; a message or field missing here is refused with a clear error
/// rather than guessed.
enum KubernetesProtobufSchema {
    typealias F = ProtobufMessage.Field

    /// The root message of each kind, by `apiVersion` and `kind` of the envelope.
    static let roots: [String: String] = [
        "v1/ConfigMap": "ConfigMap", "v1/Secret": "Secret", "v1/Namespace": "Namespace", "v1/Service": "Service",
        "v1/ServiceAccount": "ServiceAccount", "v1/Pod": "Pod", "v1/ResourceQuota": "ResourceQuota",
        "v1/Binding": "Binding", "v1/Endpoints": "Endpoints", "v1/Event": "Event",
        "apps/v1/Deployment": "Deployment", "apps/v1/ReplicaSet": "ReplicaSet", "apps/v1/DaemonSet": "DaemonSet",
        "apps/v1/StatefulSet": "StatefulSet",
        "batch/v1/Job": "Job", "batch/v1/CronJob": "CronJob",
        "rbac.authorization.k8s.io/v1/Role": "Role", "rbac.authorization.k8s.io/v1/ClusterRole": "ClusterRole",
        "rbac.authorization.k8s.io/v1/RoleBinding": "RoleBinding",
        "rbac.authorization.k8s.io/v1/ClusterRoleBinding": "ClusterRoleBinding",
        "policy/v1/PodDisruptionBudget": "PodDisruptionBudget", "policy/v1/Eviction": "Eviction",
        "coordination.k8s.io/v1/Lease": "Lease",
        "autoscaling/v1/Scale": "Scale",
        "authorization.k8s.io/v1/SelfSubjectAccessReview": "SelfSubjectAccessReview",
        "authorization.k8s.io/v1/SelfSubjectRulesReview": "SelfSubjectRulesReview",
        "authorization.k8s.io/v1/SubjectAccessReview": "SubjectAccessReview",
        "authorization.k8s.io/v1/LocalSubjectAccessReview": "SubjectAccessReview",
        "authentication.k8s.io/v1/SelfSubjectReview": "SelfSubjectReview",
        "authentication.k8s.io/v1/TokenRequest": "TokenRequest",
        "certificates.k8s.io/v1/CertificateSigningRequest": "CertificateSigningRequest",
        "meta.k8s.io/v1/DeleteOptions": "DeleteOptions", "v1/DeleteOptions": "DeleteOptions",
    ]

    static let messages: [String: ProtobufMessage] = [
        // meta/v1
        "ObjectMeta": .init([
            .s(1, "name"), .s(2, "generateName"), .s(3, "namespace"), .s(4, "selfLink"), .s(5, "uid"),
            .s(6, "resourceVersion"), .i64(7, "generation"), .t(8, "creationTimestamp"), .t(9, "deletionTimestamp"),
            .i64(10, "deletionGracePeriodSeconds", ptr: true), .mapSS(11, "labels"), .mapSS(12, "annotations"),
            .rm(13, "ownerReferences", "OwnerReference"), .rs(14, "finalizers"), .rm(17, "managedFields", "ManagedFieldsEntry"),
        ]),
        "OwnerReference": .init([
            .s(1, "kind"), .s(3, "name"), .s(4, "uid"), .s(5, "apiVersion"), .b(6, "controller", ptr: true),
            .b(7, "blockOwnerDeletion", ptr: true),
        ]),
        "ManagedFieldsEntry": .init([
            .s(1, "manager"), .s(2, "operation"), .s(3, "apiVersion"), .t(4, "time"), .s(6, "fieldsType"),
            .raw(7, "fieldsV1"), .s(8, "subresource"),
        ]),
        "LabelSelector": .init([.mapSS(1, "matchLabels"), .rm(2, "matchExpressions", "LabelSelectorRequirement")]),
        "LabelSelectorRequirement": .init([.s(1, "key"), .s(2, "operator"), .rs(3, "values")]),
        "DeleteOptions": .init([
            .i64(1, "gracePeriodSeconds", ptr: true), .m(2, "preconditions", "Preconditions", ptr: true),
            .b(3, "orphanDependents", ptr: true), .s(4, "propagationPolicy", ptr: true), .rs(5, "dryRun"),
            .b(6, "ignoreStoreReadErrorWithClusterBreakingPotential", ptr: true),
        ]),
        "Preconditions": .init([.s(1, "uid", ptr: true), .s(2, "resourceVersion", ptr: true)]),
        "Condition": .init([
            .s(1, "type"), .s(2, "status"), .i64(3, "observedGeneration"), .t(4, "lastTransitionTime"), .s(5, "reason"),
            .s(6, "message"),
        ]),

        // core/v1
        "ConfigMap": .init([.m(1, "metadata", "ObjectMeta"), .b(4, "immutable", ptr: true), .mapSS(2, "data"), .mapSBytes(3, "binaryData")]),
        "Secret": .init([
            .m(1, "metadata", "ObjectMeta"), .b(5, "immutable", ptr: true), .mapSBytes(2, "data"), .mapSS(4, "stringData"),
            .s(3, "type"),
        ]),
        "Namespace": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "NamespaceSpec"), .m(3, "status", "NamespaceStatus")]),
        "NamespaceSpec": .init([.rs(1, "finalizers")]),
        "NamespaceStatus": .init([.s(1, "phase"), .rm(2, "conditions", "NamespaceCondition")]),
        "NamespaceCondition": .init([.s(1, "type"), .s(2, "status"), .t(4, "lastTransitionTime"), .s(5, "reason"), .s(6, "message")]),
        "ServiceAccount": .init([
            .m(1, "metadata", "ObjectMeta"), .rm(2, "secrets", "ObjectReference"), .rm(3, "imagePullSecrets", "LocalObjectReference"),
            .b(4, "automountServiceAccountToken", ptr: true),
        ]),
        "ObjectReference": .init([
            .s(1, "kind"), .s(2, "namespace"), .s(3, "name"), .s(4, "uid"), .s(5, "apiVersion"), .s(6, "resourceVersion"),
            .s(7, "fieldPath"),
        ]),
        "LocalObjectReference": .init([.s(1, "name")]),
        "Service": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "ServiceSpec"), .m(3, "status", "ServiceStatus")]),
        "ServiceSpec": .init([
            .rm(1, "ports", "ServicePort"), .mapSS(2, "selector"), .s(3, "clusterIP"), .s(4, "type"), .rs(5, "externalIPs"),
            .s(7, "sessionAffinity"), .s(8, "loadBalancerIP"), .rs(9, "loadBalancerSourceRanges"), .s(10, "externalName"),
            .s(11, "externalTrafficPolicy"), .i32(12, "healthCheckNodePort"), .b(13, "publishNotReadyAddresses"),
            .m(14, "sessionAffinityConfig", "SessionAffinityConfig", ptr: true), .s(17, "ipFamilyPolicy", ptr: true),
            .rs(18, "clusterIPs"), .rs(19, "ipFamilies"), .b(20, "allocateLoadBalancerNodePorts", ptr: true),
            .s(21, "loadBalancerClass", ptr: true), .s(22, "internalTrafficPolicy", ptr: true), .s(23, "trafficDistribution", ptr: true),
        ]),
        "ServicePort": .init([
            .s(1, "name"), .s(2, "protocol"), .i32(3, "port"), .ios(4, "targetPort"), .i32(5, "nodePort"),
            .s(6, "appProtocol", ptr: true),
        ]),
        "SessionAffinityConfig": .init([.m(1, "clientIP", "ClientIPConfig", ptr: true)]),
        "ClientIPConfig": .init([.i32(1, "timeoutSeconds", ptr: true)]),
        "ServiceStatus": .init([.m(1, "loadBalancer", "LoadBalancerStatus"), .rm(2, "conditions", "Condition")]),
        "LoadBalancerStatus": .init([.rm(1, "ingress", "LoadBalancerIngress")]),
        "LoadBalancerIngress": .init([.s(1, "ip"), .s(2, "hostname"), .s(3, "ipMode", ptr: true)]),
        "ResourceQuota": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "ResourceQuotaSpec"), .m(3, "status", "ResourceQuotaStatus")]),
        "ResourceQuotaSpec": .init([.mapSQ(1, "hard"), .rs(2, "scopes"), .m(3, "scopeSelector", "ScopeSelector", ptr: true)]),
        "ResourceQuotaStatus": .init([.mapSQ(1, "hard"), .mapSQ(2, "used")]),
        "ScopeSelector": .init([.rm(1, "matchExpressions", "ScopedResourceSelectorRequirement")]),
        "ScopedResourceSelectorRequirement": .init([.s(1, "scopeName"), .s(2, "operator"), .rs(3, "values")]),
        "Binding": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "target", "ObjectReference")]),
        "Endpoints": .init([.m(1, "metadata", "ObjectMeta"), .rm(2, "subsets", "EndpointSubset")]),
        "EndpointSubset": .init([.rm(1, "addresses", "EndpointAddress"), .rm(2, "notReadyAddresses", "EndpointAddress"), .rm(3, "ports", "EndpointPort")]),
        "EndpointAddress": .init([.s(1, "ip"), .s(3, "hostname"), .s(4, "nodeName", ptr: true), .m(2, "targetRef", "ObjectReference", ptr: true)]),
        "EndpointPort": .init([.s(1, "name"), .i32(2, "port"), .s(3, "protocol"), .s(4, "appProtocol", ptr: true)]),
        "Event": .init([
            .m(1, "metadata", "ObjectMeta"), .m(2, "involvedObject", "ObjectReference"), .s(3, "reason"), .s(4, "message"),
            .m(5, "source", "EventSource"), .t(6, "firstTimestamp"), .t(7, "lastTimestamp"), .i32(8, "count"), .s(9, "type"),
            .mt(10, "eventTime"), .m(11, "series", "EventSeries", ptr: true), .s(12, "action"),
            .m(13, "related", "ObjectReference", ptr: true), .s(14, "reportingComponent"), .s(15, "reportingInstance"),
        ]),
        "EventSource": .init([.s(1, "component"), .s(2, "host")]),
        "EventSeries": .init([.i32(1, "count"), .mt(2, "lastObservedTime")]),

        "Pod": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "PodSpec"), .m(3, "status", "PodStatus")]),
        "PodStatus": .init([
            .s(1, "phase"), .rm(2, "conditions", "PodCondition"), .s(3, "message"), .s(4, "reason"), .s(5, "hostIP"),
            .s(6, "podIP"), .t(7, "startTime"), .s(9, "qosClass"), .s(11, "nominatedNodeName"),
        ]),
        "PodCondition": .init([
            .s(1, "type"), .s(2, "status"), .t(3, "lastProbeTime"), .t(4, "lastTransitionTime"), .s(5, "reason"), .s(6, "message"),
        ]),
        "PodTemplateSpec": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "PodSpec")]),
        "PodSpec": .init([
            .rm(1, "volumes", "Volume"), .rm(2, "containers", "Container"), .s(3, "restartPolicy"),
            .i64(4, "terminationGracePeriodSeconds", ptr: true), .i64(5, "activeDeadlineSeconds", ptr: true), .s(6, "dnsPolicy"),
            .mapSS(7, "nodeSelector"), .s(8, "serviceAccountName"), .s(9, "serviceAccount"), .s(10, "nodeName"),
            .b(11, "hostNetwork"), .b(12, "hostPID"), .b(13, "hostIPC"), .m(14, "securityContext", "PodSecurityContext", ptr: true),
            .rm(15, "imagePullSecrets", "LocalObjectReference"), .s(16, "hostname"), .s(17, "subdomain"),
            .s(19, "schedulerName"), .rm(20, "initContainers", "Container"), .b(21, "automountServiceAccountToken", ptr: true),
            .rm(22, "tolerations", "Toleration"), .s(24, "priorityClassName"), .i32(25, "priority", ptr: true),
            .b(27, "shareProcessNamespace", ptr: true), .s(29, "runtimeClassName", ptr: true), .b(30, "enableServiceLinks", ptr: true),
            .s(31, "preemptionPolicy", ptr: true), .b(35, "setHostnameAsFQDN", ptr: true), .b(37, "hostUsers", ptr: true),
        ]),
        "PodSecurityContext": .init([
            .i64(2, "runAsUser", ptr: true), .b(3, "runAsNonRoot", ptr: true), .i64(5, "fsGroup", ptr: true),
            .i64(6, "runAsGroup", ptr: true),
        ]),
        "Container": .init([
            .s(1, "name"), .s(2, "image"), .rs(3, "command"), .rs(4, "args"), .s(5, "workingDir"),
            .rm(6, "ports", "ContainerPort"), .rm(19, "envFrom", "EnvFromSource"), .rm(7, "env", "EnvVar"),
            .m(8, "resources", "ResourceRequirements"), .s(24, "restartPolicy", ptr: true), .rm(9, "volumeMounts", "VolumeMount"),
            .s(13, "terminationMessagePath"), .s(20, "terminationMessagePolicy"), .s(14, "imagePullPolicy"),
            .b(16, "stdin"), .b(17, "stdinOnce"), .b(18, "tty"),
        ]),
        "ContainerPort": .init([.s(1, "name"), .i32(2, "hostPort"), .i32(3, "containerPort"), .s(4, "protocol"), .s(5, "hostIP")]),
        "EnvFromSource": .init([.s(1, "prefix"), .m(2, "configMapRef", "ConfigMapEnvSource", ptr: true), .m(3, "secretRef", "SecretEnvSource", ptr: true)]),
        "ConfigMapEnvSource": .init([.inline(1, "LocalObjectReference"), .b(2, "optional", ptr: true)]),
        "SecretEnvSource": .init([.inline(1, "LocalObjectReference"), .b(2, "optional", ptr: true)]),
        "EnvVar": .init([.s(1, "name"), .s(2, "value"), .m(3, "valueFrom", "EnvVarSource", ptr: true)]),
        "EnvVarSource": .init([
            .m(1, "fieldRef", "ObjectFieldSelector", ptr: true), .m(2, "resourceFieldRef", "ResourceFieldSelector", ptr: true),
            .m(3, "configMapKeyRef", "ConfigMapKeySelector", ptr: true), .m(4, "secretKeyRef", "SecretKeySelector", ptr: true),
        ]),
        "ObjectFieldSelector": .init([.s(1, "apiVersion"), .s(2, "fieldPath")]),
        "ResourceFieldSelector": .init([.s(1, "containerName"), .s(2, "resource"), .q(3, "divisor")]),
        "ConfigMapKeySelector": .init([.inline(1, "LocalObjectReference"), .s(2, "key"), .b(3, "optional", ptr: true)]),
        "SecretKeySelector": .init([.inline(1, "LocalObjectReference"), .s(2, "key"), .b(3, "optional", ptr: true)]),
        "ResourceRequirements": .init([.mapSQ(1, "limits"), .mapSQ(2, "requests")]),
        "VolumeMount": .init([
            .s(1, "name"), .b(2, "readOnly"), .s(3, "mountPath"), .s(4, "subPath"), .s(5, "mountPropagation", ptr: true),
            .s(6, "subPathExpr"), .s(7, "recursiveReadOnly", ptr: true),
        ]),
        "Volume": .init([.s(1, "name"), .inline(2, "VolumeSource")]),
        "VolumeSource": .init([
            .m(1, "hostPath", "HostPathVolumeSource", ptr: true), .m(2, "emptyDir", "EmptyDirVolumeSource", ptr: true),
            .m(6, "secret", "SecretVolumeSource", ptr: true), .m(10, "persistentVolumeClaim", "PersistentVolumeClaimVolumeSource", ptr: true),
            .m(19, "configMap", "ConfigMapVolumeSource", ptr: true),
        ]),
        "HostPathVolumeSource": .init([.s(1, "path"), .s(2, "type", ptr: true)]),
        "EmptyDirVolumeSource": .init([.s(1, "medium"), .q(2, "sizeLimit")]),
        "SecretVolumeSource": .init([.s(1, "secretName"), .rm(2, "items", "KeyToPath"), .i32(3, "defaultMode", ptr: true), .b(4, "optional", ptr: true)]),
        "ConfigMapVolumeSource": .init([
            .inline(1, "LocalObjectReference"), .rm(2, "items", "KeyToPath"), .i32(3, "defaultMode", ptr: true), .b(4, "optional", ptr: true),
        ]),
        "KeyToPath": .init([.s(1, "key"), .s(2, "path"), .i32(3, "mode", ptr: true)]),
        "PersistentVolumeClaimVolumeSource": .init([.s(1, "claimName"), .b(2, "readOnly")]),
        "Toleration": .init([.s(1, "key"), .s(2, "operator"), .s(3, "value"), .s(4, "effect"), .i64(5, "tolerationSeconds", ptr: true)]),

        // apps/v1
        "Deployment": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "DeploymentSpec"), .m(3, "status", "DeploymentStatus")]),
        "DeploymentSpec": .init([
            .i32(1, "replicas", ptr: true), .m(2, "selector", "LabelSelector", ptr: true), .m(3, "template", "PodTemplateSpec"),
            .m(4, "strategy", "DeploymentStrategy"), .i32(5, "minReadySeconds"), .i32(6, "revisionHistoryLimit", ptr: true),
            .b(7, "paused"), .i32(9, "progressDeadlineSeconds", ptr: true), .s(10, "podReplacementPolicy", ptr: true),
        ]),
        "DeploymentStrategy": .init([.s(1, "type"), .m(2, "rollingUpdate", "RollingUpdateDeployment", ptr: true)]),
        "RollingUpdateDeployment": .init([.ios(1, "maxUnavailable"), .ios(2, "maxSurge")]),
        "DeploymentStatus": .init([
            .i64(1, "observedGeneration"), .i32(2, "replicas"), .i32(3, "updatedReplicas"), .i32(7, "readyReplicas"),
            .i32(4, "availableReplicas"), .i32(5, "unavailableReplicas"), .i32(9, "terminatingReplicas", ptr: true),
            .rm(6, "conditions", "DeploymentCondition"), .i32(8, "collisionCount", ptr: true),
        ]),
        "DeploymentCondition": .init([
            .s(1, "type"), .s(2, "status"), .t(6, "lastUpdateTime"), .t(7, "lastTransitionTime"), .s(4, "reason"), .s(5, "message"),
        ]),
        "ReplicaSet": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "ReplicaSetSpec"), .m(3, "status", "ReplicaSetStatus")]),
        "ReplicaSetSpec": .init([
            .i32(1, "replicas", ptr: true), .i32(4, "minReadySeconds"), .m(2, "selector", "LabelSelector", ptr: true),
            .m(3, "template", "PodTemplateSpec"),
        ]),
        "ReplicaSetStatus": .init([
            .i32(1, "replicas"), .i32(2, "fullyLabeledReplicas"), .i32(4, "readyReplicas"), .i32(5, "availableReplicas"),
            .i32(7, "terminatingReplicas", ptr: true), .i64(3, "observedGeneration"), .rm(6, "conditions", "DeploymentCondition"),
        ]),
        "DaemonSet": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "DaemonSetSpec"), .m(3, "status", "DaemonSetStatus")]),
        "DaemonSetSpec": .init([
            .m(1, "selector", "LabelSelector", ptr: true), .m(2, "template", "PodTemplateSpec"),
            .m(3, "updateStrategy", "DaemonSetUpdateStrategy"), .i32(4, "minReadySeconds"), .i32(6, "revisionHistoryLimit", ptr: true),
        ]),
        "DaemonSetUpdateStrategy": .init([.s(1, "type"), .m(2, "rollingUpdate", "RollingUpdateDaemonSet", ptr: true)]),
        "RollingUpdateDaemonSet": .init([.ios(1, "maxUnavailable"), .ios(2, "maxSurge")]),
        "DaemonSetStatus": .init([
            .i32(1, "currentNumberScheduled"), .i32(2, "numberMisscheduled"), .i32(3, "desiredNumberScheduled"),
            .i32(4, "numberReady"), .i64(5, "observedGeneration"), .i32(6, "updatedNumberScheduled"), .i32(7, "numberAvailable"),
            .i32(8, "numberUnavailable"), .i32(9, "collisionCount", ptr: true), .rm(10, "conditions", "DeploymentCondition"),
        ]),
        "StatefulSet": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "StatefulSetSpec"), .m(3, "status", "StatefulSetStatus")]),
        "StatefulSetSpec": .init([
            .i32(1, "replicas", ptr: true), .m(2, "selector", "LabelSelector", ptr: true), .m(3, "template", "PodTemplateSpec"),
            .s(5, "serviceName"), .s(6, "podManagementPolicy"), .i32(8, "revisionHistoryLimit", ptr: true), .i32(9, "minReadySeconds"),
        ]),
        "StatefulSetStatus": .init([
            .i64(1, "observedGeneration"), .i32(2, "replicas"), .i32(3, "readyReplicas"), .i32(4, "currentReplicas"),
            .i32(5, "updatedReplicas"), .s(6, "currentRevision"), .s(7, "updateRevision"), .i32(9, "collisionCount", ptr: true),
            .i32(11, "availableReplicas"),
        ]),

        // batch/v1
        "Job": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "JobSpec"), .m(3, "status", "JobStatus")]),
        "JobSpec": .init([
            .i32(1, "parallelism", ptr: true), .i32(2, "completions", ptr: true), .i64(3, "activeDeadlineSeconds", ptr: true),
            .i32(7, "backoffLimit", ptr: true), .m(4, "selector", "LabelSelector", ptr: true), .b(5, "manualSelector", ptr: true),
            .m(6, "template", "PodTemplateSpec"), .i32(8, "ttlSecondsAfterFinished", ptr: true), .s(9, "completionMode", ptr: true),
            .b(10, "suspend", ptr: true), .s(14, "podReplacementPolicy", ptr: true), .s(15, "managedBy", ptr: true),
        ]),
        "JobStatus": .init([
            .rm(1, "conditions", "JobCondition"), .t(2, "startTime"), .t(3, "completionTime"), .i32(4, "active"),
            .i32(5, "succeeded"), .i32(6, "failed"), .s(7, "completedIndexes"), .i32(9, "ready", ptr: true),
            .i32(11, "terminating", ptr: true),
        ]),
        "JobCondition": .init([
            .s(1, "type"), .s(2, "status"), .t(3, "lastProbeTime"), .t(4, "lastTransitionTime"), .s(5, "reason"), .s(6, "message"),
        ]),
        "CronJob": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "CronJobSpec"), .m(3, "status", "CronJobStatus")]),
        "CronJobSpec": .init([
            .s(1, "schedule"), .s(8, "timeZone", ptr: true), .i64(2, "startingDeadlineSeconds", ptr: true),
            .s(3, "concurrencyPolicy"), .b(4, "suspend", ptr: true), .m(5, "jobTemplate", "JobTemplateSpec"),
            .i32(6, "successfulJobsHistoryLimit", ptr: true), .i32(7, "failedJobsHistoryLimit", ptr: true),
        ]),
        "JobTemplateSpec": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "JobSpec")]),
        "CronJobStatus": .init([.rm(1, "active", "ObjectReference"), .t(4, "lastScheduleTime"), .t(5, "lastSuccessfulTime")]),

        // rbac.authorization.k8s.io/v1
        "Role": .init([.m(1, "metadata", "ObjectMeta"), .rm(2, "rules", "PolicyRule")]),
        "ClusterRole": .init([.m(1, "metadata", "ObjectMeta"), .rm(2, "rules", "PolicyRule"), .m(3, "aggregationRule", "AggregationRule", ptr: true)]),
        "AggregationRule": .init([.rm(1, "clusterRoleSelectors", "LabelSelector")]),
        "PolicyRule": .init([.rs(1, "verbs"), .rs(2, "apiGroups"), .rs(3, "resources"), .rs(4, "resourceNames"), .rs(5, "nonResourceURLs")]),
        "RoleBinding": .init([.m(1, "metadata", "ObjectMeta"), .rm(2, "subjects", "Subject"), .m(3, "roleRef", "RoleRef")]),
        "ClusterRoleBinding": .init([.m(1, "metadata", "ObjectMeta"), .rm(2, "subjects", "Subject"), .m(3, "roleRef", "RoleRef")]),
        "Subject": .init([.s(1, "kind"), .s(2, "apiGroup"), .s(3, "name"), .s(4, "namespace")]),
        "RoleRef": .init([.s(1, "apiGroup"), .s(2, "kind"), .s(3, "name")]),

        // policy/v1
        "PodDisruptionBudget": .init([
            .m(1, "metadata", "ObjectMeta"), .m(2, "spec", "PodDisruptionBudgetSpec"), .m(3, "status", "PodDisruptionBudgetStatus"),
        ]),
        "PodDisruptionBudgetSpec": .init([
            .ios(1, "minAvailable"), .m(2, "selector", "LabelSelector", ptr: true), .ios(3, "maxUnavailable"),
            .s(4, "unhealthyPodEvictionPolicy", ptr: true),
        ]),
        "PodDisruptionBudgetStatus": .init([
            .i64(1, "observedGeneration"), .i32(3, "disruptionsAllowed"), .i32(4, "currentHealthy"), .i32(5, "desiredHealthy"),
            .i32(6, "expectedPods"), .rm(7, "conditions", "Condition"),
        ]),
        "Eviction": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "deleteOptions", "DeleteOptions", ptr: true)]),

        // coordination.k8s.io/v1
        "Lease": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "LeaseSpec")]),
        "LeaseSpec": .init([
            .s(1, "holderIdentity", ptr: true), .i32(2, "leaseDurationSeconds", ptr: true), .mt(3, "acquireTime"),
            .mt(4, "renewTime"), .i32(5, "leaseTransitions", ptr: true), .s(6, "strategy", ptr: true),
            .s(7, "preferredHolder", ptr: true),
        ]),

        // autoscaling/v1
        "Scale": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "ScaleSpec"), .m(3, "status", "ScaleStatus")]),
        "ScaleSpec": .init([.i32(1, "replicas", ptr: true)]),
        "ScaleStatus": .init([.i32(1, "replicas"), .s(2, "selector")]),

        // authorization.k8s.io/v1 (the `extra` map of SubjectAccessReviewSpec, field 5, is not read)
        "SelfSubjectAccessReview": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "SelfSubjectAccessReviewSpec"),
            .m(3, "status", "SubjectAccessReviewStatus")]),
        "SelfSubjectAccessReviewSpec": .init([.m(1, "resourceAttributes", "ResourceAttributes", ptr: true),
            .m(2, "nonResourceAttributes", "NonResourceAttributes", ptr: true)]),
        "SubjectAccessReview": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "SubjectAccessReviewSpec"),
            .m(3, "status", "SubjectAccessReviewStatus")]),
        "SubjectAccessReviewSpec": .init([.m(1, "resourceAttributes", "ResourceAttributes", ptr: true),
            .m(2, "nonResourceAttributes", "NonResourceAttributes", ptr: true), .s(3, "user"), .rs(4, "groups"), .s(6, "uid")]),
        "ResourceAttributes": .init([.s(1, "namespace"), .s(2, "verb"), .s(3, "group"), .s(4, "version"), .s(5, "resource"),
            .s(6, "subresource"), .s(7, "name")]),
        "NonResourceAttributes": .init([.s(1, "path"), .s(2, "verb")]),
        "SubjectAccessReviewStatus": .init([.b(1, "allowed"), .b(4, "denied"), .s(2, "reason"), .s(3, "evaluationError")]),
        "SelfSubjectRulesReview": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "SelfSubjectRulesReviewSpec"),
            .m(3, "status", "SubjectRulesReviewStatus")]),
        // Status parts are the server's to fill; clients send them empty.
        "SubjectRulesReviewStatus": .init([.b(3, "incomplete"), .s(4, "evaluationError")]),
        "SelfSubjectRulesReviewSpec": .init([.s(1, "namespace")]),

        // certificates.k8s.io/v1 (the `extra` map of the spec, field 6, is not read)
        "CertificateSigningRequest": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "CertificateSigningRequestSpec"),
            .m(3, "status", "CertificateSigningRequestStatus")]),
        "CertificateSigningRequestSpec": .init([
            .init(number: 1, name: "request", type: .bytes), .s(7, "signerName"), .i32(8, "expirationSeconds", ptr: true),
            .rs(5, "usages"), .s(2, "username"), .s(3, "uid"), .rs(4, "groups"),
        ]),
        "CertificateSigningRequestStatus": .init([.rm(1, "conditions", "CertificateSigningRequestCondition"),
            .init(number: 2, name: "certificate", type: .bytes)]),
        "CertificateSigningRequestCondition": .init([.s(1, "type"), .s(6, "status"), .s(2, "reason"), .s(3, "message"),
            .t(4, "lastUpdateTime"), .t(5, "lastTransitionTime")]),

        // authentication.k8s.io/v1
        "SelfSubjectReview": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "status", "SelfSubjectReviewStatus")]),
        "SelfSubjectReviewStatus": .init([.m(1, "userInfo", "UserInfo")]),
        "UserInfo": .init([.s(1, "username"), .s(2, "uid"), .rs(3, "groups")]),
        "TokenRequest": .init([.m(1, "metadata", "ObjectMeta"), .m(2, "spec", "TokenRequestSpec"), .m(3, "status", "TokenRequestStatus")]),
        "TokenRequestStatus": .init([.s(1, "token")]),
        "TokenRequestSpec": .init([.rs(1, "audiences"), .i64(4, "expirationSeconds", ptr: true),
            .m(3, "boundObjectRef", "BoundObjectReference", ptr: true)]),
        "BoundObjectReference": .init([.s(1, "kind"), .s(2, "apiVersion"), .s(3, "name"), .s(4, "uid")]),
    ]
}
