import ArgumentParser

extension SyncCommand {
    /// A well-formed `duplex sync` command line, parsed without ArgumentParser, or nil to
    /// leave the arguments to it.
    ///
    /// ArgumentParser builds the command's argument set at run time, looking up every
    /// option's property wrapper type and its conformances; in a binary of this size that
    /// took about 4 ms of each `duplex sync`, a third of a sync that finds nothing to do. The
    /// sync is the command run once per user and minute from scripts and timers, so its
    /// plain forms are read here and everything else goes to ArgumentParser, which stays the
    /// definition of the command line: its help, its messages, its completions.
    ///
    /// Read here, and only when every argument is one of these:
    /// - `-u USER`, `--user USER` or `--user=USER`; `--state-dir`, `--lock-timeout`,
    ///   `--io-timeout`, `--config`, `--tls-cert`, `--tls-key`, `--tls-ca` with their value
    ///   as the next argument or after `=`, each at most once;
    /// - `--peer NAME` (or `=NAME`), repeatable, in order;
    /// - the flags `--full`, `--dry-run`, `--json`, `--accept-mass-expunge`,
    ///   `--restore-mass-expunge`, each at most once;
    /// - exactly two positional arguments (A, then B), anywhere among the options.
    ///
    /// Any other argument (help, `--`, an unknown or repeated option, a value that is empty
    /// or starts with `-`, a number that does not parse), or a command line that
    /// ``validate()`` refuses, returns nil, so that ArgumentParser answers it exactly as it
    /// would have. `SyncCommandArgumentsTests` checks that whatever this accepts,
    /// ArgumentParser parses to the same command.
    static func parseWellFormed(_ arguments: [String]) -> SyncCommand? {
        var values: [String: String] = [:]
        var flags: Set<String> = []
        var peers: [String] = []
        var positionals: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("-") else {
                guard !argument.isEmpty else { return nil }
                positionals.append(argument)
                continue
            }
            if flagNames.contains(argument) {
                guard flags.insert(argument).inserted else { return nil }
                continue
            }
            var name = argument, value: String
            if let equals = argument.firstIndex(of: "="), argument.hasPrefix("--") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            } else {
                guard index < arguments.count else { return nil }
                value = arguments[index]
                index += 1
            }
            if name == "-u" { name = "--user" }
            guard !value.isEmpty, !value.hasPrefix("-") else { return nil }
            if name == "--peer" {
                peers.append(value)
            } else {
                guard valueNames.contains(name), values.updateValue(value, forKey: name) == nil else { return nil }
            }
        }
        guard positionals.count == 2, let user = values["--user"] else { return nil }
        var command = SyncCommand()
        command.user = user
        command.full = flags.contains("--full")
        command.dryRun = flags.contains("--dry-run")
        command.json = flags.contains("--json")
        command.acceptMassExpunge = flags.contains("--accept-mass-expunge")
        command.restoreMassExpunge = flags.contains("--restore-mass-expunge")
        command.stateDir = values["--state-dir"]
        guard let lockTimeout = Double(values["--lock-timeout"] ?? "30"), let ioTimeout = Double(values["--io-timeout"] ?? "120") else {
            return nil
        }
        command.lockTimeout = lockTimeout
        command.ioTimeout = ioTimeout
        var tls = TLSClientOptions()
        tls.config = values["--config"]
        tls.certificate = values["--tls-cert"]
        tls.key = values["--tls-key"]
        tls.ca = values["--tls-ca"]
        tls.peers = peers
        command.tlsOptions = tls
        command.mailRootA = positionals[0]
        command.mailRootB = positionals[1]
        guard (try? command.validate()) != nil else { return nil }
        return command
    }

    /// The flags ``parseWellFormed(_:)`` reads.
    private static let flagNames: Set<String> = ["--full", "--dry-run", "--json", "--accept-mass-expunge", "--restore-mass-expunge"]
    /// The single-value options ``parseWellFormed(_:)`` reads (`-u` is `--user`).
    private static let valueNames: Set<String> = [
        "--user", "--state-dir", "--lock-timeout", "--io-timeout", "--config", "--tls-cert", "--tls-key", "--tls-ca",
    ]
}
