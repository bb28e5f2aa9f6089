import MailStoreTestSupport
import Testing

extension AgentFixture {
    /// The `dsync:` and `tls:` sections of an agent's configuration for host `name`:
    /// listening on `listen`, its mail roots at `mailRoot`, its sync states in `state-NAME`,
    /// presenting `identity`'s certificate (see ``identity(_:in:)``) and allowing `peerName`.
    func hostSections(_ name: String, listen: String, mailRoot: String, identity: String, peerName: String) -> String {
        let files = self.identity(identity)
        return """
            dsync:
              listen: \(listen)
              mail_root: \(mailRoot)
              lock_timeout: 10
              state_dir: \(directory.appending("state-\(name)"))
            tls:
              certificate: \(files.certificate)
              key: \(files.key)
              ca: \(files.ca)
              allowed_peers: [\(peerName)]

            """
    }

    /// Writes `yaml` to `NAME.yaml` and starts `duplex agent` on it, logging at debug level;
    /// returns once it listens.
    func startAgent(_ name: String, yaml: String) async throws -> RunningAgent {
        let path = directory.appending("\(name).yaml")
        try write(yaml, to: path)
        let process = try BackgroundCommand(
            "/usr/bin/env", ["DUPLEX_LOG_LEVEL=debug", ExternalCommand.duplexExecutable, "agent", "--config", path],
            outputDirectory: directory.path)
        return try await RunningAgent(process, sourceLocation: #_sourceLocation)
    }
}
