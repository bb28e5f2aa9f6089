// libFuzzer target: dsync wire frames (`DsyncFrameDecoder`).
@_spi(Fuzzing) import Dsync

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // The checks live in Dsync (the frame types are not public); the seed corpus goes
    // through the same function in Tests/DsyncTests/Wire/FrameCorpusTests.swift.
    let problems = DsyncFrameDecoderChecks.violations(Array(UnsafeBufferPointer(start: data, count: size)))
    if !problems.isEmpty { fatalError("FrameDecoderFuzzer: " + problems.joined(separator: "; ")) }
    return 0
}
