import Foundation
import MailStore
import Testing

@testable import Dsync

@Suite struct TLSSyncTests {
    @Test func firstSyncOverTLS_mergesBothSides_andTheSecondTakesTheFastPath() async throws {
        let f = try SyncFixture.overTLS()
        for i in 1...30 { try f.save(f.a, guid: "a-\(i)") }
        for i in 1...20 { try f.save(f.b, guid: "b-\(i)") }
        _ = try f.create(f.b, "Work")
        try f.save(f.b, "Work", guid: "w-1")
        try await f.withTLSPeer { peer in
        let report = try await peer.sync()
        #expect(report.appliedB.messagesCopied == 30 && report.appliedA.messagesCopied == 21)
        let mapA = try mapOf(f.a), mapB = try mapOf(f.b)
        #expect(mapA == mapB)
        #expect(mapA.messages["INBOX"]?.count == 50)
        // Stamps taken within 100 ms of a change are ambiguous: let the clock move on.
        try await Task.sleep(for: .milliseconds(250))
        let second = try await peer.sync()
        #expect(second.plannedA == 0 && second.plannedB == 0)
        let third = try await peer.sync()
        #expect(third.fastPath, "the third sync read more than stamps")
        }
    }
}
