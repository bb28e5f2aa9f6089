import Foundation

/// This process's memory as the kernel counts it (Linux `/proc/self/status`).
public enum ProcessMemory {
    /// Resident memory now, bytes (`VmRSS`); 0 where unknown.
    public static var resident: Int { field("VmRSS:") }

    /// The highest resident memory so far, bytes (`VmHWM`); 0 where unknown.
    public static var peakResident: Int { field("VmHWM:") }

    private static func field(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(name) {
            let kilobytes = line.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) } ?? 0
            return kilobytes * 1024
        }
        return 0
    }
}

/// Seconds taken by `body`.
public func measureSeconds<T>(_ body: () throws -> T) rethrows -> (result: T, seconds: Double) {
    let clock = ContinuousClock()
    let started = clock.now
    let result = try body()
    let elapsed = started.duration(to: clock.now)
    return (result, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}
