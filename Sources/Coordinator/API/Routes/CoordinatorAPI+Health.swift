import Hummingbird
import NIOCore

extension CoordinatorAPI {
    /// `GET /healthz` (no token): `200 ok` when the database answers one query, `503` otherwise.
    func addHealthRoute(to router: Router<CoordinatorRequestContext>) {
        let store = store
        router.get("/healthz") { _, context in
            do {
                // A well-formed secret that was never issued: one indexed lookup by digest,
                // the cheapest round trip the store offers.
                _ = try await store.verifyToken(secret: TokenSecret.prefix + "healthz")
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
            } catch {
                context.logger.warning("health check: the database does not answer: \(error)")
                return Response(
                    status: .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: "unavailable\n")))
            }
        }
    }
}
