import Foundation

/// The agent's requests to the coordinator (docs/coordinator-api.md, "Agents"), made with
/// its pair's agent token: register, heartbeat, pull the pair's user changes, push status.
///
/// Each request is one HTTPS exchange with bounded connect and read times, so a graceful
/// shutdown waits at most for one of them.
struct CoordinatorLink: Sendable, CustomStringConvertible {
    let configuration: CoordinatorLinkConfiguration
    let client: CoordinatorClient

    /// The link without its client, which holds the token.
    var description: String { "CoordinatorLink(\(configuration))" }

    /// The most changes asked for per pull (the API's largest): a new agent of a full pair
    /// applies and saves its list in few batches.
    static let changeLimit = 10_000

    /// Prepares the link; the CA file is read here.
    ///
    /// - Throws: ``CoordinatorClientError`` (`badConfiguration`) naming the CA file.
    init(_ configuration: CoordinatorLinkConfiguration) throws(CoordinatorClientError) {
        self.configuration = configuration
        var client = CoordinatorClient.Configuration(
            url: configuration.url, token: configuration.token.value, trustedCAPath: configuration.trustedCA)
        client.connectTimeout = .seconds(5)
        client.readTimeout = .seconds(20)
        self.client = try CoordinatorClient(client)
    }

    /// `POST /v1/agents/register` with this host, its pair and the agent's version.
    func register() async throws(CoordinatorLinkError) {
        let body: [String: Any] = ["host": configuration.host, "pair": configuration.pair, "version": DuplexCommand.version]
        _ = try await send(try request(.post, ["v1", "agents", "register"], json: body))
    }

    /// `POST /v1/agents/heartbeat` for this host.
    func heartbeat() async throws(CoordinatorLinkError) {
        _ = try await send(try request(.post, ["v1", "agents", "heartbeat"], json: ["host": configuration.host]))
    }

    /// `GET /v1/pairs/{pair}/changes?since=V`: the next batch of the pair's user changes.
    ///
    /// - Throws: ``CoordinatorLinkError``; `badAnswer` also for a change of a name that
    ///   breaks the naming rules, an id below 1, or a batch that ends before `version`.
    func changes(since version: Int64) async throws(CoordinatorLinkError) -> CoordinatorChangeBatch {
        let request = CoordinatorRequest(
            .get, ["v1", "pairs", configuration.pair, "changes"],
            query: [("since", String(version)), ("limit", String(Self.changeLimit))])
        let response = try await send(request)
        let batch: CoordinatorChangeBatch
        do {
            batch = try CoordinatorJSON.decode(CoordinatorChangeBatch.self, from: response.body)
        } catch {
            throw badAnswer(request, CoordinatorJSON.describe(error))
        }
        guard batch.version >= version else { throw badAnswer(request, "the batch ends at version \(batch.version), before \(version)") }
        for change in batch.changes {
            guard change.userID > 0, CoordinatorUserCache.isName(change.user[...]) else {
                throw badAnswer(request, "a change names user \(String(reflecting: change.user)) with id \(change.userID)")
            }
        }
        return batch
    }

    /// `POST /v1/pairs/{pair}/status` with one body of ``CoordinatorStatusReporter/bodies(host:reports:)``.
    ///
    /// - Returns: the ids the coordinator ignored (users not, or no longer, on the pair).
    func pushStatus(body: [UInt8]) async throws(CoordinatorLinkError) -> [Int64] {
        struct Recorded: Decodable {
            var accepted: Int
            var ignored: [Int64]
        }
        let request = CoordinatorRequest(.post, ["v1", "pairs", configuration.pair, "status"], body: body)
        let response = try await send(request)
        do {
            return try CoordinatorJSON.decode(Recorded.self, from: response.body).ignored
        } catch {
            throw badAnswer(request, CoordinatorJSON.describe(error))
        }
    }

    // MARK: Requests

    private func request(_ method: CoordinatorRequest.Method, _ path: [String], json: [String: Any]) throws(CoordinatorLinkError) -> CoordinatorRequest {
        do {
            return try CoordinatorRequest(method, path, json: json)
        } catch {
            throw CoordinatorLinkError(.badAnswer, "cannot encode the request to \(path.joined(separator: "/")): \(error)")
        }
    }

    /// Sends `request`; a 2xx answer comes back, anything else is thrown.
    private func send(_ request: CoordinatorRequest) async throws(CoordinatorLinkError) -> CoordinatorResponse {
        let response: CoordinatorResponse
        do {
            response = try await client.send(request)
        } catch {
            throw CoordinatorLinkError(.unreachable, error.description)
        }
        guard response.isSuccess else {
            let what = "\(request.method.rawValue) \(request.target) at \(configuration.url)"
            let message = response.apiError.map { "\(what): HTTP \(response.status) \($0.code): \($0.message)" } ?? "\(what): HTTP \(response.status)"
            throw CoordinatorLinkError(response.status >= 500 ? .unavailable : .refused, message)
        }
        return response
    }

    private func badAnswer(_ request: CoordinatorRequest, _ reason: String) -> CoordinatorLinkError {
        CoordinatorLinkError(.badAnswer, "the answer of the coordinator at \(configuration.url) to \(request.method.rawValue) \(request.target) is not the API's: \(reason)")
    }
}
