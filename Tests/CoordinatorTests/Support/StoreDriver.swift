import Coordinator
import Testing
import Foundation

/// The two stores every conformance test runs against.
enum StoreDriver: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case postgres
    case sqlite

    var testDescription: String { rawValue }

    /// Runs `body` with a new, migrated, empty store of this driver, closed afterwards.
    ///
    /// - Parameter connections: PostgreSQL's pool size (SQLite has one connection).
    func withStore<Result: Sendable>(
        connections: Int = 8, _ body: @Sendable (any CoordinatorStore) async throws -> Result
    ) async throws -> Result {
        switch self {
        case .sqlite:
            let store = try await SQLiteCoordinatorStore(path: nil)
            do {
                try await store.migrate()
                let result = try await body(store)
                await store.close()
                return result
            } catch {
                await store.close()
                throw error
            }
        case .postgres:
            let configuration = try await PostgresTestServer.shared.makeDatabase(maximumConnections: connections)
            let store = PostgresCoordinatorStore(configuration: configuration)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                defer { group.cancelAll() }
                try await store.migrate()
                return try await body(store)
            }
        }
    }
}

/// A validated name for fixtures (the literals are valid).
func name(_ value: String, _ kind: CoordinatorName.Kind) -> CoordinatorName {
    do { return try CoordinatorName(value, kind: kind) } catch { fatalError("fixture name \(value): \(error)") }
}

/// A pair specification with hosts `<pair>-a` and `<pair>-b` on loopback ports.
func pairSpecification(_ pair: String, capacity: Int, weight: Int = 1, state: PairState = .active) throws
    -> PairSpecification
{
    func host(_ side: String, port: Int) throws -> PairHost {
        PairHost(
            name: name("\(pair)-\(side)", .host),
            dsyncEndpoint: try ServiceEndpoint("tls://\(pair)-\(side).example.net:\(port)", allowed: [.tls]),
            adminEndpoint: try ServiceEndpoint("https://\(pair)-\(side).example.net:7446", allowed: [.http, .https]))
    }
    return PairSpecification(
        name: name(pair, .pair), hostA: try host("a", port: 7445), hostB: try host("b", port: 7445), capacity: capacity,
        weight: weight, state: state)
}

/// Expects `body` to throw a ``CoordinatorStoreError`` with `code`, and returns it.
@discardableResult
func expectStoreError<T>(
    _ code: CoordinatorStoreError.Code, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> T
) async -> CoordinatorStoreError? {
    do {
        _ = try await body()
        Issue.record("expected \(code), but it succeeded", sourceLocation: sourceLocation)
    } catch let error as CoordinatorStoreError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
