#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import ArgumentParser
import Coordinator
import Foundation

/// The options every client of the coordinator takes (`duplex tenant|pair|user|status`):
/// where the coordinator is, the token, the CA to trust, and `--json`.
struct CoordinatorOptions: ParsableArguments {
    static let urlVariable = "DUPLEX_COORDINATOR_URL"
    static let tokenFileVariable = "DUPLEX_TOKEN_FILE"
    static let tokenVariable = "DUPLEX_TOKEN"
    static let caVariable = "DUPLEX_COORDINATOR_CA"
    /// A token file larger than this is not a token file.
    static let maximumTokenFileSize = 4096

    @Option(name: .long, help: ArgumentHelp(
        "The coordinator's URL (default: $DUPLEX_COORDINATOR_URL, else \(CoordinatorURL.defaultURL)).", valueName: "URL"))
    var coordinator: String?

    @Option(name: .long, help: ArgumentHelp(
        "A file holding the API token (default: $DUPLEX_TOKEN_FILE; or the secret itself in $DUPLEX_TOKEN).", valueName: "PATH"))
    var tokenFile: String?

    @Option(name: .long, help: ArgumentHelp(
        "PEM CA certificates the coordinator's certificate must chain to (default: $DUPLEX_COORDINATOR_CA, else the system's).",
        valueName: "FILE"))
    var ca: String?

    @Option(help: ArgumentHelp(
        "Seconds to wait for the connection (at most 10) and then for each part of the answer.", valueName: "SECS"))
    var timeout: Double = 30

    @Flag(help: "Print the coordinator's answer as JSON (the API's shape).")
    var json = false

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    func validate() throws {
        guard timeout > 0, timeout <= 3600 else {
            throw ValidationError("--timeout must be more than 0 and at most 3600 seconds, got \(timeout)")
        }
        do {
            _ = try url()
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// The coordinator's URL: `--coordinator`, else the environment's, else the default.
    func url() throws(CoordinatorURLError) -> CoordinatorURL {
        if let coordinator { return try CoordinatorURL(coordinator) }
        if let text = environment[Self.urlVariable], !text.isEmpty { return try CoordinatorURL(text) }
        return try CoordinatorURL(CoordinatorURL.defaultURL)
    }

    /// The token: from `--token-file`, else `$DUPLEX_TOKEN_FILE`, else `$DUPLEX_TOKEN`.
    ///
    /// Exits 64 when there is none and 66 when the file cannot be read (nothing is sent).
    func token() throws -> String {
        let path = tokenFile ?? environment[Self.tokenFileVariable].flatMap { $0.isEmpty ? nil : $0 }
        guard let path else {
            if let secret = environment[Self.tokenVariable]?.trimmingCharacters(in: .whitespacesAndNewlines), !secret.isEmpty {
                return secret
            }
            throw Self.fail("no API token: give --token-file PATH, or set \(Self.tokenFileVariable) or \(Self.tokenVariable)", exitCode: 64)
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw Self.fail("cannot read the token file \(path): \(String(cString: strerror(errno)).lowercased())", exitCode: 66)
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: Self.maximumTokenFileSize + 1)) ?? Data()
        guard data.count <= Self.maximumTokenFileSize else {
            throw Self.fail("the token file \(path) is larger than \(Self.maximumTokenFileSize) bytes: not a token", exitCode: 65)
        }
        let secret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty, !secret.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 } ?? false }) else {
            throw Self.fail("the token file \(path) holds no token (one line, the secret)", exitCode: 65)
        }
        return secret
    }

    /// A client for the chosen coordinator, token and CA.
    func makeClient() throws -> CoordinatorClient {
        let url: CoordinatorURL
        do { url = try self.url() } catch { throw Self.fail(error.description, exitCode: 64) }
        let caPath = ca ?? environment[Self.caVariable].flatMap { $0.isEmpty ? nil : $0 }
        let token = try token()
        var configuration = CoordinatorClient.Configuration(url: url, token: token, trustedCAPath: caPath)
        configuration.readTimeout = .milliseconds(Int64(timeout * 1000))
        configuration.connectTimeout = min(configuration.readTimeout, .seconds(10))
        do {
            return try CoordinatorClient(configuration)
        } catch {
            throw Self.fail(error.description, exitCode: 66)
        }
    }

    /// Sends `request` and returns a successful answer; anything else is reported as
    /// `duplex: <message>` with the matching exit code.
    func send(_ request: CoordinatorRequest, client: CoordinatorClient? = nil) async throws -> CoordinatorResponse {
        let client = try client ?? makeClient()
        let response: CoordinatorResponse
        do {
            response = try await client.send(request)
        } catch {
            throw Self.fail(error.description, exitCode: Self.exitCode(for: error.code))
        }
        guard response.isSuccess else {
            let message = response.apiError?.message
                ?? "HTTP \(response.status) from \(client.configuration.url) for \(request.method.rawValue) \(request.target)"
            throw Self.fail(message, exitCode: Self.exitCode(forStatus: response.status))
        }
        return response
    }

    /// Sends `request` and decodes the answer as `T`.
    func send<T: Decodable>(
        _ request: CoordinatorRequest, as type: T.Type, client: CoordinatorClient? = nil
    ) async throws -> (value: T, response: CoordinatorResponse) {
        let client = try client ?? makeClient()
        let response = try await send(request, client: client)
        do {
            return (try CoordinatorJSON.decode(T.self, from: response.body), response)
        } catch {
            throw Self.fail(
                "the coordinator at \(client.configuration.url) sent an answer to \(request.method.rawValue) \(request.target) "
                    + "that is not the documented JSON: \(CoordinatorJSON.describe(error))",
                exitCode: 76)
        }
    }

    /// Sends `request`, then prints the answer: its JSON with `--json`, else `render` of it
    /// (given the coordinator's clock).
    func show<T: Decodable>(_ request: CoordinatorRequest, as type: T.Type, render: (T, Date) -> String) async throws {
        let (value, response) = try await send(request, as: T.self)
        if json { return try printJSON(response) }
        Output.write(render(value, response.date ?? Date()))
    }

    /// Prints an answer's body as pretty JSON, keys sorted (the API's shape, unchanged).
    func printJSON(_ response: CoordinatorResponse) throws {
        Output.write(try CoordinatorJSON.pretty(response.body))
    }

    /// The exit code for an HTTP status (sysexits, as the other commands use them).
    static func exitCode(forStatus status: Int) -> Int32 {
        switch status {
        case 400, 413: 65
        case 401, 403: 77
        case 404: 68
        case 409: 73
        case 503: 69
        case 502, 504, 429: 75
        default: 1
        }
    }

    /// The exit code for a failure before an answer.
    static func exitCode(for code: CoordinatorClientError.Code) -> Int32 {
        switch code {
        case .cannotConnect: 69
        case .timedOut, .disconnected: 75
        case .tlsFailed: 77
        case .responseTooLarge, .badResponse: 76
        case .badConfiguration: 66
        }
    }

    /// Writes `duplex: <message>` to standard error and returns the exit code to throw.
    static func fail(_ message: String, exitCode: Int32) -> ExitCode {
        note("duplex: \(message)")
        return ExitCode(exitCode)
    }

    /// Writes one line (control characters shown as `?`) to standard error: progress and notes
    /// that must not mix with the output.
    static func note(_ line: String) {
        _ = (DoveadmTable.printable(line) + "\n").withCString { fputs($0, stderr) }
    }

    /// Checks `value` as a `kind` name for `validate()`: the error names the option.
    static func checkName(_ value: String, _ kind: CoordinatorName.Kind, option: String) throws {
        do {
            _ = try CoordinatorName(value, kind: kind)
        } catch {
            throw ValidationError("\(option): \(error.description)")
        }
    }
}

/// The help text the coordinator commands share: where they connect and what their exit
/// codes mean.
enum CoordinatorCommandHelp {
    static let discussion = """
        Talks to the coordinator's HTTP API: --coordinator URL (else \
        $DUPLEX_COORDINATOR_URL, else \(CoordinatorURL.defaultURL)), with the token in \
        --token-file PATH (else $DUPLEX_TOKEN_FILE, else the secret itself in \
        $DUPLEX_TOKEN), trusting the CA certificates in --ca FILE (else \
        $DUPLEX_COORDINATOR_CA, else the system's). --json prints the coordinator's answer \
        (docs/coordinator-api.md) instead of a table.

        Exit codes: 0 done; 64 usage (nothing sent); 65 the coordinator refused the data \
        (400); 66 the token or CA file cannot be read; 68 not found (404); 73 it exists \
        already or its state forbids the change (409); 69 the coordinator cannot be reached \
        or its database is down (503); 75 no answer in time (retry); 76 the answer is not \
        the API's; 77 the token is refused (401/403) or the coordinator's certificate is not \
        trusted; 1 anything else (no room or quota, 422). Errors are printed as \
        "duplex: <message>".
        """
}
