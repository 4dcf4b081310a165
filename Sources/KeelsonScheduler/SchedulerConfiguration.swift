import KeelsonAPI

/// Profiles from a `KubeSchedulerConfiguration` (`kubescheduler.config.k8s.io/v1`), as kube-scheduler reads its
/// `--config`: each profile starts from the default plugins; per extension point (`preFilter`, `filter`,
/// `postFilter`, `preScore`, `score`, `reserve`, `preBind`, or `multiPoint` for all) `disabled` removes plugins by
/// name (`*` for all) and `enabled` adds known plugins, with `weight` for scoring; `pluginConfig` sets the arguments
/// of NodeResourcesFit and PodTopologySpread.
public enum SchedulerConfiguration {
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// The plugins this scheduler knows, by their Kubernetes names.
    static func plugin(named name: String) -> (any SchedulerPlugin)? {
        switch name {
        case "NodeUnschedulable": NodeUnschedulablePlugin()
        case "NodeName": NodeNamePlugin()
        case "TaintToleration": TaintTolerationPlugin()
        case "NodeAffinity": NodeAffinityPlugin()
        case "NodePorts": NodePortsPlugin()
        case "NodeResourcesFit": NodeResourcesFit()
        case "NodeResourcesBalancedAllocation": BalancedAllocation()
        case "PodTopologySpread": PodTopologySpreadPlugin()
        case "ImageLocality": ImageLocalityPlugin()
        case "InterPodAffinity": InterPodAffinityPlugin()
        case "VolumeBinding": VolumeBindingPlugin()
        case "DefaultPreemption": DefaultPreemption()
        case "PrioritySort": PrioritySort()
        default: nil
        }
    }

    /// `NodeResourcesFitArgs.scoringStrategy`: type, resources with weights, and the shape of
    /// RequestedToCapacityRatio.
    static func nodeResourcesFit(_ args: JSONValue) throws -> NodeResourcesFit {
        let scoring = args["scoringStrategy"] ?? [:]
        var resources: [(name: String, weight: Int64)] = (scoring["resources"]?.arrayValue ?? []).compactMap { r in
            r["name"]?.stringValue.map { ($0, r["weight"]?.intValue ?? 1) }
        }
        if resources.isEmpty { resources = [("cpu", 1), ("memory", 1)] }
        switch scoring["type"]?.stringValue ?? "LeastAllocated" {
        case "LeastAllocated": return NodeResourcesFit(strategy: .leastAllocated, resources: resources)
        case "MostAllocated": return NodeResourcesFit(strategy: .mostAllocated, resources: resources)
        case "RequestedToCapacityRatio":
            let shape = (scoring["requestedToCapacityRatio"]?["shape"]?.arrayValue ?? []).map {
                (utilization: $0["utilization"]?.intValue ?? 0, score: $0["score"]?.intValue ?? 0)
            }.sorted { $0.utilization < $1.utilization }
            guard !shape.isEmpty else { throw Invalid(description: "RequestedToCapacityRatio needs a shape") }
            return NodeResourcesFit(strategy: .requestedToCapacityRatio(shape: shape), resources: resources)
        case let other:
            throw Invalid(description: "unknown NodeResourcesFit scoring strategy \(other)")
        }
    }

    /// `PodTopologySpreadArgs`: `defaultingType` System (the built-in defaults) or List (`defaultConstraints`, which
    /// must then name a topology key and a valid maxSkew and whenUnsatisfiable, and carry no selector).
    static func podTopologySpread(_ args: JSONValue) throws -> PodTopologySpreadPlugin {
        let listed = args["defaultConstraints"]?.arrayValue ?? []
        switch args["defaultingType"]?.stringValue ?? (listed.isEmpty ? "System" : "List") {
        case "System":
            guard listed.isEmpty else { throw Invalid(description: "PodTopologySpread: defaultConstraints must be empty when defaultingType is System") }
            return PodTopologySpreadPlugin()
        case "List":
            let constraints = try listed.map { c -> PodTopologySpreadPlugin.DefaultConstraint in
                guard let key = c["topologyKey"]?.stringValue, !key.isEmpty else {
                    throw Invalid(description: "PodTopologySpread: a default constraint needs a topologyKey")
                }
                guard c["labelSelector"] == nil else {
                    throw Invalid(description: "PodTopologySpread: default constraints take no labelSelector (it comes from the pod's owners)")
                }
                let skew = c["maxSkew"]?.intValue ?? 0
                guard skew > 0 else { throw Invalid(description: "PodTopologySpread: maxSkew must be greater than zero") }
                let when = c["whenUnsatisfiable"]?.stringValue ?? ""
                guard ["DoNotSchedule", "ScheduleAnyway"].contains(when) else {
                    throw Invalid(description: "PodTopologySpread: whenUnsatisfiable must be DoNotSchedule or ScheduleAnyway")
                }
                return .init(maxSkew: Int(skew), topologyKey: key, hard: when == "DoNotSchedule")
            }
            return PodTopologySpreadPlugin(defaultConstraints: constraints)
        case let other:
            throw Invalid(description: "PodTopologySpread: unknown defaultingType \(other)")
        }
    }

    public static func profiles(from config: JSONValue) throws -> [SchedulingProfile] {
        if let kind = config["kind"]?.stringValue, kind != "KubeSchedulerConfiguration" {
            throw Invalid(description: "expected kind KubeSchedulerConfiguration, got \(kind)")
        }
        let entries = config["profiles"]?.arrayValue ?? [[:]]
        var profiles: [SchedulingProfile] = []
        var names = Set<String>()
        for entry in entries {
            let name = entry["schedulerName"]?.stringValue ?? "default-scheduler"
            guard names.insert(name).inserted else { throw Invalid(description: "duplicate profile \(name)") }
            var profile = SchedulingProfile.defaultProfile(name: name)
            let plugins = entry["plugins"] ?? [:]
            for point in ["multiPoint", "preFilter", "filter", "postFilter", "preScore", "score", "reserve", "preBind"] {
                guard let set = plugins[point] else { continue }
                let disabled = Set((set["disabled"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue })
                let all = disabled.contains("*")
                let applies = { (p: String) in point == "multiPoint" || point == p }
                if applies("preFilter") { profile.preFilters.removeAll { all || disabled.contains($0.name) } }
                if applies("filter") { profile.filters.removeAll { all || disabled.contains($0.name) } }
                if applies("score") { profile.scorers.removeAll { all || disabled.contains($0.plugin.name) } }
                if applies("postFilter") { profile.postFilters.removeAll { all || disabled.contains($0.name) } }
                if applies("preScore") { profile.preScores.removeAll { all || disabled.contains($0.name) } }
                if applies("reserve") { profile.reservers.removeAll { all || disabled.contains($0.name) } }
                if applies("preBind") { profile.preBinds.removeAll { all || disabled.contains($0.name) } }
                for enabled in set["enabled"]?.arrayValue ?? [] {
                    guard let pluginName = enabled["name"]?.stringValue, let plugin = plugin(named: pluginName) else {
                        throw Invalid(description: "unknown plugin \(enabled["name"]?.stringValue ?? "") in profile \(name)")
                    }
                    let weight = enabled["weight"]?.intValue
                    if applies("preFilter"), let p = plugin as? any PreFilterPlugin, !profile.preFilters.contains(where: { $0.name == pluginName }) {
                        profile.preFilters.append(p)
                    }
                    if applies("filter"), let p = plugin as? any FilterPlugin, !profile.filters.contains(where: { $0.name == pluginName }) {
                        profile.filters.append(p)
                    }
                    if applies("postFilter"), let p = plugin as? any PostFilterPlugin, !profile.postFilters.contains(where: { $0.name == pluginName }) {
                        profile.postFilters.append(p)
                    }
                    if applies("preScore"), let p = plugin as? any PreScorePlugin, !profile.preScores.contains(where: { $0.name == pluginName }) {
                        profile.preScores.append(p)
                    }
                    if applies("reserve"), let p = plugin as? any ReservePlugin, !profile.reservers.contains(where: { $0.name == pluginName }) {
                        profile.reservers.append(p)
                    }
                    if applies("preBind"), let p = plugin as? any PreBindPlugin, !profile.preBinds.contains(where: { $0.name == pluginName }) {
                        profile.preBinds.append(p)
                    }
                    if applies("score"), let p = plugin as? any ScorePlugin {
                        if let index = profile.scorers.firstIndex(where: { $0.plugin.name == pluginName }) {
                            if let weight { profile.scorers[index].weight = weight }
                        } else {
                            profile.scorers.append((p, weight ?? 1))
                        }
                    }
                }
            }
            for config in entry["pluginConfig"]?.arrayValue ?? [] {
                let replacement: any PreFilterPlugin & FilterPlugin & ScorePlugin
                switch config["name"]?.stringValue {
                case "NodeResourcesFit": replacement = try nodeResourcesFit(config["args"] ?? [:])
                case "PodTopologySpread": replacement = try podTopologySpread(config["args"] ?? [:])
                default: continue
                }
                profile.preFilters = profile.preFilters.map { $0.name == replacement.name ? replacement : $0 }
                profile.filters = profile.filters.map { $0.name == replacement.name ? replacement : $0 }
                profile.scorers = profile.scorers.map { $0.plugin.name == replacement.name ? (replacement, $0.weight) : $0 }
            }
            profiles.append(profile)
        }
        return profiles
    }
}
