import NIOCore
import Testing

@testable import Dsync

extension WireTests {
    /// ``DsyncHandshakeStateMachine``, one event and one expected action at a time.
    @Suite struct DsyncHandshakeStateMachineTests {
        typealias Machine = DsyncHandshakeStateMachine

        let clientHello = DsyncHello(
            version: DsyncProtocolVersion(major: 1, minor: 2),
            capabilities: ["pipelining", "compression", "sha256"],
            user: "alice@example.com",
            syncKind: .incremental
        )

        func makeServer(minor: UInt16 = 1) -> Machine {
            Machine(serverVersion: DsyncProtocolVersion(major: 1, minor: minor), capabilities: ["sha256", "pipelining", "other"])
        }

        var agreed: DsyncAgreedProtocol {
            DsyncAgreedProtocol(
                version: DsyncProtocolVersion(major: 1, minor: 1),
                capabilities: ["pipelining", "sha256"],
                user: "alice@example.com",
                syncKind: .incremental
            )
        }

        @Test func client_happyPath_sendsHelloThenEstablishesOnWelcome() {
            var client = Machine(clientHello: clientHello)
            #expect(client.connected() == .send(.hello(clientHello)))
            let welcome = DsyncWelcome(version: DsyncProtocolVersion(major: 1, minor: 1), capabilities: ["pipelining", "sha256"])
            #expect(client.welcomeReceived(welcome) == .established(agreed))
            #expect(client.peerClosed() == .none)
        }

        @Test func server_happyPath_answersWelcomeWithLowerMinorAndCommonCapabilities() {
            var server = makeServer()
            #expect(server.connected() == .none)
            let welcome = DsyncWelcome(version: DsyncProtocolVersion(major: 1, minor: 1), capabilities: ["pipelining", "sha256"])
            #expect(server.helloReceived(clientHello) == .sendAndEstablish(.welcome(welcome), agreed))
        }

        @Test func server_newerThanClient_agreesOnTheClientsMinor() {
            var server = makeServer(minor: 9)
            guard case .sendAndEstablish(_, let agreement) = server.helloReceived(clientHello) else {
                Issue.record("expected a welcome")
                return
            }
            #expect(agreement.version == DsyncProtocolVersion(major: 1, minor: 2))
        }

        @Test func clientAndServer_talkingToEachOther_agreeOnTheSame() {
            var client = Machine(clientHello: clientHello)
            var server = makeServer()
            guard case .send(let hello) = client.connected(),
                case .sendAndEstablish(let welcome, let serverAgreement) = server.frameReceived(hello)
            else {
                Issue.record("the handshake did not run")
                return
            }
            #expect(client.frameReceived(welcome) == .established(serverAgreement))
        }

        @Test func server_unknownMajor_sendsAnErrorFrameAndCloses() {
            var server = makeServer()
            var hello = clientHello
            hello.version = DsyncProtocolVersion(major: 2, minor: 0)
            let action = server.helloReceived(hello)
            guard case .sendAndClose(.error(let code, let message)) = action else {
                Issue.record("expected an error frame and close, got \(action)")
                return
            }
            #expect(code == DsyncWireError.Code.unsupportedVersion.rawValue)
            #expect(message.contains("2.0"))
            #expect(message.contains("major version 1"))
            // Nothing more happens on that connection.
            #expect(server.helloReceived(clientHello) == .none)
            #expect(server.peerClosed() == .none)
        }

        @Test func server_helloWithoutUser_isRefusedWithAnErrorFrame() {
            var server = makeServer()
            var hello = clientHello
            hello.user = ""
            #expect(
                server.helloReceived(hello)
                    == .sendAndClose(.error(code: DsyncWireError.Code.malformedPayload.rawValue, message: "the hello names no user"))
            )
        }

        @Test func client_errorFrameFromServer_failsWithThePeersMessage() {
            var client = Machine(clientHello: clientHello)
            _ = client.connected()
            let action = client.frameReceived(.error(code: 6, message: "protocol version 1.2 is not supported\u{1B}[2J"))
            guard case .fail(let error) = action else {
                Issue.record("expected a failure, got \(action)")
                return
            }
            #expect(error.code == .rejectedByPeer)
            #expect(error.peerCode == 6)
            #expect(error.message.contains("unsupportedVersion"))
            #expect(error.message.contains("protocol version 1.2 is not supported"))
            #expect(!error.message.contains("\u{1B}"))
            #expect(client.peerClosed() == .none)
        }

        @Test func client_welcomeWithAnotherMajor_fails() {
            var client = Machine(clientHello: clientHello)
            _ = client.connected()
            let action = client.welcomeReceived(DsyncWelcome(version: DsyncProtocolVersion(major: 3, minor: 0), capabilities: []))
            guard case .fail(let error) = action else {
                Issue.record("expected a failure, got \(action)")
                return
            }
            #expect(error.code == .unsupportedVersion)
        }

        @Test func client_welcomeWithACapabilityNotOffered_fails() {
            var client = Machine(clientHello: clientHello)
            _ = client.connected()
            let action = client.welcomeReceived(DsyncWelcome(version: DsyncProtocolVersion(major: 1, minor: 0), capabilities: ["telepathy"]))
            guard case .fail(let error) = action else {
                Issue.record("expected a failure, got \(action)")
                return
            }
            #expect(error.message.contains("telepathy"))
        }

        @Test func client_welcomeBeforeHello_isUnexpected() {
            var client = Machine(clientHello: clientHello)
            let action = client.welcomeReceived(DsyncWelcome(version: .current, capabilities: []))
            guard case .fail(let error) = action else {
                Issue.record("expected a failure, got \(action)")
                return
            }
            #expect(error.code == .unexpectedFrame)
            #expect(error.typeByte == DsyncFrame.Kind.welcome.rawValue)
            #expect(error.message.contains("before the client sent its hello"))
        }

        @Test func client_receivingAHello_isUnexpected() {
            var client = Machine(clientHello: clientHello)
            _ = client.connected()
            let action = client.frameReceived(.hello(clientHello))
            guard case .fail(let error) = action else {
                Issue.record("expected a failure, got \(action)")
                return
            }
            #expect(error.code == .unexpectedFrame)
            #expect(error.message.contains("hello"))
        }

        @Test func server_receivingAWelcome_isUnexpected() {
            var server = makeServer()
            let action = server.frameReceived(.welcome(DsyncWelcome(version: .current, capabilities: [])))
            guard case .fail(let error) = action else {
                Issue.record("expected a failure, got \(action)")
                return
            }
            #expect(error.code == .unexpectedFrame)
            #expect(error.message.contains("waiting for a hello"))
        }

        @Test(arguments: [DsyncFrame.ping, .goodbye, .request(id: 1, json: ByteBuffer(string: "{}")), .bodyChunk(streamID: 1, bytes: ByteBuffer())])
        func server_anyOtherFrameBeforeHello_isUnexpected(frame: DsyncFrame) {
            var server = makeServer()
            let action = server.frameReceived(frame)
            guard case .fail(let error) = action else {
                Issue.record("expected a failure, got \(action)")
                return
            }
            #expect(error.code == .unexpectedFrame)
            #expect(error.typeByte == frame.kind.rawValue)
        }

        @Test func server_secondHello_isUnexpected() {
            var server = makeServer()
            _ = server.helloReceived(clientHello)
            guard case .fail(let error) = server.helloReceived(clientHello) else {
                Issue.record("expected a failure")
                return
            }
            #expect(error.code == .unexpectedFrame)
            #expect(error.message.contains("after the handshake was established"))
        }

        @Test func established_otherFramesAreLeftToTheSync() {
            var server = makeServer()
            _ = server.helloReceived(clientHello)
            #expect(server.frameReceived(.ping) == .none)
        }

        @Test func client_peerClosingWhileWaitingForWelcome_fails() {
            var client = Machine(clientHello: clientHello)
            _ = client.connected()
            #expect(
                client.peerClosed()
                    == .fail(DsyncWireError(.connectionClosed, "the peer closed the connection while the client was waiting for a welcome"))
            )
            #expect(client.welcomeReceived(DsyncWelcome(version: .current, capabilities: [])) == .none)
        }

        @Test func server_peerClosingBeforeHello_fails() {
            var server = makeServer()
            guard case .fail(let error) = server.peerClosed() else {
                Issue.record("expected a failure")
                return
            }
            #expect(error.code == .connectionClosed)
            #expect(server.helloReceived(clientHello) == .none)
        }
    }
}
