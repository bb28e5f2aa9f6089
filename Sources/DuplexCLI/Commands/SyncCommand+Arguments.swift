import ArgumentParser

extension SyncCommand {
    /// A well-formed `duplex sync` command line, parsed without ArgumentParser, or nil to
    /// leave the arguments to it.
    ///
    /// ArgumentParser builds the command's argument set at run time, looking up every
    /// option's property wrapper type and its conformances; in a binary of this size that
    /// took about 4 ms of each `duplex sync`, a third of a sync that finds nothing to do.
    /// The sync is the command run once per user and minute from scripts and timers, so its
    /// plain forms are read here and everything else goes to ArgumentParser, which stays the
    /// definition of the command line: its help, its messages, its completions. The result
    /// is plain values (``SyncArguments``): even making a ``SyncCommand`` (its property
    /// wrappers) costs a few tenths of a millisecond.
    ///
    /// Read here, and only when every argument is one of these:
    /// - `-u USER`, `--user USER` or `--user=USER`; `--state-dir`, `--lock-timeout`,
    ///   `--io-timeout`, `--config`, `--tls-cert`, `--tls-key`, `--tls-ca`, `--agent` with their value
    ///   as the next argument or after `=`, each at most once;
    /// - `--peer NAME` (or `=NAME`), repeatable, in order;
    /// - the flags `--full`, `--dry-run`, `--json`, `--accept-mass-expunge`,
    ///   `--restore-mass-expunge`, each at most once;
    /// - exactly two positional arguments (A, then B), anywhere among the options.
    ///
    /// Any other argument (help, `--`, an unknown or repeated option, a value that is empty
    /// or starts with `-`, a number that does not parse), or a command line that
    /// ``SyncArguments/validate()`` refuses, returns nil, so that ArgumentParser answers it
    /// exactly as it would have. `SyncCommandArgumentsTests` checks that whatever this
    /// accepts, ArgumentParser reads to the same values.
    static func parseWellFormed(_ arguments: [String]) -> SyncArguments? {
        // Plain fields and switches, no sets or dictionaries: this runs before anything else
        // of a sync, and a first hashed collection costs the process its hash seed.
        var parsed = WellFormed()
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("-") else {
                guard !argument.isEmpty else { return nil }
                parsed.positionals.append(argument)
                continue
            }
            switch parsed.setFlag(argument) {
            case true: continue
            case false: return nil  // repeated
            case nil: break
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
            guard !value.isEmpty, !value.hasPrefix("-"), parsed.setValue(name == "-u" ? "--user" : name, value) else { return nil }
        }
        guard parsed.positionals.count == 2, let user = parsed.user else { return nil }
        // A number that does not parse is ArgumentParser's to report.
        guard let lockTimeout = parsed.lockTimeout.map(Double.init) ?? SyncArguments.defaultLockTimeout,
              let ioTimeout = parsed.ioTimeout.map(Double.init) ?? SyncArguments.defaultIOTimeout else { return nil }
        let arguments = SyncArguments(
            user: user, full: parsed.full, stateDir: parsed.stateDir, lockTimeout: lockTimeout, dryRun: parsed.dryRun, json: parsed.json,
            acceptMassExpunge: parsed.acceptMassExpunge, restoreMassExpunge: parsed.restoreMassExpunge,
            tls: TLSClientValues(config: parsed.config, certificate: parsed.certificate, key: parsed.key, ca: parsed.ca, peers: parsed.peers),
            ioTimeout: ioTimeout, agent: parsed.agent, mailRootA: parsed.positionals[0], mailRootB: parsed.positionals[1])
        guard (try? arguments.validate()) != nil else { return nil }
        return arguments
    }

    /// What ``parseWellFormed(_:)`` has read so far.
    private struct WellFormed {
        var user, stateDir, lockTimeout, ioTimeout, config, certificate, key, ca, agent: String?
        var full = false, dryRun = false, json = false, acceptMassExpunge = false, restoreMassExpunge = false
        var peers: [String] = []
        var positionals: [String] = []

        /// Sets the flag named `name`: true, false when it was set already, nil when `name`
        /// is no flag.
        mutating func setFlag(_ name: String) -> Bool? {
            func set(_ flag: inout Bool) -> Bool {
                defer { flag = true }
                return !flag
            }
            switch name {
            case "--full": return set(&full)
            case "--dry-run": return set(&dryRun)
            case "--json": return set(&json)
            case "--accept-mass-expunge": return set(&acceptMassExpunge)
            case "--restore-mass-expunge": return set(&restoreMassExpunge)
            default: return nil
            }
        }

        /// Sets the option named `name` (`--peer` adds one); false for an unknown or
        /// repeated option.
        mutating func setValue(_ name: String, _ value: String) -> Bool {
            func set(_ option: inout String?) -> Bool {
                guard option == nil else { return false }
                option = value
                return true
            }
            switch name {
            case "--user": return set(&user)
            case "--state-dir": return set(&stateDir)
            case "--lock-timeout": return set(&lockTimeout)
            case "--io-timeout": return set(&ioTimeout)
            case "--config": return set(&config)
            case "--tls-cert": return set(&certificate)
            case "--tls-key": return set(&key)
            case "--tls-ca": return set(&ca)
            case "--agent": return set(&agent)
            case "--peer":
                peers.append(value)
                return true
            default: return false
            }
        }
    }
}
