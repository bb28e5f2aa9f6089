/// Why the demo cannot go on: a message naming what and where (a path, a user, a phase).
struct DemoError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
