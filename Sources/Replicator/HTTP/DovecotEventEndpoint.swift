import Hummingbird
import Logging
import NIOCore

/// `POST /v1/events/dovecot`: turns the events of Dovecot's `event_exporter` into
/// notifications of the replicator, as ``EventMapping`` says.
///
/// A body is one JSON event object (what Dovecot sends), a JSON array of them, or one
/// object per line; see ``DovecotEventBody``. Every event of a body is read and decided
/// before anything is queued, so a body that is refused (400, a ``DovecotEventError`` as
/// `{"error":{"code":…,"message":…,"event":…,"line":…,"field":…}}`) queues nothing. An
/// accepted body is answered `200 {"events":N,"queued":Q,"ignored":I}`.
struct DovecotEventEndpoint: Sendable {
    let replicator: Replicator
    let mapping: EventMapping
    let metrics: ReplicatorMetrics
    /// The longest body read, in bytes; a longer one is refused (`bodyTooLarge`).
    let maximumBodySize: Int
    let logger: Logger

    /// The answer to one POST.
    func response(to request: Request) async -> Response {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maximumBodySize)
        } catch is NIOTooManyBytesError {
            return refused(DovecotEventError(.bodyTooLarge, "the body is longer than \(maximumBodySize) bytes"))
        } catch {
            // The client went away while sending: nobody is left to answer.
            logger.debug("event body not received: \(error)")
            return Response(status: .badRequest)
        }
        let decisions: [EventMapping.Decision]
        do throws(DovecotEventError) {
            decisions = try self.decisions(for: Array(body.readableBytesView))
        } catch {
            return refused(error)
        }
        var queued = 0
        for case .queue(let user, let priority) in decisions {
            await replicator.notify(user, priority: priority)
            queued += 1
        }
        metrics.eventsAccepted(decisions)
        return ReplicatorHTTPService.json(Accepted(events: decisions.count, queued: queued, ignored: decisions.count - queued))
    }

    /// What each event of `body` asks for, in order; all or nothing.
    ///
    /// - Throws: ``DovecotEventError`` for the first problem found.
    func decisions(for body: [UInt8]) throws(DovecotEventError) -> [EventMapping.Decision] {
        let events = try DovecotEventBody.events(in: body)
        var decisions: [EventMapping.Decision] = []
        decisions.reserveCapacity(events.count)
        for (index, event) in events.enumerated() {
            decisions.append(try mapping.decision(for: event, position: index + 1, sharedNamespace: replicator.settings.sharedNamespace))
        }
        return decisions
    }

    private func refused(_ error: DovecotEventError) -> Response {
        metrics.eventBodyRejected(error.code)
        logger.debug("event body refused: \(error)", metadata: ["code": "\(error.code.rawValue)"])
        return ReplicatorHTTPService.json(Refusal(error: .init(error)), status: .badRequest)
    }

    /// The answer to an accepted body.
    struct Accepted: Codable, Equatable {
        var events: Int
        var queued: Int
        var ignored: Int
    }

    /// The answer to a refused body.
    struct Refusal: Codable, Equatable {
        struct Problem: Codable, Equatable {
            var code: String
            var message: String
            var event: Int?
            var line: Int?
            var field: String?

            init(_ error: DovecotEventError) {
                code = error.code.rawValue
                message = error.description
                event = error.event
                line = error.line
                field = error.field
            }
        }

        var error: Problem
    }
}
