import Foundation
import MailStore
import MailStoreTestSupport
import Testing

@testable import Replicator

@Suite struct DoveadmSyncEngineTests {
    /// Real `doveadm sync` between two Maildirs of one user of a private Dovecot instance.
    @Test(.enabled(if: DovecotInstance.isAvailable, "needs Dovecot 2.3 (dovecot-core) and root"))
    func realDoveadmSync_copiesBothWays_andKeepsItsState() async throws {
        try await DovecotInstance.withInstance(prefix: "duplex-doveadm-engine") { dovecot in
            let user = "erin"
            let home = try dovecot.makeHomeDirectory(user: user)
            let a = MailStore(root: home + "/A"), b = MailStore(root: home + "/B")
            try a.createMailbox(.inbox)
            // B starts as a copy of A, as a replica does (two unrelated INBOXes never settle
            // with doveadm sync: see the differential tests).
            let copy = Process()
            copy.executableURL = URL(fileURLWithPath: "/bin/cp")
            copy.arguments = ["-a", a.root, b.root]
            try copy.run()
            copy.waitUntilExit()
            try a.saveMessage(in: .inbox, bytes: Array("Subject: from A\r\n\r\nbody A\r\n".utf8), options: SaveOptions(guid: "guid-a"))
            try dovecot.chownToVmail(path: home)
            let stateDirectory = home + "/engine-state"
            let engine = DoveadmSyncEngine(
                doveadm: ["/usr/bin/doveadm", "/usr/local/bin/doveadm"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "doveadm",
                configFile: dovecot.configPath,
                settings: ["mail_location=maildir:\(a.root)", "maildir_copy_with_hardlinks=no"],
                destination: "maildir:\(b.root)", allNamespaces: false, lockTimeout: 10, timeout: .seconds(60),
                stateDirectory: stateDirectory)

            let first = await engine.sync(user: user, full: false)
            #expect(first.outcome == .success())
            #expect(try b.listMessages(in: .inbox).map(\.guid) == ["guid-a"])
            let state = try String(contentsOfFile: engine.statePath(user), encoding: .utf8)
            #expect(!state.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "doveadm printed a state to keep")

            try b.saveMessage(in: .inbox, bytes: Array("Subject: from B\r\n\r\nbody B\r\n".utf8), options: SaveOptions(guid: "guid-b"))
            try dovecot.chownToVmail(path: home)
            let second = await engine.sync(user: user, full: false)
            #expect(second.outcome == .success())
            #expect(Set(try a.listMessages(in: .inbox).map(\.guid)) == ["guid-a", "guid-b"])
            let full = await engine.sync(user: user, full: true)
            #expect(full.outcome == .success())
        }
    }

    /// Exit statuses mapped to queue outcomes, with a stand-in program (a fault injector).
    @Test(arguments: [
        (Int32(0), SyncOutcome.success()),
        (2, .changedDuringSync),
        (67, .noSuchUser("")),
        (233, .noSuchUser("")),
        (75, .failure("")),
        (89, .failure("")),
    ])
    func exitStatuses_mapToOutcomes(status: Int32, expected: SyncOutcome) async throws {
        let directory = try TemporaryDirectory(prefix: "doveadm-status")
        defer { directory.cleanup() }
        let script = directory.appending("doveadm")
        try "#!/bin/sh\necho 'NEWSTATE\t'\necho 'some error' >&2\nexit \(status)\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let engine = DoveadmSyncEngine(doveadm: script, destination: "tcps:peer:1", stateDirectory: directory.appending("state"))
        let result = await engine.sync(user: "frank", full: false)
        switch (result.outcome, expected) {
        case (.success, .success), (.changedDuringSync, .changedDuringSync), (.noSuchUser, .noSuchUser), (.failure, .failure):
            break
        default:
            Issue.record("status \(status) gave \(result.outcome), expected \(expected)")
        }
        if status == 0 {
            #expect(try String(contentsOfFile: engine.statePath("frank"), encoding: .utf8) == "NEWSTATE\n")
            #expect(engine.arguments(user: "frank", full: false, state: "NEWSTATE") == ["sync", "-u", "frank", "-l", "30", "-N", "-s", "NEWSTATE", "tcps:peer:1"])
        }
    }

    /// The fake doveadm would sleep an hour and then succeed; the engine must kill it at its
    /// 1 s timeout. What shows the kill is the result (a failure, where a run left alone
    /// succeeds) and the process being gone, not how long it took: a loaded machine may run
    /// the engine's timer late. The time limit guards a hang only.
    @Test(.timeLimit(.minutes(10))) func aHangingDoveadm_isKilledAtTheTimeout() async throws {
        let directory = try TemporaryDirectory(prefix: "doveadm-hang")
        defer { directory.cleanup() }
        let script = directory.appending("doveadm")
        let pidFile = directory.appending("pid")
        try "#!/bin/sh\necho $$ > '\(pidFile)'\nexec sleep 3600\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let engine = DoveadmSyncEngine(doveadm: script, destination: "tcps:peer:1", timeout: .seconds(1), stateDirectory: directory.appending("state"))
        let result = await engine.sync(user: "gina", full: false)
        if case .failure = result.outcome {} else { Issue.record("a killed run must be a failure, got \(result.outcome)") }
        let text = try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let pid = try #require(pid_t(text), "the fake doveadm wrote no pid: \(text)")
        // The engine has reaped it: the pid names no process (a reused pid is all but impossible
        // this soon).
        #expect(kill(pid, 0) != 0 && errno == ESRCH, "the fake doveadm (pid \(pid)) still runs")
    }
}
