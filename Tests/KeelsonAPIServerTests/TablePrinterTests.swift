import Foundation
import KeelsonAPI
import Testing

@testable import KeelsonAPIServer

@Suite("Table printing")
struct TablePrinterTests {
    static let ages: [(seconds: Double, text: String)] = [
        (5, "5s"), (119, "119s"), (125, "2m5s"), (600, "10m"), (10_800, "3h"), (11_400, "3h10m"),
        (108_000, "30h"), (262_800, "3d1h"), (3_456_000, "40d"), (94_608_000, "3y"), (-5, "<invalid>"),
    ]

    @Test("ages read as kubectl prints them", arguments: ages)
    func humanDuration(age: (seconds: Double, text: String)) {
        #expect(TablePrinter.humanDuration(age.seconds) == age.text)
    }

    @Test("endpoint lists show three addresses and a count")
    func abbreviated() {
        #expect(TablePrinter.abbreviated([], empty: "<none>") == "<none>")
        #expect(TablePrinter.abbreviated(["a", "b"], empty: "<none>") == "a,b")
        #expect(TablePrinter.abbreviated(["a", "b", "c", "d", "e"], empty: "<none>") == "a,b,c + 2 more...")
    }

    @Test("deployment, service and node rows")
    func rows() {
        let now = Date()
        let deployment: JSONValue = [
            "metadata": ["name": "web", "creationTimestamp": .string(Timestamp.format(now.addingTimeInterval(-90)))],
            "spec": ["replicas": 3, "selector": ["matchLabels": ["app": "web"]],
                     "template": ["spec": ["containers": [["name": "c", "image": "nginx:1"]]]]],
            "status": ["readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2],
        ]
        #expect(WorkloadStrategies.deployment.cells(deployment, now) == ["2/3", 3, 2, "90s", "c", "nginx:1", "app=web"])
        let service: JSONValue = [
            "metadata": ["name": "svc"],
            "spec": ["type": "NodePort", "clusterIP": "10.43.0.9", "ports": [["port": 80, "nodePort": 30080, "protocol": "TCP"]]],
        ]
        let cells = CoreStrategies.service.cells(service, now)
        #expect(cells.prefix(4) == ["NodePort", "10.43.0.9", "<none>", "80:30080/TCP"])
        let node: JSONValue = [
            "metadata": ["name": "n1", "labels": ["node-role.kubernetes.io/control-plane": "true"]],
            "spec": ["unschedulable": true],
            "status": ["conditions": [["type": "Ready", "status": "True"]], "nodeInfo": ["kubeletVersion": "v1.32.0"]],
        ]
        #expect(CoreStrategies.node.cells(node, now).prefix(2) == ["Ready,SchedulingDisabled", "control-plane"])
    }
}
