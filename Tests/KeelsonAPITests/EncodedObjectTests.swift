import KeelsonAPI
import Testing

@Suite("Encoded objects with a resourceVersion slot")
struct EncodedObjectTests {
    @Test("splicing the revision gives exactly the encoding of the object with it", arguments: [
        ["metadata": [:]] as JSONValue,
        ["metadata": ["name": "a"]],
        ["metadata": ["uid": "u"]],
        ["metadata": ["name": "a", "uid": "u"], "spec": ["x": 1], "apiVersion": "v1"],
        ["metadata": ["annotations": ["metadata": "{}"], "labels": ["resourceVersion": "x"], "selfLink": "s", "uid": "u"], "data": ["metadata": ["k": "v"]]],
    ])
    func splice(object: JSONValue) throws {
        let encoded = try #require(EncodedObject(object))
        #expect(encoded.bytes == object.encoded())
        var withVersion = object
        withVersion.resourceVersion = "12345"
        #expect(encoded.with(resourceVersion: "12345") == withVersion.encoded())
    }

    @Test("objects of another shape are not handled")
    func otherShapes() {
        #expect(EncodedObject(["spec": [:]]) == nil)
        #expect(EncodedObject(["metadata": ["resourceVersion": "1"]]) == nil)
        #expect(EncodedObject("text") == nil)
    }
}
