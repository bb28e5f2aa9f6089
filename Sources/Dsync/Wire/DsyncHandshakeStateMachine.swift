/// The first exchange of a dsync connection, as a state machine that does no I/O.
///
/// The client sends a ``DsyncHello`` as soon as it is connected. The server checks the
/// major version: an unknown major (or a hello naming no user) is answered with an `error`
/// frame and the connection is closed; otherwise the server answers a ``DsyncWelcome``
/// with the lower of the two minors and the capabilities both offered, and both sides
/// reach ``Action/established(_:)`` (the server through
/// ``Action/sendAndEstablish(_:_:)``).
///
/// Each method is an event that happened on the connection and returns what the handler
/// must do. Once the handshake is established or failed, handshake frames are refused and
/// further events return ``Action/none``; the handler then stops feeding this machine.
package struct DsyncHandshakeStateMachine: Sendable {
    /// What the handler must do after an event.
    package enum Action: Sendable, Equatable {
        /// Write this frame.
        case send(DsyncFrame)
        /// Write this frame, then close the connection (a refusal the peer should read).
        case sendAndClose(DsyncFrame)
        /// The handshake is done (client side): start the sync with this agreement.
        case established(DsyncAgreedProtocol)
        /// Write this frame (the welcome), then the handshake is done (server side).
        case sendAndEstablish(DsyncFrame, DsyncAgreedProtocol)
        /// The handshake failed: close the connection and report the error.
        case fail(DsyncWireError)
        /// Nothing to do.
        case none
    }

    private enum State: Sendable {
        /// Client, not yet connected.
        case clientIdle(DsyncHello)
        /// Client, hello sent.
        case clientAwaitingWelcome(DsyncHello)
        /// Server, waiting for the client's hello.
        case serverAwaitingHello(version: DsyncProtocolVersion, capabilities: [String])
        case established(DsyncAgreedProtocol)
        case failed
    }

    private var state: State

    /// Makes the client side.
    ///
    /// - Parameter hello: what the client will send: its version, capabilities, the user and
    ///   the sync kind.
    package init(clientHello hello: DsyncHello) {
        self.state = .clientIdle(hello)
    }

    /// Makes the server side.
    ///
    /// - Parameters:
    ///   - version: the version the server speaks (its major and highest minor).
    ///   - capabilities: the capabilities the server offers.
    package init(serverVersion version: DsyncProtocolVersion = .current, capabilities: [String]) {
        self.state = .serverAwaitingHello(version: version, capabilities: capabilities)
    }

    /// The connection is up (after TLS): the client sends its hello.
    package mutating func connected() -> Action {
        switch state {
        case .clientIdle(let hello):
            state = .clientAwaitingWelcome(hello)
            return .send(.hello(hello))
        case .clientAwaitingWelcome, .serverAwaitingHello, .established, .failed:
            return .none
        }
    }

    /// A frame arrived: dispatches handshake frames to their events and refuses any other
    /// frame before the handshake is established.
    package mutating func frameReceived(_ frame: DsyncFrame) -> Action {
        switch frame {
        case .hello(let hello):
            return helloReceived(hello)
        case .welcome(let welcome):
            return welcomeReceived(welcome)
        case .error(let code, let message):
            return errorReceived(code: code, message: message)
        case .request, .response, .bodyChunk, .bodyEnd, .ping, .pong, .goodbye:
            switch state {
            case .clientIdle, .clientAwaitingWelcome, .serverAwaitingHello:
                return fail(.unexpectedFrame, "a \(frame.kind) frame arrived \(waitingFor)", frame: frame)
            case .established, .failed:
                return .none
            }
        }
    }

    /// The client's hello arrived.
    package mutating func helloReceived(_ hello: DsyncHello) -> Action {
        switch state {
        case .serverAwaitingHello(let version, let capabilities):
            guard hello.version.major == version.major else {
                state = .failed
                let message =
                    "protocol version \(hello.version) is not supported: this peer speaks major version \(version.major) (up to \(version))"
                return .sendAndClose(.error(code: DsyncWireError.Code.unsupportedVersion.rawValue, message: message))
            }
            guard !hello.user.isEmpty else {
                state = .failed
                return .sendAndClose(
                    .error(code: DsyncWireError.Code.malformedPayload.rawValue, message: "the hello names no user")
                )
            }
            let offered = Set(capabilities)
            var agreedCapabilities: [String] = []
            for capability in hello.capabilities where offered.contains(capability) {
                if !agreedCapabilities.contains(capability) {
                    agreedCapabilities.append(capability)
                }
            }
            let agreedVersion = DsyncProtocolVersion(major: version.major, minor: min(version.minor, hello.version.minor))
            let agreed = DsyncAgreedProtocol(
                version: agreedVersion,
                capabilities: agreedCapabilities,
                user: hello.user,
                syncKind: hello.syncKind
            )
            state = .established(agreed)
            return .sendAndEstablish(.welcome(DsyncWelcome(version: agreedVersion, capabilities: agreedCapabilities)), agreed)
        case .clientIdle, .clientAwaitingWelcome, .established:
            return fail(.unexpectedFrame, "a hello frame arrived \(waitingFor)", frame: .hello(hello))
        case .failed:
            return .none
        }
    }

    /// The server's welcome arrived.
    package mutating func welcomeReceived(_ welcome: DsyncWelcome) -> Action {
        switch state {
        case .clientAwaitingWelcome(let hello):
            guard welcome.version.major == hello.version.major, welcome.version.minor <= hello.version.minor else {
                return fail(
                    .unsupportedVersion,
                    "the server agreed to protocol version \(welcome.version), but the client offered \(hello.version)",
                    frame: .welcome(welcome)
                )
            }
            let offered = Set(hello.capabilities)
            if let extra = welcome.capabilities.first(where: { !offered.contains($0) }) {
                return fail(
                    .malformedPayload,
                    "the server agreed to capability \(escaped(extra, limit: 64)), which the client did not offer",
                    frame: .welcome(welcome)
                )
            }
            let agreed = DsyncAgreedProtocol(
                version: welcome.version,
                capabilities: welcome.capabilities,
                user: hello.user,
                syncKind: hello.syncKind
            )
            state = .established(agreed)
            return .established(agreed)
        case .clientIdle, .serverAwaitingHello, .established:
            return fail(.unexpectedFrame, "a welcome frame arrived \(waitingFor)", frame: .welcome(welcome))
        case .failed:
            return .none
        }
    }

    /// The peer sent an `error` frame (it refused the handshake and will close).
    ///
    /// - Parameters:
    ///   - code: the peer's ``DsyncWireError/Code`` raw value (an unknown value is kept as is).
    ///   - message: the peer's explanation; control characters are escaped and it is
    ///     shortened before it goes into the error.
    package mutating func errorReceived(code: UInt16, message: String) -> Action {
        switch state {
        case .clientIdle, .clientAwaitingWelcome, .serverAwaitingHello:
            let name = DsyncWireError.Code(rawValue: code).map { "\($0)" } ?? "code \(code)"
            var error = DsyncWireError(
                .rejectedByPeer,
                "the peer refused the handshake (\(name)): \(escaped(message, limit: 512))",
                typeByte: DsyncFrame.Kind.error.rawValue
            )
            error.peerCode = code
            state = .failed
            return .fail(error)
        case .established, .failed:
            return .none
        }
    }

    /// The peer closed the connection.
    package mutating func peerClosed() -> Action {
        switch state {
        case .clientIdle, .clientAwaitingWelcome, .serverAwaitingHello:
            let waiting = waitingFor
            state = .failed
            return .fail(DsyncWireError(.connectionClosed, "the peer closed the connection \(waiting)"))
        case .established, .failed:
            return .none
        }
    }

    /// Where the handshake stands, for messages: "while waiting for a welcome", ….
    private var waitingFor: String {
        switch state {
        case .clientIdle: "before the client sent its hello"
        case .clientAwaitingWelcome: "while the client was waiting for a welcome"
        case .serverAwaitingHello: "while the server was waiting for a hello"
        case .established: "after the handshake was established"
        case .failed: "after the handshake failed"
        }
    }

    private mutating func fail(_ code: DsyncWireError.Code, _ message: String, frame: DsyncFrame) -> Action {
        state = .failed
        return .fail(DsyncWireError(code, message, typeByte: frame.kind.rawValue))
    }
}

/// `text` quoted, with control characters escaped and cut to `limit` characters, for
/// putting peer-supplied text into an error.
func escaped(_ text: String, limit: Int) -> String {
    var out = "\""
    for (index, scalar) in text.unicodeScalars.enumerated() {
        if index == limit {
            out += "…"
            break
        }
        if scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value) || scalar == "\"" || scalar == "\\" {
            out += scalar.escaped(asASCII: false)
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
