// libFuzzer target: Maildir message file names.
@_spi(Fuzzing) import MailStore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let problems = MailStoreFuzzChecks.fileNameViolations(Array(UnsafeBufferPointer(start: data, count: size)))
    if !problems.isEmpty { fatalError("MaildirFileNameFuzzer: " + problems.joined(separator: "; ")) }
    return 0
}
