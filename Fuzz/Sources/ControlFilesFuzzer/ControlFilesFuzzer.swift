// libFuzzer target: `dovecot-keywords`, `subscriptions`, modified UTF-7 and Maildir++
// storage names; every input goes through each of them.
@_spi(Fuzzing) import MailStore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let problems = MailStoreFuzzChecks.controlFileViolations(Array(UnsafeBufferPointer(start: data, count: size)))
    if !problems.isEmpty { fatalError("ControlFilesFuzzer: " + problems.joined(separator: "; ")) }
    return 0
}
