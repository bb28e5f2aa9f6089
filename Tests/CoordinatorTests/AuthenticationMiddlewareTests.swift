import Testing

@testable import Coordinator

/// The `Authorization` header's reading, byte by byte on every request.
@Suite struct AuthenticationMiddlewareTests {
    @Test(arguments: [
        ("Bearer dpx_abc", "dpx_abc"), ("bearer dpx_abc", "dpx_abc"), ("BEARER dpx_abc", "dpx_abc"),
        ("Bearer   dpx_abc \t ", "dpx_abc"), ("Bearer dpx a", "dpx a"),
    ])
    func bearerHeader_givesItsSecret(header: String, secret: String) {
        #expect(AuthenticationMiddleware.bearerSecret(header) == secret)
    }

    @Test(arguments: ["Bearer", "Bearer ", "Bearer  \t", "Basic dXNlcjpwdw==", "Bearerdpx_abc", "Bearer\tdpx_abc", "Beare dpx", "Bearér x", ""])
    func otherHeader_givesNoSecret(header: String) {
        #expect(AuthenticationMiddleware.bearerSecret(header) == nil)
    }
}
