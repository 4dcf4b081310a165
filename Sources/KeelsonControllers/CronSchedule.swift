import Foundation

/// A standard five-field cron schedule (`minute hour day-of-month month day-of-week`) as CronJobs use it: lists,
/// ranges, steps, month and weekday names, `?` as `*`, the `@hourly`-style macros, and Vixie cron's rule that when
/// both day fields are restricted a day matching either runs. Times are computed in the given time zone.
struct CronSchedule: Sendable, Equatable {
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let domRestricted: Bool
    let dowRestricted: Bool
    let timeZone: TimeZone

    private static let macros = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    private static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    init(_ text: String, timeZone: TimeZone = TimeZone(identifier: "UTC")!) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("TZ=") || trimmed.hasPrefix("CRON_TZ=") {
            throw Invalid(description: "CRON_TZ or TZ used in schedule \"\(text)\" is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details")
        }
        let expanded = Self.macros[trimmed.lowercased()] ?? trimmed
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else { throw Invalid(description: "expected exactly 5 fields, found \(fields.count): \(text)") }
        minutes = try Self.field(fields[0], 0...59, names: [])
        hours = try Self.field(fields[1], 0...23, names: [])
        daysOfMonth = try Self.field(fields[2], 1...31, names: [])
        months = try Self.field(fields[3], 1...12, names: Self.monthNames, nameBase: 1)
        var dow = try Self.field(fields[4], 0...7, names: Self.dayNames)
        if dow.remove(7) != nil { dow.insert(0) }  // 7 is Sunday too
        daysOfWeek = dow
        domRestricted = !(fields[2] == "*" || fields[2] == "?")
        dowRestricted = !(fields[4] == "*" || fields[4] == "?")
        self.timeZone = timeZone
    }

    private static func field(_ text: String, _ range: ClosedRange<Int>, names: [String], nameBase: Int = 0) throws -> Set<Int> {
        var values = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw Invalid(description: "invalid step in \(text)") }
            var step = 1
            if pieces.count == 2 {
                guard let s = Int(pieces[1]), s > 0 else { throw Invalid(description: "invalid step in \(text)") }
                step = s
            }
            var low = range.lowerBound, high = range.upperBound
            let base = String(pieces[0])
            if base != "*" && base != "?" {
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
                guard bounds.count <= 2 else { throw Invalid(description: "invalid range \(base)") }
                low = try value(bounds[0], range, names: names, nameBase: nameBase)
                high = bounds.count == 2 ? try value(bounds[1], range, names: names, nameBase: nameBase) : (pieces.count == 2 ? range.upperBound : low)
                guard low <= high else { throw Invalid(description: "beginning of range (\(low)) beyond end of range (\(high)): \(base)") }
            }
            values.formUnion(stride(from: low, through: high, by: step))
        }
        return values
    }

    private static func value(_ text: String, _ range: ClosedRange<Int>, names: [String], nameBase: Int) throws -> Int {
        if let index = names.firstIndex(of: text.lowercased()) { return index + nameBase }
        guard let n = Int(text), range.contains(n) else {
            throw Invalid(description: "\(text) is out of bounds \(range.lowerBound)-\(range.upperBound)")
        }
        return n
    }

    /// The first scheduled time strictly after `date`, or nil when none comes within five years (`0 0 30 2 *`).
    func next(after date: Date) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let sortedHours = hours.sorted(), sortedMinutes = minutes.sorted()
        let start = date.addingTimeInterval(60 - date.timeIntervalSince1970.truncatingRemainder(dividingBy: 60))
        var day = calendar.startOfDay(for: start)
        for _ in 0..<(366 * 5) {
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            if let month = parts.month, let dom = parts.day, let weekday = parts.weekday, months.contains(month),
                dayMatches(dom: dom, dow: weekday - 1)
            {
                for hour in sortedHours {
                    for minute in sortedMinutes {
                        var wanted = DateComponents()
                        (wanted.year, wanted.month, wanted.day, wanted.hour, wanted.minute) = (parts.year, month, dom, hour, minute)
                        // A time skipped by a DST change does not exist that day; never run it twice either.
                        guard let candidate = calendar.date(from: wanted), calendar.component(.hour, from: candidate) == hour else { continue }
                        if candidate >= start { return candidate }
                    }
                }
            }
            guard let nextDay = calendar.date(byAdding: .day, value: 1, to: day) else { return nil }
            day = nextDay
        }
        return nil
    }

    private func dayMatches(dom: Int, dow: Int) -> Bool {
        if domRestricted && dowRestricted { return daysOfMonth.contains(dom) || daysOfWeek.contains(dow) }
        return daysOfMonth.contains(dom) && daysOfWeek.contains(dow)
    }
}
