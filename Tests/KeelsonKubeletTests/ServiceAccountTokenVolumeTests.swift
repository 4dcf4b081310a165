import Foundation
import KeelsonAPI
import Testing

@testable import KeelsonKubelet

@Suite("Projected service account tokens")
struct ServiceAccountTokenVolumeTests {
    static func token(issued: Int, expires: Int) -> String {
        let payload = Data(#"{"iat":\#(issued),"exp":\#(expires),"sub":"system:serviceaccount:a:b"}"#.utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        return "eyJhbGciOiJFUzI1NiJ9.\(payload).c2ln"
    }

    @Test("a token is renewed after 80 % of its lifetime, read from its own claims; an unreadable one at once")
    func refreshTime() {
        #expect(PodVolumes.refreshTime(ofToken: Self.token(issued: 1000, expires: 4600)) == Date(timeIntervalSince1970: 1000 + 2880))
        #expect(PodVolumes.refreshTime(ofToken: "garbage") == nil)
        #expect(PodVolumes.refreshTime(ofToken: Self.token(issued: 10, expires: 10)) == nil)
    }

    @Test("a pod with a projected token volume is one the worker keeps renewing")
    func detection() {
        let withToken = PodSpecView(["metadata": ["name": "p"], "spec": ["volumes": [["name": "v", "projected": ["sources": [
            ["serviceAccountToken": ["path": "token"]]]]]]]])
        let without = PodSpecView(["metadata": ["name": "p"], "spec": ["volumes": [["name": "v", "emptyDir": [:]]]]])
        #expect(PodWorker.hasServiceAccountToken(withToken) && !PodWorker.hasServiceAccountToken(without))
    }
}
