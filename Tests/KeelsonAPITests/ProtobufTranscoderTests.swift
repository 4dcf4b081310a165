import KeelsonAPI
import Testing

/// A minimal protobuf writer for building test inputs.
private struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func field(_ number: Int, varint value: UInt64) {
        varint(UInt64(number << 3))
        varint(value)
    }

    mutating func field(_ number: Int, bytes value: [UInt8]) {
        varint(UInt64(number << 3 | 2))
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func field(_ number: Int, string value: String) { field(number, bytes: Array(value.utf8)) }

    mutating func field(_ number: Int, message build: (inout ProtoWriter) -> Void) {
        var inner = ProtoWriter()
        build(&inner)
        field(number, bytes: inner.bytes)
    }
}

private func envelope(apiVersion: String, kind: String, _ build: (inout ProtoWriter) -> Void) -> [UInt8] {
    var object = ProtoWriter()
    build(&object)
    var unknown = ProtoWriter()
    unknown.field(1) { meta in
        meta.field(1, string: apiVersion)
        meta.field(2, string: kind)
    }
    unknown.field(2, bytes: object.bytes)
    return [0x6B, 0x38, 0x73, 0x00] + unknown.bytes
}

@Suite("Kubernetes protobuf transcoding")
struct ProtobufTranscoderTests {
    @Test("a Deployment as Go writes it: zero non-pointer fields dropped, pointers kept, special types mapped")
    func deployment() throws {
        let body = envelope(apiVersion: "apps/v1", kind: "Deployment") { d in
            d.field(1) { meta in
                meta.field(1, string: "web")
                meta.field(2, string: "")  // generateName: Go writes empty strings
                meta.field(8) { time in time.field(1, varint: UInt64(bitPattern: -62_135_596_800)) }  // zero time
                meta.field(11) { entry in
                    entry.field(1, string: "app")
                    entry.field(2, string: "web")
                }
            }
            d.field(2) { spec in
                spec.field(1, varint: 0)  // replicas is a pointer: 0 is meaningful
                spec.field(5, varint: 0)  // minReadySeconds is not: 0 is the omitted default
                spec.field(4) { strategy in
                    strategy.field(2) { rolling in
                        rolling.field(1) { ios in
                            ios.field(1, varint: 1)
                            ios.field(3, string: "25%")
                        }
                        rolling.field(2) { ios in ios.field(2, varint: 2) }
                    }
                }
                spec.field(3) { template in
                    template.field(2) { podSpec in
                        podSpec.field(2) { container in
                            container.field(1, string: "c")
                            container.field(2, string: "nginx")
                            container.field(8) { resources in
                                resources.field(1) { entry in
                                    entry.field(1, string: "cpu")
                                    entry.field(2) { q in q.field(1, string: "250m") }
                                }
                            }
                        }
                        podSpec.field(11, varint: 0)  // hostNetwork false
                        podSpec.field(99, varint: 0)  // a field unknown here, at its zero value
                    }
                }
            }
        }
        let value = try ProtobufTranscoder.decode(body)
        #expect(value["apiVersion"] == "apps/v1")
        #expect(value["kind"] == "Deployment")
        #expect(value["metadata"] == ["name": "web", "labels": ["app": "web"]])
        #expect(value.value(at: ["spec", "replicas"]) == 0)
        #expect(value.value(at: ["spec", "minReadySeconds"]) == nil)
        #expect(value.value(at: ["spec", "strategy", "rollingUpdate"]) == ["maxUnavailable": "25%", "maxSurge": 2])
        let container = value.value(at: ["spec", "template", "spec", "containers"])?.arrayValue?.first
        #expect(container == ["name": "c", "image": "nginx", "resources": ["limits": ["cpu": "250m"]]])
        #expect(value.value(at: ["spec", "template", "spec", "hostNetwork"]) == nil)
    }

    @Test("secrets' bytes become base64 and embedded references are inlined")
    func secretAndInline() throws {
        let body = envelope(apiVersion: "v1", kind: "Secret") { s in
            s.field(2) { entry in
                entry.field(1, string: "pw")
                entry.field(2, bytes: Array("hunter2".utf8))
            }
            s.field(3, string: "Opaque")
        }
        #expect(try ProtobufTranscoder.decode(body)["data"] == ["pw": "aHVudGVyMg=="])
        let env = envelope(apiVersion: "v1", kind: "Pod") { pod in
            pod.field(2) { spec in
                spec.field(2) { container in
                    container.field(1, string: "c")
                    container.field(7) { envVar in
                        envVar.field(1, string: "K")
                        envVar.field(3) { source in
                            source.field(3) { selector in
                                selector.field(1) { ref in ref.field(1, string: "settings") }
                                selector.field(2, string: "key")
                            }
                        }
                    }
                }
            }
        }
        let pod = try ProtobufTranscoder.decode(env)
        #expect(pod.value(at: ["spec", "containers"])?.arrayValue?.first?["env"]
            == [["name": "K", "valueFrom": ["configMapKeyRef": ["name": "settings", "key": "key"]]]])
    }

    @Test("what it cannot map is refused, never guessed")
    func refusals() {
        #expect(throws: ProtobufError.self) { try ProtobufTranscoder.decode(Array("{}".utf8)) }
        #expect(throws: ProtobufError.self) { try ProtobufTranscoder.decode(envelope(apiVersion: "example.com/v1", kind: "Widget") { _ in }) }
        let unknownField = envelope(apiVersion: "v1", kind: "ConfigMap") { cm in cm.field(77, string: "surprise") }
        #expect(throws: ProtobufError.self) { try ProtobufTranscoder.decode(unknownField) }
        var truncated = envelope(apiVersion: "v1", kind: "ConfigMap") { cm in cm.field(1) { meta in meta.field(1, string: "x") } }
        truncated.removeLast(2)
        #expect(throws: ProtobufError.self) { try ProtobufTranscoder.decode(truncated) }
    }
}
