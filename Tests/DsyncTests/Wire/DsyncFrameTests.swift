import NIOCore
import NIOEmbedded
import Testing

@testable import Dsync

extension WireTests {
    /// ``DsyncFrame``: the wire layout of each kind and the encoder's limits.
    @Suite struct DsyncFrameTests {
        @Test(arguments: DsyncFrameSamples.all)
        func everyKind_roundTripsThroughEncoderAndDecoder(frame: DsyncFrame) throws {
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(DsyncFrameEncoder()))
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(DsyncFrameDecoder()))

            try channel.writeOutbound(frame)
            let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
            try channel.writeInbound(written)

            #expect(try channel.readInbound(as: DsyncFrame.self) == frame)
            #expect(try channel.readInbound(as: DsyncFrame.self) == nil)
            #expect(try channel.finish().isClean)
        }

        @Test func ping_isALengthOfOneAndItsTypeByte() throws {
            let bytes = try DsyncFrameSamples.bytes(of: .ping)
            #expect(Array(bytes.readableBytesView) == [0, 0, 0, 1, 0x30])
        }

        @Test func bodyEnd_isFortyFiveBytesAfterTheLength() throws {
            let frame = DsyncFrame.bodyEnd(streamID: 0x0102_0304, size: 5, sha256: Array(repeating: 0xEE, count: 32))
            let bytes = Array(try DsyncFrameSamples.bytes(of: frame).readableBytesView)
            #expect(bytes.prefix(9) == [0, 0, 0, 45, 0x21, 1, 2, 3, 4])
            #expect(bytes[9..<17] == [0, 0, 0, 0, 0, 0, 0, 5])
            #expect(bytes.count == 4 + 45)
        }

        @Test func hello_layoutIsVersionKindUserCapabilities() throws {
            let hello = DsyncHello(
                version: DsyncProtocolVersion(major: 1, minor: 2),
                capabilities: ["ab"],
                user: "u",
                syncKind: .full
            )
            let bytes = Array(try DsyncFrameSamples.bytes(of: .hello(hello)).readableBytesView)
            #expect(bytes == [0, 0, 0, 15, 0x01, 0, 1, 0, 2, 1, 0, 1, 0x75, 0, 1, 0, 2, 0x61, 0x62])
        }

        @Test func hello_trailingBytesFromALaterMinorAreIgnored() throws {
            var payload = Array(try DsyncFrameSamples.bytes(of: .hello(DsyncFrameSamples.hello)).readableBytesView.dropFirst(5))
            payload += [9, 9, 9]
            var buffer = DsyncFrameSamples.raw(type: 0x01, payload: payload)
            #expect(try DsyncFrameDecoder().readFrame(from: &buffer) == .hello(DsyncFrameSamples.hello))
            #expect(buffer.readableBytes == 0)
        }

        @Test func encoder_refusesABodyChunkAbove256KiB() throws {
            let frame = DsyncFrame.bodyChunk(
                streamID: 1,
                bytes: ByteBuffer(repeating: 0, count: DsyncFrame.maximumBodyChunkLength + 1)
            )
            var out = ByteBuffer()
            let error = #expect(throws: DsyncWireError.self) {
                try frame.write(into: &out, maximumLength: DsyncFrame.defaultMaximumLength)
            }
            #expect(error?.code == .frameTooLarge)
            #expect(error?.limit == DsyncFrame.maximumBodyChunkLength)
            #expect(out.readableBytes == 0)
        }

        @Test func encoder_refusesAFrameAboveTheMaximumAndWritesNothing() throws {
            let frame = DsyncFrame.request(id: 1, json: ByteBuffer(repeating: 0x20, count: 100))
            var out = ByteBuffer(string: "kept")
            let error = #expect(throws: DsyncWireError.self) {
                try frame.write(into: &out, maximumLength: 50)
            }
            #expect(error?.code == .frameTooLarge)
            #expect(error?.length == 105)
            #expect(error?.typeByte == 0x10)
            #expect(out == ByteBuffer(string: "kept"))
        }

        @Test func encoder_refusesADigestThatIsNot32Bytes() {
            var out = ByteBuffer()
            let error = #expect(throws: DsyncWireError.self) {
                try DsyncFrame.bodyEnd(streamID: 1, size: 1, sha256: [1, 2, 3]).write(into: &out, maximumLength: 1000)
            }
            #expect(error?.code == .unencodable)
            #expect(out.readableBytes == 0)
        }

        @Test func encoder_refusesAStringAbove65535Bytes() {
            var out = ByteBuffer()
            let error = #expect(throws: DsyncWireError.self) {
                try DsyncFrame.error(code: 1, message: String(repeating: "x", count: 65_536))
                    .write(into: &out, maximumLength: DsyncFrame.defaultMaximumLength)
            }
            #expect(error?.code == .unencodable)
        }

        @Test func typeBytes_areDistinct() {
            #expect(Set(DsyncFrame.Kind.allCases.map(\.rawValue)).count == DsyncFrame.Kind.allCases.count)
        }
    }
}
