import Testing

@testable import Dsync

/// The agents a test starts never outlive it.
@Suite struct TLSAgentsTests {
    @Test func agentsStartedInAScope_areStoppedWhenItEnds_evenWhenItThrows() async throws {
        struct Thrown: Error {}
        for throwing in [false, true] {
            var fixture: SyncFixture?
            do {
                fixture = try await TLSAgents.withAgents {
                    let f = try await SyncFixture(transport: .tls)
                    try f.save(f.a, guid: "m-1")
                    try await f.sync()
                    try await f.expectConverged(["INBOX": [1: m("m-1")]], secondSyncIsEmpty: false)
                    if throwing { throw Thrown() }
                    return f
                }
            } catch is Thrown {
                #expect(throwing)
            }
            if throwing { continue }
            let f = try #require(fixture)
            let refused = await #expect(throws: DsyncError.self) { try await f.sync() }
            // Nobody listens on the port any more (or, should another test's agent have taken
            // it meanwhile, one that does not trust this fixture's certificates).
            #expect(refused?.code == .peerUnreachable || refused?.code == .authenticationFailed, "\(String(describing: refused))")
        }
    }

    @Test func aFixtureOverTLS_outsideAnAgentScope_isRefusedClearly() async throws {
        let refused = await #expect(throws: DsyncError.self) { try await SyncFixture(transport: .tls) }
        #expect(refused?.code == .usage && refused?.message.contains(".tlsAgents") == true, "\(String(describing: refused))")
    }
}
