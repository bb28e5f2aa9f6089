@testable import Dsync
import Synchronization
import Testing

/// The agents (``DsyncServer``s on a free loopback port) that one test starts, all stopped
/// when the test ends, whether it passes, fails or throws.
///
/// A fixture asks for an agent with ``start(_:)`` from within the test; the scope, set up by
/// the ``TLSAgentsTrait`` (or ``withAgents(_:)``), runs each agent as a child task of a task
/// group beside the test, and cancels and awaits them all once the test returns or throws.
/// So an agent never outlives its test and no task is left without an owner.
struct TLSAgents: Sendable {
    /// The scope of the running test, if it has one.
    @TaskLocal static var current: TLSAgents?

    /// One agent to start: its configuration, and where its port goes once it listens.
    private struct Request: Sendable {
        let configuration: DsyncServerConfiguration
        /// The port once it listens, or the error that kept it from listening.
        let listening: AsyncStream<Result<Int, any Error>>.Continuation
    }

    private let requests: AsyncStream<Request>.Continuation

    /// Runs `body` in a scope that can start agents, then stops every agent it started.
    ///
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws, or the error of an agent that failed while running.
    static func withAgents<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let (requests, continuation) = AsyncStream<Request>.makeStream()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withThrowingDiscardingTaskGroup { agents in
                    for await request in requests {
                        agents.addTask { try await serve(request) }
                    }
                    agents.cancelAll()
                }
            }
            let result: T
            do {
                defer { continuation.finish() }
                result = try await $current.withValue(TLSAgents(requests: continuation)) { try await body() }
            }
            group.cancelAll()
            try await group.waitForAll()
            return result
        }
    }

    /// Starts an agent with `configuration` on 127.0.0.1 and `port` (0: a free one); it
    /// serves until the test ends.
    ///
    /// - Returns: the port it listens on.
    /// - Throws: when the test has no agent scope (add the ``TLSAgentsTrait``), or the agent
    ///   could not listen (its own error, such as the port being taken).
    static func start(_ configuration: DsyncServerConfiguration, port: Int = 0) async throws -> Int {
        guard let agents = current else {
            throw DsyncError(
                .usage, "a sync over TLS needs the .tlsAgents trait on its test or suite (it stops the agents when the test ends)")
        }
        let (ports, listening) = AsyncStream<Result<Int, any Error>>.makeStream()
        var configuration = configuration
        configuration.port = port
        guard case .enqueued = agents.requests.yield(Request(configuration: configuration, listening: listening)) else {
            throw DsyncError(.usage, "the test's agent scope has ended")
        }
        for await port in ports { return try port.get() }
        throw DsyncError(.io, "the test agent on port \(port) stopped before it listened")
    }

    private static func serve(_ request: Request) async throws {
        defer { request.listening.finish() }
        var configuration = request.configuration
        configuration.host = "127.0.0.1"
        let listened = Mutex(false)
        do {
            let server = try DsyncServer(configuration: configuration, logger: quietLogger)
            try await server.run { address in
                listened.withLock { $0 = true }
                if let port = address.port, port > 0 { request.listening.yield(.success(port)) }
                request.listening.finish()
            }
        } catch where Task.isCancelled {
            // Stopped at the end of the test: how the listener closed does not matter.
        } catch where !listened.withLock({ $0 }) {
            // It never listened: the test that asked for it throws this error, with its words.
            request.listening.yield(.failure(error))
        }
    }
}

/// Gives each test (each test case of a parameterized one) its own ``TLSAgents`` scope; on a
/// suite it applies to every test in it.
struct TLSAgentsTrait: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await TLSAgents.withAgents(function)
    }
}

extension Trait where Self == TLSAgentsTrait {
    /// Agents that the test's TLS fixtures start are stopped when the test ends.
    static var tlsAgents: Self { Self() }
}
