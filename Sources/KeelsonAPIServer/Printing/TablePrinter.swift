import Foundation
import KeelsonAPI

/// Builds `meta.k8s.io/v1 Table` answers, the server-side printing `kubectl get` shows.
enum TablePrinter {
    static let nameColumn = TableColumn(name: "Name", format: "name",
        description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.")

    /// `includeObject` of the request: what each row carries besides its cells.
    enum IncludeObject: String {
        case none = "None"
        case metadata = "Metadata"
        case object = "Object"
    }

    static func table(for definition: ResourceDefinition, objects: [JSONValue], listMetadata: JSONValue,
        include: IncludeObject, now: Date = Date()) -> JSONValue
    {
        let columns = [nameColumn] + definition.strategy.columns
        let rows = objects.map { row(for: $0, definition: definition, include: include, now: now) }
        return [
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": listMetadata,
            "columnDefinitions": .array(columns.map(\.jsonValue)),
            "rows": .array(rows),
        ]
    }

    static func row(for object: JSONValue, definition: ResourceDefinition, include: IncludeObject, now: Date) -> JSONValue {
        var row: [String: JSONValue] = [
            "cells": .array([.string(object.name ?? "")] + definition.strategy.cells(object, now))
        ]
        switch include {
        case .none: break
        case .object: row["object"] = object
        case .metadata:
            row["object"] = [
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": object.metadata ?? .object([:]),
            ]
        }
        return .object(row)
    }

    static func age(of object: JSONValue, now: Date) -> String {
        guard let created = object.creationTimestamp.flatMap(Timestamp.parse) else { return "<unknown>" }
        return humanDuration(now.timeIntervalSince(created))
    }

    /// kubectl's `duration.HumanDuration`: short, with more precision for younger objects.
    static func humanDuration(_ interval: TimeInterval) -> String {
        let seconds = Int(interval.rounded(.down))
        if seconds < -1 { return "<invalid>" }
        if seconds < 0 { return "0s" }
        if seconds < 60 * 2 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 10 {
            let s = seconds % 60
            return s == 0 ? "\(minutes)m" : "\(minutes)m\(s)s"
        }
        if minutes < 60 * 3 { return "\(minutes)m" }
        let hours = minutes / 60
        if hours < 8 {
            let m = minutes % 60
            return m == 0 ? "\(hours)h" : "\(hours)h\(m)m"
        }
        if hours < 48 { return "\(hours)h" }
        if hours < 24 * 8 {
            let h = hours % 24
            return h == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(h)h"
        }
        if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
        if hours < 24 * 365 * 8 {
            let d = (hours / 24) % 365
            return d == 0 ? "\(hours / 24 / 365)y" : "\(hours / 24 / 365)y\(d)d"
        }
        return "\(hours / 24 / 365)y"
    }

    /// At most three items, then a count, as kubectl prints endpoint lists: `a,b,c + 2 more...`.
    static func abbreviated(_ items: [String], empty: String) -> String {
        if items.isEmpty { return empty }
        if items.count <= 3 { return items.joined(separator: ",") }
        return items.prefix(3).joined(separator: ",") + " + \(items.count - 3) more..."
    }

    static func joinedOrNone(_ values: [String]) -> String {
        values.isEmpty ? "<none>" : values.joined(separator: ",")
    }

    static func selectorString(_ selector: JSONValue?) -> String {
        guard let selector, let parsed = try? LabelSelector.from(selector) else { return "<none>" }
        let text = parsed.description
        return text.isEmpty ? "<none>" : text
    }

    /// The images of a pod template's containers, for the wide columns of workloads.
    static func containerNamesAndImages(_ podSpec: JSONValue?) -> (String, String) {
        let containers = podSpec?["containers"]?.arrayValue ?? []
        return (containers.compactMap { $0["name"]?.stringValue }.joined(separator: ","),
            containers.compactMap { $0["image"]?.stringValue }.joined(separator: ","))
    }
}
