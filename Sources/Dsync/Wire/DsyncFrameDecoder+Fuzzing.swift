import NIOCore

/// Checks for the frame decoder's fuzz target (`Fuzz/Sources/FrameDecoderFuzzer`) and for
/// the seed corpus test; not part of the supported API.
@_spi(Fuzzing)
public enum DsyncFrameDecoderChecks {
    /// The maximum frame length used for fuzzing, in bytes: small, so that the limit is hit.
    public static let maximumLength = 4096

    /// Decodes `bytes` as a stream of frames and returns the violated invariants; empty
    /// when all hold.
    ///
    /// Invariants: decoding stops only at a ``DsyncWireError`` (any other error is a
    /// violation) or for want of bytes; no frame is longer than the maximum; every decoded
    /// frame encodes back to bytes that decode to the same frame, and to exactly its input
    /// bytes unless it is a hello or welcome with ignored trailing bytes; feeding the same
    /// bytes in two pieces gives the same frames.
    public static func violations(_ bytes: [UInt8]) -> [String] {
        var problems: [String] = []
        let decoder = DsyncFrameDecoder(maximumLength: maximumLength)
        let whole = decodeAll(ByteBuffer(bytes: bytes), decoder: decoder, problems: &problems)

        for (frame, input) in whole.frames {
            if input.readableBytes > DsyncFrame.lengthFieldSize + maximumLength {
                problems.append("a \(frame.kind) frame of \(input.readableBytes) bytes passed the maximum")
            }
            var encoded = ByteBuffer()
            do {
                try frame.write(into: &encoded, maximumLength: maximumLength)
            } catch {
                problems.append("a decoded \(frame.kind) frame does not encode: \(error)")
                continue
            }
            let trailingAllowed = frame.kind == .hello || frame.kind == .welcome
            if !trailingAllowed, encoded != input {
                problems.append("a \(frame.kind) frame encodes to other bytes than it was read from")
            }
            do {
                var again = encoded
                let decoded = try decoder.readFrame(from: &again)
                if decoded != frame || again.readableBytes != 0 {
                    problems.append("a \(frame.kind) frame does not survive encode then decode")
                }
            } catch {
                problems.append("a re-encoded \(frame.kind) frame does not decode: \(error)")
            }
        }

        // The same bytes in two writes: the decoder keeps the partial frame and ends alike.
        let cut = bytes.count / 2
        var split = ByteBuffer(bytes: bytes[..<cut])
        var splitFrames: [DsyncFrame] = []
        var splitError: DsyncWireError?
        do {
            while let frame = try decoder.readFrame(from: &split) { splitFrames.append(frame) }
            split.writeBytes(bytes[cut...])
            while let frame = try decoder.readFrame(from: &split) { splitFrames.append(frame) }
        } catch let error as DsyncWireError {
            splitError = error
        } catch {
            problems.append("an error of another type: \(error)")
        }
        if splitFrames != whole.frames.map(\.frame) || splitError?.code != whole.error?.code {
            problems.append("feeding the bytes in two pieces decodes differently")
        }
        return problems
    }

    private static func decodeAll(
        _ buffer: ByteBuffer,
        decoder: DsyncFrameDecoder,
        problems: inout [String]
    ) -> (frames: [(frame: DsyncFrame, input: ByteBuffer)], error: DsyncWireError?) {
        var buffer = buffer
        var frames: [(frame: DsyncFrame, input: ByteBuffer)] = []
        while true {
            // Getters only reach readable bytes: keep the buffer as it was before the read.
            let before = buffer
            do {
                guard let frame = try decoder.readFrame(from: &buffer) else {
                    return (frames, nil)
                }
                let input =
                    before.getSlice(at: before.readerIndex, length: buffer.readerIndex - before.readerIndex) ?? ByteBuffer()
                frames.append((frame, input))
            } catch let error as DsyncWireError {
                if error.message.isEmpty {
                    problems.append("an error without a message: \(error.code)")
                }
                return (frames, error)
            } catch {
                problems.append("an error of another type: \(error)")
                return (frames, nil)
            }
        }
    }
}
