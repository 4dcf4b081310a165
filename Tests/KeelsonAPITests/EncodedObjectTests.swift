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
        let scanned = try #require(EncodedObject(encoded: object.encoded()), "found in the bytes alone")
        #expect(scanned.with(resourceVersion: "12345") == withVersion.encoded())
    }

    @Test("the slot is found past values of every kind, before and after metadata")
    func scanned() throws {
        let object: JSONValue = [
            "apiVersion": "v1", "a": ["x": [1, -2.5, true, false, .null, ["q\"}]": "\\\"{["]]], "b": 3, "c": .null,
            "metadata": ["annotations": ["k": "va\"lue}"], "generation": 4, "managedFields": [["fieldsV1": ["f:x": [:]], "manager": "m"]],
                         "name": "n", "uid": "u"],
            "spec": ["metadata": "x"],
        ]
        var withVersion = object
        withVersion.resourceVersion = "9"
        #expect(try #require(EncodedObject(encoded: object.encoded())).with(resourceVersion: "9") == withVersion.encoded())
    }

    @Test("bytes the encoder would not write are not handled", arguments: [
        #"{"spec":{}}"#, #"{"metadata":{"resourceVersion":"1"}}"#, #"{"metadata":{"uid":"u","name":"n"}}"#,
        #"{"metadata":{"na\u006de":"n"}}"#, #"{ "metadata":{}}"#, #"{"metadata":{"name":"n""#, #"{"metadata":"x"}"#, #""text""#, "",
    ])
    func scannedOtherShapes(text: String) {
        #expect(EncodedObject(encoded: Array(text.utf8)) == nil)
    }

    @Test("objects of another shape are not handled")
    func otherShapes() {
        #expect(EncodedObject(["spec": [:]]) == nil)
        #expect(EncodedObject(["metadata": ["resourceVersion": "1"]]) == nil)
        #expect(EncodedObject("text") == nil)
    }
}
