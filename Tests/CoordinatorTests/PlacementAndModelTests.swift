import Coordinator
import Testing

@Suite struct ModelTests {
    @Test(arguments: [
        ("tls://mx1.example.net:7445", "tls://mx1.example.net:7445"),
        ("TLS://MX1.Example.NET:7445", "tls://mx1.example.net:7445"),
        ("tls://[::1]:7445", "tls://[::1]:7445"),
        ("tls://127.0.0.1:1", "tls://127.0.0.1:1"),
    ])
    func endpoints_parseToCanonicalText(_ text: String, _ canonical: String) throws {
        #expect(try ServiceEndpoint(text, allowed: [.tls]).description == canonical)
    }

    @Test(arguments: [
        "mx1:7445", "http://mx1:7445", "tls://mx1", "tls://:7445", "tls://mx1:0", "tls://mx1:65536", "tls://mx1:x",
        "tls://mx 1:7445", "tls://[::1:7445", "tls://mx1/path:7445",
    ])
    func endpoints_malformed_refusedWithTheText(_ text: String) {
        #expect {
            try ServiceEndpoint(text, allowed: [.tls])
        } throws: { error in
            (error as? ServiceEndpointError)?.description.contains(text.debugDescription) == true
        }
    }

    @Test func preferredHost_isStableAndSpreadsOverBothSides() throws {
        let names = (0..<1000).map { name("user\($0)@example.com", .user) }
        let sides = names.map(HostSide.preferred(for:))
        #expect(sides == names.map(HostSide.preferred(for:)))
        let onA = sides.filter { $0 == .a }.count
        #expect((400...600).contains(onA))
        // Fixed by the FNV-1a definition: must never change between releases.
        #expect(HostSide.preferred(for: name("alice@example.com", .user)) == HostSide.preferred(for: name("alice@example.com", .user)))
    }

    @Test func movePhases_goForwardOnly() {
        #expect(MovePhase.created.canAdvance(to: .copying))
        #expect(MovePhase.copying.canAdvance(to: .copying))
        #expect(!MovePhase.finalSync.canAdvance(to: .copying))
        #expect(!MovePhase.finished.canAdvance(to: .finalSync))
        #expect(!MovePhase.copying.canAdvance(to: .finished))
    }

    @Test func tokenDigest_isSHA256Hex() {
        #expect(TokenSecret.digest(of: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let secret = TokenSecret.make()
        #expect(secret.hasPrefix("dpx_") && secret.count == 47 && secret != TokenSecret.make())
    }

    @Test func storeError_namesOperationAndSubject_withoutSQL() {
        let error = CoordinatorStoreError(
            .capacityExhausted, operation: "assign", context: .init(tenant: "example", user: "a@b"),
            message: "no active pair allowed for the tenant has room")
        #expect(error.description == #"assign (tenant "example", user "a@b"): capacityExhausted: no active pair allowed for the tenant has room"#)
    }
}
