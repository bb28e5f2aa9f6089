import Dsync
import Foundation
import MailStoreTestSupport
import Testing

@testable import DuplexCLI

/// The agent's side of `duplex user purge-old`: which coordinators may order a purge
/// (`coordinator.purge_identities`), and the check of each order against the pair's user
/// list read from a real `duplex coordinator` at that moment.
@Suite struct CoordinatorPurgeAuthorityTests {
    static let section = """

        replicator:
          peer: tls://hostb.example.com:7445
        coordinator:
          url: https://127.0.0.1:7447
          token_file: agent.token
          pair: eu-1
          host: mail1a.example.com

        """

    @Test func purgeIdentities_areReadAndCheckedAndNoneByDefault() async throws {
        try await TemporaryDirectory.with(prefix: "duplex-agent-purge-config") { directory in
            let fixture = try AgentConfigurationTests.Fixture(directory)
            try fixture.write("t0ken-value\n", to: "agent.token", mode: 0o600)
            let none = try await fixture.load(AgentConfigurationTests.minimalYAML + Self.section)
            #expect(none.configuration.coordinator?.purgeIdentities == [])
            #expect(try AgentCommand.purgeService(none.configuration.coordinator) == nil, "no identity, no purge served")
            let listed = try await fixture.load(
                AgentConfigurationTests.minimalYAML(setting: "tls.allowed_peers", to: "[hostb.example.com, coordinator.example.com]")
                    + Self.section + "  purge_identities: [coordinator.example.com]\n")
            let coordinator = try #require(listed.configuration.coordinator)
            #expect(coordinator.purgeIdentities == ["coordinator.example.com"])
            let service = try #require(try AgentCommand.purgeService(coordinator))
            #expect(service.pair == "eu-1" && service.identities == ["coordinator.example.com"])
            let bad = try await fixture.error(AgentConfigurationTests.minimalYAML + Self.section + "  purge_identities: [\"a b\"]\n")
            #expect(bad.key == "coordinator.purge_identities", "\(bad)")
            #expect(bad.description.contains("\"a b\" is not a certificate's DNS name"), "\(bad)")
        }
    }

    @Test func purgeOrder_isConfirmedOnlyForAUserTheCoordinatorNoLongerHasOnThePair() async throws {
        let server = try await CoordinatorServer()
        _ = try server.json(["tenant", "add", "example"])
        _ = try server.json(["pair", "add", "eu-1", "--host-a", "a1=tls://127.0.0.1:7445", "--host-b", "b1=tls://127.0.0.2:7445", "--capacity", "10"])
        let alice = try server.json(["user", "assign", "alice@example.com", "--tenant", "example"])
        let tokenFile = try server.tokenFile(role: "agent:eu-1")
        let secret = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        var configuration = CoordinatorLinkConfiguration(
            url: try CoordinatorURL(server.url), tokenFile: tokenFile, token: CoordinatorSecret(secret), trustedCA: server.caPath,
            pair: "eu-1", host: "a1")
        configuration.purgeIdentities = ["coordinator.test"]
        let authority = CoordinatorPurgeAuthority(link: try CoordinatorLink(configuration))
        func order(_ user: String) -> DsyncPurgeOrder {
            DsyncPurgeOrder(user: user, userID: Int64(alice["id"] as? Int ?? 0), epoch: 2, pair: "eu-1", move: 1, currentPair: "eu-2")
        }

        // Still on the pair at the coordinator: its mail stays, whatever the order says.
        let refused = await #expect(throws: DsyncError.self) { try await authority.confirmPurge(order("alice@example.com")) }
        #expect(refused?.code == .usage && refused?.message.contains("still on pair eu-1") == true, "\(String(describing: refused))")
        // Never on the pair, then gone from it: confirmed.
        try await authority.confirmPurge(order("bob@example.com"))
        _ = try server.json(["user", "remove", "alice@example.com"])
        try await authority.confirmPurge(order("alice@example.com"))
        // The name assigned again (a new id, on this pair): refused again.
        _ = try server.json(["user", "assign", "alice@example.com", "--tenant", "example"])
        await #expect(throws: DsyncError.self) { try await authority.confirmPurge(order("alice@example.com")) }
    }
}
