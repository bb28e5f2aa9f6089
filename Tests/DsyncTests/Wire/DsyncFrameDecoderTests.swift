import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import Dsync

extension WireTests {
    /// ``DsyncFrameDecoder``: framing under any split of the input, and refusals with their codes.
    @Suite struct DsyncFrameDecoderTests {
        @Test func verifier_dripFedAndBatched_everyKind() throws {
            // The verifier drip-feeds every input ten times, one byte per write: a full
            // 256 KiB chunk would take a minute, so the samples stop at a few KiB.
            let frames = DsyncFrameSamples.all.filter { frame in
                if case .bodyChunk(_, let bytes) = frame { return bytes.readableBytes <= 4096 }
                return true
            } + [.bodyChunk(streamID: 6, bytes: ByteBuffer(repeating: 0x0A, count: 4096))]
            let pairs = try frames.map { frame in
                (try DsyncFrameSamples.bytes(of: frame), [frame])
            }
            try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { DsyncFrameDecoder() }
        }

        @Test func verifier_severalFramesInOneInput() throws {
            var ping = try DsyncFrameSamples.bytes(of: .ping)
            var chunk = try DsyncFrameSamples.bytes(of: .bodyChunk(streamID: 9, bytes: ByteBuffer(string: "Subject: x\r\n")))
            var both = ByteBuffer()
            both.writeBuffer(&ping)
            both.writeBuffer(&chunk)
            let pairs: [(ByteBuffer, [DsyncFrame])] = [
                (both, [.ping, .bodyChunk(streamID: 9, bytes: ByteBuffer(string: "Subject: x\r\n"))]),
                (try DsyncFrameSamples.bytes(of: .goodbye), [.goodbye]),
            ]
            try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { DsyncFrameDecoder() }
        }

        @Test func verifier_smallMaximumLength() throws {
            let frames: [DsyncFrame] = [.ping, .error(code: 3, message: "no"), .request(id: 2, json: ByteBuffer(string: "{}"))]
            let pairs = try frames.map { (try DsyncFrameSamples.bytes(of: $0, maximumLength: 16), [$0]) }
            try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { DsyncFrameDecoder(maximumLength: 16) }
        }

        @Test func oversizeLength_isRefusedBeforeThePayloadArrives() throws {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(DsyncFrameDecoder(maximumLength: 1024)))
            var buffer = ByteBuffer()
            buffer.writeInteger(UInt32(1025))
            buffer.writeInteger(UInt8(0x20))
            let error = #expect(throws: DsyncWireError.self) { try channel.writeInbound(buffer) }
            #expect(error?.code == .frameTooLarge)
            #expect(error?.length == 1025)
            #expect(error?.limit == 1024)
            #expect(error?.typeByte == 0x20)
            _ = try? channel.finish()
        }

        @Test func defaultMaximum_acceptsOneMiBPlus64AndRefusesOneMore() throws {
            var atLimit = ByteBuffer()
            atLimit.writeInteger(UInt32(DsyncFrame.defaultMaximumLength))
            #expect(try DsyncFrameDecoder().readFrame(from: &atLimit) == nil)

            var above = ByteBuffer()
            above.writeInteger(UInt32(DsyncFrame.defaultMaximumLength + 1))
            let error = #expect(throws: DsyncWireError.self) { try DsyncFrameDecoder().readFrame(from: &above) }
            #expect(error?.code == .frameTooLarge)
            #expect(error?.limit == 1024 * 1024 + 64)
        }

        @Test func unknownType_isRefusedNamingTheTypeByte() throws {
            var buffer = DsyncFrameSamples.raw(type: 0x7E, payload: [1, 2, 3])
            let error = #expect(throws: DsyncWireError.self) { try DsyncFrameDecoder().readFrame(from: &buffer) }
            #expect(error?.code == .unknownFrameType)
            #expect(error?.typeByte == 0x7E)
            #expect(error?.length == 4)
            #expect(error?.message.contains("0x7e") == true)
        }

        @Test func truncatedPayload_isRefusedNamingTheField() throws {
            // A hello whose length covers the version and sync kind, but not the user.
            var buffer = DsyncFrameSamples.raw(type: 0x01, payload: [0, 1, 0, 0, 0, 0])
            let error = #expect(throws: DsyncWireError.self) { try DsyncFrameDecoder().readFrame(from: &buffer) }
            #expect(error?.code == .truncated)
            #expect(error?.typeByte == 0x01)
            #expect(error?.message.contains("user") == true)
        }

        @Test func shortBodyEnd_isTruncated() throws {
            var buffer = DsyncFrameSamples.raw(type: 0x21, payload: Array(repeating: 0, count: 43))
            let error = #expect(throws: DsyncWireError.self) { try DsyncFrameDecoder().readFrame(from: &buffer) }
            #expect(error?.code == .truncated)
            #expect(error?.message.contains("sha256") == true)
        }

        @Test func connectionEndingInsideAFrame_isTruncated() throws {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(DsyncFrameDecoder()))
            let whole = try DsyncFrameSamples.bytes(of: .request(id: 1, json: ByteBuffer(string: "{\"a\":1}")))
            try channel.writeInbound(whole.getSlice(at: whole.readerIndex, length: whole.readableBytes - 2)!)
            #expect(try channel.readInbound(as: DsyncFrame.self) == nil)
            let error = #expect(throws: DsyncWireError.self) { try channel.finish() }
            #expect(error?.code == .truncated)
            #expect(error?.typeByte == 0x10)
        }

        @Test func trailingBytes_areMalformed() throws {
            var buffer = DsyncFrameSamples.raw(type: 0x30, payload: [0])
            let error = #expect(throws: DsyncWireError.self) { try DsyncFrameDecoder().readFrame(from: &buffer) }
            #expect(error?.code == .malformedPayload)
            #expect(error?.typeByte == 0x30)
        }

        @Test func zeroLength_isMalformed() throws {
            var buffer = ByteBuffer(bytes: [0, 0, 0, 0])
            let error = #expect(throws: DsyncWireError.self) { try DsyncFrameDecoder().readFrame(from: &buffer) }
            #expect(error?.code == .malformedPayload)
        }

        @Test func invalidUTF8_isMalformed() throws {
            var buffer = DsyncFrameSamples.raw(type: 0x03, payload: [0, 1, 0, 2, 0xC3, 0x28])
            let error = #expect(throws: DsyncWireError.self) { try DsyncFrameDecoder().readFrame(from: &buffer) }
            #expect(error?.code == .malformedPayload)
        }

        @Test func unknownSyncKind_isMalformed() throws {
            var buffer = DsyncFrameSamples.raw(type: 0x01, payload: [0, 1, 0, 0, 7, 0, 1, 0x61, 0, 0])
            let error = #expect(throws: DsyncWireError.self) { try DsyncFrameDecoder().readFrame(from: &buffer) }
            #expect(error?.code == .malformedPayload)
        }

        @Test func oversizeBodyChunk_isRefused() throws {
            var buffer = DsyncFrameSamples.raw(
                type: 0x20,
                payload: [0, 0, 0, 1] + Array(repeating: 0, count: DsyncFrame.maximumBodyChunkLength + 1)
            )
            let error = #expect(throws: DsyncWireError.self) { try DsyncFrameDecoder().readFrame(from: &buffer) }
            #expect(error?.code == .frameTooLarge)
            #expect(error?.limit == DsyncFrame.maximumBodyChunkLength)
        }

        @Test func partialFrame_leavesTheBufferUntouched() throws {
            let whole = try DsyncFrameSamples.bytes(of: .hello(DsyncFrameSamples.hello))
            var partial = whole.getSlice(at: whole.readerIndex, length: 7)!
            #expect(try DsyncFrameDecoder().readFrame(from: &partial) == nil)
            #expect(partial.readableBytes == 7)
        }
    }
}
