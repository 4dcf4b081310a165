import Foundation
import Testing

@testable import KeelsonKubelet

@Suite("Container log reader")
struct ContainerLogReaderTests {
    static let file = """
        2026-11-28T07:55:28.795503753Z stdout F first
        2026-11-28T07:55:28.8Z stderr F second on stderr
        2026-11-28T07:55:29.1234Z stdout P part one, 
        2026-11-28T07:55:29.2Z stdout F part two
        2026-11-28T07:55:30Z stdout F last

        """

    static func render(_ text: String, _ options: ContainerLogReader.Options = .init()) -> (String, Int) {
        var partial = false
        let (output, consumed) = ContainerLogReader.render(Data(text.utf8), options: options, pendingPartial: &partial)
        return (String(decoding: output, as: UTF8.self), consumed)
    }

    @Test("the CRI prefix is stripped; partial lines are joined; empty messages are kept")
    func plain() {
        #expect(Self.render(Self.file).0 == "first\nsecond on stderr\npart one, part two\nlast\n")
        #expect(Self.render("2026-11-28T07:55:28Z stdout F \n").0 == "\n")
    }

    @Test("a last line without its newline waits for the next read")
    func incompleteLine() {
        let (output, consumed) = Self.render("2026-11-28T07:55:28Z stdout F done\n2026-11-28T07:55:29Z stdout F hal")
        #expect(output == "done\n")
        #expect(consumed == "2026-11-28T07:55:28Z stdout F done\n".utf8.count)
    }

    @Test("tailLines counts the lines a user sees; timestamps prefix each line once")
    func tailAndTimestamps() {
        var options = ContainerLogReader.Options()
        options.tailLines = 2
        #expect(Self.render(Self.file, options).0 == "part one, part two\nlast\n")
        options.timestamps = true
        #expect(Self.render(Self.file, options).0 == "2026-11-28T07:55:29.1234Z part one, part two\n2026-11-28T07:55:30Z last\n")
    }

    @Test("since drops older lines; timestamps with trimmed fractions parse")
    func since() throws {
        var options = ContainerLogReader.Options()
        let since = ContainerLogReader.date("2026-11-28T07:55:29.15Z")
        #expect(since != nil)
        options.since = since
        #expect(Self.render(Self.file, options).0 == "part two\nlast\n")
        let precise = try #require(ContainerLogReader.date("2026-11-28T07:55:28.795503753Z"))
        #expect(abs(precise.timeIntervalSince1970.truncatingRemainder(dividingBy: 1) - 0.795503753) < 1e-6)
    }
}
