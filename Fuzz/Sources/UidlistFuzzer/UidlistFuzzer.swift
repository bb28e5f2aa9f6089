// libFuzzer target: `dovecot-uidlist` parsing.
@_spi(Fuzzing) import MailStore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let problems = MailStoreFuzzChecks.uidlistViolations(Array(UnsafeBufferPointer(start: data, count: size)))
    if !problems.isEmpty { fatalError("UidlistFuzzer: " + problems.joined(separator: "; ")) }
    return 0
}
