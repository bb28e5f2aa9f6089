import Foundation
import Testing

@_spi(Fuzzing) @testable import Dsync

extension WireTests {
    /// The frame decoder's fuzz seeds (`Fuzz/Corpus/frames/`) through the fuzz target's
    /// checks, on every test run and without libFuzzer.
    @Suite struct FrameCorpusTests {
        static let corpus = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // Wire
            .deletingLastPathComponent()  // DsyncTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()
            .appendingPathComponent("Fuzz/Corpus/frames")

        static var seeds: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: corpus.path)) ?? []).sorted()
        }

        @Test func corpus_isThereAndNotNearlyEmpty() {
            #expect(Self.seeds.count >= 10, "Fuzz/Corpus/frames has \(Self.seeds.count) seeds")
        }

        @Test(arguments: seeds)
        func seed_holdsTheDecodersInvariants(name: String) throws {
            let bytes = try [UInt8](Data(contentsOf: Self.corpus.appendingPathComponent(name)))
            #expect(DsyncFrameDecoderChecks.violations(bytes) == [])
        }

        @Test(arguments: seeds.filter { $0.hasPrefix("bad-") })
        func badSeed_isRefused(name: String) throws {
            let bytes = try [UInt8](Data(contentsOf: Self.corpus.appendingPathComponent(name)))
            var buffer = ByteBufferBox(bytes)
            let decoder = DsyncFrameDecoder(maximumLength: DsyncFrameDecoderChecks.maximumLength)
            var refused = false
            do {
                while try decoder.readFrame(from: &buffer.buffer) != nil {}
                // A stream cut inside a frame is refused when the connection ends.
                refused = buffer.buffer.readableBytes > 0
            } catch is DsyncWireError {
                refused = true
            }
            #expect(refused, "\(name) was accepted")
        }
    }
}

import NIOCore

/// A buffer read from a seed's bytes.
private struct ByteBufferBox {
    var buffer: ByteBuffer
    init(_ bytes: [UInt8]) { buffer = ByteBuffer(bytes: bytes) }
}
