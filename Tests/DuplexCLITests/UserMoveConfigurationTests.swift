import Foundation
import MailStoreTestSupport
import Testing

@testable import DuplexCLI

/// The coordinator's `moves:` settings and what `duplex user move --wait` shows.
struct UserMoveConfigurationTests {
    /// A configuration directory with readable TLS files (their contents are not parsed here).
    struct Setup {
        let directory: TemporaryDirectory
        var config: String { directory.appending("coordinator.yaml") }

        init() throws {
            directory = try TemporaryDirectory(prefix: "move-config")
            for file in ["api.pem", "api.key", "dsync.pem", "dsync.key", "ca.pem"] {
                let path = directory.appending(file)
                try Data("-----BEGIN X-----\n".utf8).write(to: URL(fileURLWithPath: path))
                chmod(path, 0o600)
            }
        }

        func write(_ moves: String) throws {
            let text = "coordinator:\n  tls:\n    certificate: api.pem\n    key: api.key\nmoves:\n" + moves
            try Data(text.utf8).write(to: URL(fileURLWithPath: config))
        }
    }

    @Test func movesSection_isReadWithItsDefaultsAndOverrides() async throws {
        let setup = try Setup()
        defer { setup.directory.cleanup() }
        try setup.write("  tls:\n    certificate: dsync.pem\n    key: dsync.key\n    ca: ca.pem\n  max_concurrent: 4\n  catch_up_delay: 0\n")
        let (loaded, _) = try await CoordinatorConfiguration.load(
            path: setup.config, environment: ["DUPLEX_MOVES_COPY_ROUNDS": "3"])
        let moves = try #require(loaded.moves)
        #expect(moves.certificateChain == setup.directory.appending("dsync.pem"))
        #expect(moves.privateKey == setup.directory.appending("dsync.key"))
        #expect(moves.trustedCA == setup.directory.appending("ca.pem"))
        #expect(moves.maxConcurrentMoves == 4 && moves.maxCopyRounds == 3 && moves.catchUpDelay == .zero)
        #expect(moves.stateDirectory == "/var/lib/duplex/moves" && moves.retryInterval == .seconds(30))
    }

    @Test func movesWithoutACertificate_areNotRun() async throws {
        let setup = try Setup()
        defer { setup.directory.cleanup() }
        try setup.write("  max_concurrent: 3\n")
        #expect(try await CoordinatorConfiguration.load(path: setup.config, environment: [:]).configuration.moves == nil)
    }

    @Test(arguments: [
        ("  tls:\n    key: dsync.key\n", "moves.tls.key", "moves.tls.certificate"),
        ("  tls:\n    certificate: dsync.pem\n    key: dsync.key\n", "moves.tls.ca", "moves.tls.ca"),
        ("  tls:\n    certificate: dsync.pem\n    key: dsync.key\n    ca: ca.pem\n  max_concurrent: 0\n", "moves.max_concurrent", "1 to 100"),
        ("  tls:\n    certificate: dsync.pem\n    key: dsync.key\n    ca: ca.pem\n  copy_rounds: 1.5\n", "moves.copy_rounds", "whole number"),
        ("  tls:\n    certificate: missing.pem\n    key: dsync.key\n    ca: ca.pem\n", "moves.tls.certificate", "missing.pem"),
        ("  max_concurent: 3\n", "moves.max_concurent", "moves.max_concurrent"),
    ])
    func badMovesSetting_isRefusedNamingTheKey(moves: String, key: String, mentions: String) async throws {
        let setup = try Setup()
        defer { setup.directory.cleanup() }
        try setup.write(moves)
        let error = await #expect(throws: ConfigurationError.self) {
            _ = try await CoordinatorConfiguration.load(path: setup.config, environment: [:])
        }
        #expect(error?.key == key, "\(String(describing: error))")
        #expect(error?.description.contains(mentions) == true, "\(String(describing: error))")
    }

    @Test func waitingForAMove_showsItsRoundAndWhatWasCopied() {
        var move = APIMove(
            id: 3, user: "alice@example.com", from: "p1", to: "p2", phase: "copying", startedAt: "t", updatedAt: "t", error: nil)
        #expect(UserMoveCommand.progressText(move) == "copying")
        move.progress = APIMoveProgress(
            phase: "copying", round: 2, syncs: 3, messagesCopied: 640, bytesCopied: 3 * 1_048_576 / 2, currentSync: nil,
            catchUpPending: false, lastError: "tls://127.0.0.1:7445: peer unreachable")
        #expect(
            UserMoveCommand.progressText(move)
                == "copying, round 2, 640 messages (1.5 MiB) copied, retrying after: tls://127.0.0.1:7445: peer unreachable")
        move.error = "old"
        move.progress = nil
        #expect(UserMoveCommand.progressText(move) == "copying, last error: old")
    }
}
