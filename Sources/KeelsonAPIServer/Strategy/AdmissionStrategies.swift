import KeelsonAPI

/// admissionregistration.k8s.io/v1 webhook configurations: Kubernetes' defaults, and the checks without which a
/// webhook could never be called.
enum AdmissionStrategies {
    static let webhookConfiguration = ResourceStrategy(
        applyDefaults: { configuration in
            guard var hooks = configuration["webhooks"]?.arrayValue else { return }
            for index in hooks.indices {
                if hooks[index]["failurePolicy"] == nil { hooks[index]["failurePolicy"] = "Fail" }
                if hooks[index]["timeoutSeconds"] == nil { hooks[index]["timeoutSeconds"] = 10 }
                if hooks[index]["matchPolicy"] == nil { hooks[index]["matchPolicy"] = "Equivalent" }
                if hooks[index]["namespaceSelector"] == nil { hooks[index]["namespaceSelector"] = [:] }
                if hooks[index]["objectSelector"] == nil { hooks[index]["objectSelector"] = [:] }
                if configuration["kind"] == "MutatingWebhookConfiguration" && hooks[index]["reinvocationPolicy"] == nil {
                    hooks[index]["reinvocationPolicy"] = "Never"
                }
                if var rules = hooks[index]["rules"]?.arrayValue {
                    for rule in rules.indices where rules[rule]["scope"] == nil { rules[rule]["scope"] = "*" }
                    hooks[index]["rules"] = .array(rules)
                }
            }
            configuration["webhooks"] = .array(hooks)
        },
        validate: { configuration in
            var errors: [FieldError] = []
            for (index, hook) in (configuration["webhooks"]?.arrayValue ?? []).enumerated() {
                let field = "webhooks[\(index)]"
                if (hook["name"]?.stringValue ?? "").split(separator: ".").count < 3 {
                    errors.append(FieldError(.invalid, field: "\(field).name", detail: "should be a domain with at least three segments separated by dots"))
                }
                let url = hook["clientConfig"]?["url"]?.stringValue
                if url == nil && hook["clientConfig"]?["service"] == nil {
                    errors.append(.required("\(field).clientConfig", "exactly one of url or service is required"))
                }
                if let url, !url.hasPrefix("https://") {
                    errors.append(FieldError(.invalid, field: "\(field).clientConfig.url", detail: "'https' is the only allowed URL scheme", badValue: url))
                }
                if hook["sideEffects"] == nil {
                    errors.append(FieldError(.notSupported, field: "\(field).sideEffects", detail: "supported values: \"None\", \"NoneOnDryRun\""))
                }
                if (hook["admissionReviewVersions"]?.arrayValue ?? []).isEmpty {
                    errors.append(.required("\(field).admissionReviewVersions", "must specify one of v1, v1beta1"))
                }
            }
            return errors
        }
    )
}
