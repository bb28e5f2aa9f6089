#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#endif

import Foundation

/// `duplex sync --agent SOCKET`: the sync runs in the local agent, which serves
/// `dsync.sync_socket` (``AgentSyncSocket``), and this process only prints its answer.
///
/// A warm agent has its code paged in and its run-time types resolved, so a sync that finds
/// nothing to do costs a few milliseconds less than in a fresh process; the result, the
/// output and the exit status are the same. The protocol is the admin socket's: one JSON
/// object on a line each way (``requestLine()``, ``AgentSyncAnswer``).
extension SyncArguments {
    /// The longest answer line the client reads, in bytes (a dry run's plan of a large
    /// mailbox tree fits many times).
    static let maximumAnswerLength = 64 << 20

    /// How long the agent has to take a request (its first line) before the command syncs
    /// in its own process instead.
    static let agentAcceptTimeout = Duration.seconds(5)

    /// The sync's answer through the agent at `socketPath`, or nil (with a warning on
    /// standard error) when nothing takes the request there: no socket, nobody listening,
    /// no permission, or no word from the agent within ``agentAcceptTimeout``. The sync then
    /// runs in this process.
    ///
    /// Once the agent has taken the request, its answer is final: the agent says every few
    /// seconds that the sync runs; a connection cut before the answer, or silence for
    /// `--io-timeout` (at least three such intervals), is exit 74 (the sync may have run in
    /// part; run again, it converges), never a second sync in this process. A path that is
    /// no socket is a usage error (64), not a reason to sync elsewhere.
    func runThroughAgent(_ socketPath: String) -> SyncOutcome? {
        let request: [UInt8]
        do {
            request = try forAgent(currentDirectory: FileManager.default.currentDirectoryPath,
                                   environment: ProcessInfo.processInfo.environment).requestLine()
        } catch {
            return SyncOutcome(status: 70, errors: Output.errorLine("cannot encode the request for the agent: \(error)"))
        }
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else {
            warnFallingBack(socketPath, String(cString: strerror(errno)))
            return nil
        }
        defer { close(socket) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            path.copyBytes(from: socketPath.utf8.prefix(AgentConfiguration.maximumSocketPathLength))
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            var status = stat()
            if stat(socketPath, &status) == 0, status.st_mode & S_IFMT != S_IFSOCK {
                let kind = status.st_mode & S_IFMT == S_IFDIR ? "a directory" : "not a unix socket"
                return SyncOutcome(status: 64, errors: Output.errorLine("--agent \(socketPath) is \(kind): give the agent's dsync.sync_socket"))
            }
            warnFallingBack(socketPath, reason)
            return nil
        }
        let lost = "--agent \(socketPath): the agent closed the connection before answering; the sync may have run in part "
            + "(run it again: it converges)"
        guard Self.sendAll(socket, request) else { return SyncOutcome(status: 74, errors: Output.errorLine(lost)) }
        let running = Array(AgentSyncSocket.runningLine.utf8)
        var reader = AgentLineReader(socket: socket)
        switch reader.next(within: Self.agentAcceptTimeout) {
        case .line(let line) where line == running:
            break
        case .line(let line):
            return Self.outcome(of: line, socketPath)  // answered at once: a refused request
        case .silent:
            warnFallingBack(socketPath, "no answer within \(Self.agentAcceptTimeout)")
            return nil
        case .closed:
            return SyncOutcome(status: 74, errors: Output.errorLine(lost))
        }
        let silence = max(Duration.milliseconds(Int64(ioTimeout * 1000)), AgentSyncSocket.keepaliveInterval * 3)
        while true {
            switch reader.next(within: silence) {
            case .line(let line) where line == running:
                continue
            case .line(let line):
                return Self.outcome(of: line, socketPath)
            case .silent:
                return SyncOutcome(status: 74, errors: Output.errorLine(
                    "--agent \(socketPath): the agent has said nothing for \(silence) while syncing; the sync may have run in part "
                        + "(run it again: it converges)"))
            case .closed:
                return SyncOutcome(status: 74, errors: Output.errorLine(lost))
            }
        }
    }

    private static func outcome(of line: [UInt8], _ socketPath: String) -> SyncOutcome {
        do {
            return try AgentSyncAnswer(line: line).outcome
        } catch {
            return SyncOutcome(status: 76, errors: Output.errorLine("--agent \(socketPath): \(error)"))
        }
    }

    private func warnFallingBack(_ socketPath: String, _ reason: String) {
        Output.writeErrors("duplex: warning: --agent \(socketPath): \(reason); syncing in this process\n")
    }

    /// Writes all of `bytes`; false when the connection fails (no SIGPIPE).
    private static func sendAll(_ socket: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let sent = send(socket, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                if sent < 0, errno == EINTR { continue }
                guard sent > 0 else { return false }
                offset += sent
            }
            return true
        }
    }

    /// These arguments as the agent needs them, which runs elsewhere: every path absolute
    /// (from `currentDirectory`), and the state directory chosen as this process would
    /// (see ``stateDirectory(environment:)``); it stays unset only when an agent
    /// configuration (`--config`) is to choose it.
    func forAgent(currentDirectory: String, environment: [String: String]) -> SyncArguments {
        func absolute(_ path: String) -> String {
            path.hasPrefix("/") ? path : currentDirectory + "/" + path
        }
        var arguments = self
        arguments.agent = nil
        arguments.mailRootA = absolute(mailRootA)
        if !remote { arguments.mailRootB = absolute(mailRootB) }
        if !configurationChoosesStateDirectory(environment: environment) {
            arguments.stateDir = absolute(stateDirectory(environment: environment))
        }
        arguments.tls.config = tls.config.map(absolute)
        arguments.tls.certificate = tls.certificate.map(absolute)
        arguments.tls.key = tls.key.map(absolute)
        arguments.tls.ca = tls.ca.map(absolute)
        return arguments
    }

    /// The request to the agent's sync socket: one JSON object and a newline.
    ///
    /// `{"command":"sync","user":…,"mail_root_a":…,"mail_root_b":…,"state_dir":…,"full":…,
    /// "dry_run":…,"json":…,"accept_mass_expunge":…,"restore_mass_expunge":…,
    /// "lock_timeout":…,"io_timeout":…,"tls_config":…,"tls_cert":…,"tls_key":…,"tls_ca":…,
    /// "peers":[…]}`: paths absolute, timeouts in seconds, optional fields left out.
    func requestLine() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [UInt8(ascii: "\n")]
    }
}

extension SyncArguments: Codable {
    enum CodingKeys: String, CodingKey {
        case command, user, full, json, peers
        case stateDir = "state_dir", lockTimeout = "lock_timeout", dryRun = "dry_run"
        case acceptMassExpunge = "accept_mass_expunge", restoreMassExpunge = "restore_mass_expunge"
        case ioTimeout = "io_timeout", mailRootA = "mail_root_a", mailRootB = "mail_root_b"
        case config = "tls_config", certificate = "tls_cert", key = "tls_key", ca = "tls_ca"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("sync", forKey: .command)
        try container.encode(user, forKey: .user)
        try container.encode(mailRootA, forKey: .mailRootA)
        try container.encode(mailRootB, forKey: .mailRootB)
        try container.encodeIfPresent(stateDir, forKey: .stateDir)
        try container.encode(full, forKey: .full)
        try container.encode(dryRun, forKey: .dryRun)
        try container.encode(json, forKey: .json)
        try container.encode(acceptMassExpunge, forKey: .acceptMassExpunge)
        try container.encode(restoreMassExpunge, forKey: .restoreMassExpunge)
        try container.encode(lockTimeout, forKey: .lockTimeout)
        try container.encode(ioTimeout, forKey: .ioTimeout)
        try container.encodeIfPresent(tls.config, forKey: .config)
        try container.encodeIfPresent(tls.certificate, forKey: .certificate)
        try container.encodeIfPresent(tls.key, forKey: .key)
        try container.encodeIfPresent(tls.ca, forKey: .ca)
        try container.encode(tls.peers, forKey: .peers)
    }

    /// Reads a request, naming the field that is unknown, missing, of the wrong type or
    /// holding a NUL (``AgentSyncRequestError``); the values are checked by
    /// ``SyncArguments/validate()``.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let unknown = try decoder.container(keyedBy: AnyKey.self).allKeys.first(where: { CodingKeys(stringValue: $0.stringValue) == nil }) {
            throw AgentSyncRequestError("unknown field \"\(unknown.stringValue)\"")
        }
        func value<T: Decodable>(_ key: CodingKeys, _ type: T.Type, _ kind: String) throws -> T? {
            let found: T?
            do {
                found = try container.decodeIfPresent(type, forKey: key)
            } catch {
                throw AgentSyncRequestError("the field \"\(key.stringValue)\" must be \(kind)")
            }
            let strings = (found as? String).map { [$0] } ?? (found as? [String]) ?? []
            guard !strings.contains(where: { $0.utf8.contains(0) }) else {
                throw AgentSyncRequestError("the field \"\(key.stringValue)\" must not contain a NUL character")
            }
            return found
        }
        func required<T: Decodable>(_ key: CodingKeys, _ type: T.Type, _ kind: String) throws -> T {
            guard let found = try value(key, type, kind) else { throw AgentSyncRequestError("missing field \"\(key.stringValue)\"") }
            return found
        }
        guard try required(.command, String.self, "a string") == "sync" else {
            throw AgentSyncRequestError("unknown command (this socket answers only \"sync\")")
        }
        self.init(
            user: try required(.user, String.self, "a string"),
            full: try value(.full, Bool.self, "true or false") ?? false,
            stateDir: try value(.stateDir, String.self, "a string"),
            lockTimeout: try value(.lockTimeout, Double.self, "a number of seconds") ?? SyncArguments.defaultLockTimeout,
            dryRun: try value(.dryRun, Bool.self, "true or false") ?? false,
            json: try value(.json, Bool.self, "true or false") ?? false,
            acceptMassExpunge: try value(.acceptMassExpunge, Bool.self, "true or false") ?? false,
            restoreMassExpunge: try value(.restoreMassExpunge, Bool.self, "true or false") ?? false,
            tls: TLSClientValues(
                config: try value(.config, String.self, "a string"), certificate: try value(.certificate, String.self, "a string"),
                key: try value(.key, String.self, "a string"), ca: try value(.ca, String.self, "a string"),
                peers: try value(.peers, [String].self, "a list of strings") ?? []),
            ioTimeout: try value(.ioTimeout, Double.self, "a number of seconds") ?? SyncArguments.defaultIOTimeout,
            mailRootA: try required(.mailRootA, String.self, "a string"),
            mailRootB: try required(.mailRootB, String.self, "a string"))
    }
}

/// Any key of a JSON object, to find those a request does not know.
private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }

    init(stringValue: String) {
        self.stringValue = stringValue
    }

    init?(intValue: Int) {
        nil
    }
}

/// A sync request the agent's sync socket cannot act on: what is wrong with it.
struct AgentSyncRequestError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// The agent's answer to a sync request: one JSON object on a line,
/// `{"status":0,"output":"…","errors":"…"}` — the exit status and what the command prints
/// on standard output and standard error.
struct AgentSyncAnswer: Codable, Equatable {
    var status: Int32
    var output: String
    var errors: String

    init(_ outcome: SyncOutcome) {
        status = outcome.status
        output = outcome.output
        errors = outcome.errors
    }

    /// Reads an answer line (without its newline).
    ///
    /// - Throws: ``AgentSyncRequestError`` when the line is no answer of this protocol.
    init(line: [UInt8]) throws {
        do {
            self = try JSONDecoder().decode(Self.self, from: Data(line))
        } catch {
            throw AgentSyncRequestError("the agent's answer is not a sync answer (\(line.count) bytes)")
        }
        guard (0...255).contains(status) else { throw AgentSyncRequestError("the agent's answer has exit status \(status)") }
    }

    var outcome: SyncOutcome {
        SyncOutcome(status: status, output: output, errors: errors)
    }

    /// The answer as a line: JSON and a newline.
    func line() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [UInt8(ascii: "\n")]
    }
}

/// Reads the agent's lines from a connected socket, each within a time limit.
struct AgentLineReader {
    let socket: Int32
    private var buffer: [UInt8] = []

    init(socket: Int32) {
        self.socket = socket
    }

    enum Next {
        /// A line, without its newline.
        case line([UInt8])
        /// Nothing complete within the time given.
        case silent
        /// The connection ended (or failed, or the line passed
        /// ``SyncArguments/maximumAnswerLength``) before a whole line.
        case closed
    }

    /// The next line, waiting at most `limit` for it.
    mutating func next(within limit: Duration) -> Next {
        let deadline = ContinuousClock.now + limit
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                return .line(line)
            }
            guard buffer.count <= SyncArguments.maximumAnswerLength else { return .closed }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return .silent }
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(min((left / .milliseconds(1)).rounded(.up), Double(Int32.max)))
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0, errno == EINTR { continue }
            guard ready >= 0 else { return .closed }
            if ready == 0 { continue }
            let count = chunk.withUnsafeMutableBytes { read(socket, $0.baseAddress!, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return .closed }
            buffer.append(contentsOf: chunk[..<count])
        }
    }
}
