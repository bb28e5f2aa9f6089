import Coordinator
import Testing

@Suite struct CoordinatorNameTests {
    @Test(arguments: ["example", "eu-1", "a", "tenant_2.prod", String(repeating: "x", count: 63)])
    func tenantNames_valid(_ name: String) throws {
        #expect(try CoordinatorName(name, kind: .tenant).value == name)
    }

    @Test(arguments: ["", "-lead", ".dot", "Upper", "sp ace", "slash/", "ü", String(repeating: "x", count: 64)])
    func tenantNames_refused(_ name: String) {
        #expect(throws: CoordinatorNameError.self) { try CoordinatorName(name, kind: .pair) }
    }

    @Test(arguments: ["alice@example.com", "Bob", "jürgen@beispiel.de", "a+tag@x", String(repeating: "u", count: 255)])
    func userNames_valid(_ name: String) throws {
        #expect(try CoordinatorName(name, kind: .user).value == name)
    }

    @Test(arguments: ["", "a b", "tab\there", "new\nline", "../x", "a/b", "back\\slash", "%u", "mask*", "q?", "nbsp\u{A0}x", "zw\u{200B}j", String(repeating: "u", count: 256),
        ".", "..", "bob@", "@example.com", "bob@@example.com", "a@b@c", ".@example.com", "x@..", "..@x"])
    func userNames_refused(_ name: String) {
        #expect(throws: CoordinatorNameError.self) { try CoordinatorName(name, kind: .user) }
    }

    @Test func errorNamesKindNameAndPlace() {
        do {
            _ = try CoordinatorName("ok\u{1}bad", kind: .user)
            Issue.record("accepted a control character")
        } catch {
            #expect(error.description == #"user name "ok\u{01}bad" has a forbidden character at byte 2 (no spaces, control characters, '/', '\', '%', '*' or '?')"#)
        }
    }
}
