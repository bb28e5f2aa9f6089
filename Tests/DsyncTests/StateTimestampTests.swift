import Foundation
import Testing

@testable import Dsync

@Suite("State timestamps")
struct StateTimestampTests {
    /// Times from 1900 to 2400 (leap days, century years, before 1970), a fixed seed list.
    static let times: [Int64] = {
        var generator = SplitMix64(seed: 0x5eed_2026)
        var times: [Int64] = [0, -1, 951_782_400, 951_868_800, 4_107_542_400, -2_208_988_800, 1_796_015_522, 253_402_300_799 - 86_400 * 365 * 7000]
        for _ in 0..<2000 { times.append(Int64(generator.next() % 16_000_000_000) - 2_208_988_800) }
        return times
    }()

    @Test func format_isFoundationsISO8601_andParsesBackToTheSameSecond() throws {
        for seconds in Self.times where seconds > -2_208_988_800 - 1 {
            let date = Date(timeIntervalSince1970: TimeInterval(seconds))
            let ours = StateTimestamp.format(date)
            #expect(ours == date.formatted(.iso8601), "\(seconds)")
            #expect(StateTimestamp.parse(ours) == date, "\(ours)")
            #expect(StateTimestamp.format(Date(timeIntervalSince1970: TimeInterval(seconds) + 0.75)) == ours, "fractions are dropped")
        }
    }

    @Test(arguments: ["", "2026-11-30 05:24:12Z", "2026-11-30T05:24:12", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
                      "2026-11-30T24:00:00Z", "2026-11-3xT05:24:12Z", "2026-11-30T05:24:12.5Z"])
    func parse_refusesWhatIsNotTheFixedForm(text: String) {
        #expect(StateTimestamp.parse(text) == nil)
    }

    @Test func aHeaderWrittenWithFoundationsStrategy_isRead_andAFractionalTimeToo() throws {
        struct Stamped: Codable, Equatable { var savedAt: Date }
        let date = Date(timeIntervalSince1970: 1_796_015_522)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let old = try encoder.encode(Stamped(savedAt: date))
        #expect(try JSONDecoder.state.decode(Stamped.self, from: old) == Stamped(savedAt: date))
        let whole = try #require(StateTimestamp.parse("2026-11-30T05:24:12Z"))
        let fractional = Data(#"{"savedAt":"2026-11-30T05:24:12.250Z"}"#.utf8)
        #expect(try JSONDecoder.state.decode(Stamped.self, from: fractional).savedAt == whole.addingTimeInterval(0.25))
        #expect(throws: DecodingError.self) { try JSONDecoder.state.decode(Stamped.self, from: Data(#"{"savedAt":"yesterday"}"#.utf8)) }
    }
}
