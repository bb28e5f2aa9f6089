/// Why a step of a move cannot be made now; the leader records it on the move and tries again.
public struct MoveError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The move concerned.
    public var move: MoveID
    /// What is wrong, naming the pair or host.
    public var message: String

    public init(move: MoveID, _ message: String) {
        self.move = move
        self.message = message
    }

    public var description: String { "move \(move.rawValue): \(message)" }
}
