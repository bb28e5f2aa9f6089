import Foundation
import MailStoreTestSupport

/// The files of `ops/` as the tests read them: found from this source file's place in the
/// checkout, so the tests check what is committed, not an installed copy.
enum OpsKitFiles {
    /// The checkout's root directory.
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        // Tests/DuplexCLITests/Support/OpsKitFiles.swift
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The absolute path of `relative` (e.g. `ops/systemd/duplex-agent.service`).
    static func path(_ relative: String) -> String { root + "/" + relative }

    /// The text of `relative`.
    ///
    /// - Throws: ``DovecotTestError/io(_:)`` naming the file when it cannot be read.
    static func text(_ relative: String) throws -> String {
        do {
            return try String(contentsOfFile: path(relative), encoding: .utf8)
        } catch {
            throw DovecotTestError.io("cannot read \(path(relative)): \(error)")
        }
    }
}

/// One `Key=Value` line of a systemd unit file.
struct UnitSetting: Equatable {
    var section: String
    var key: String
    var value: String
    var line: Int
}

/// The settings of a unit file in order (systemd.syntax(7): `[Section]` headers, `#` and `;`
/// comments, a trailing backslash continuing a line). Repeated keys stay separate lines.
struct UnitFile {
    let settings: [UnitSetting]

    init(_ text: String) {
        var settings: [UnitSetting] = []
        var section = ""
        var pending: (text: String, line: Int)?
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if pending == nil, line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if let started = pending { line = started.text + " " + line }
            if line.hasSuffix("\\") {
                pending = (String(line.dropLast()).trimmingCharacters(in: .whitespaces), pending?.line ?? index + 1)
                continue
            }
            let number = pending?.line ?? index + 1
            pending = nil
            if line.hasPrefix("["), line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast())
            } else if let equals = line.firstIndex(of: "=") {
                settings.append(UnitSetting(
                    section: section, key: line[..<equals].trimmingCharacters(in: .whitespaces),
                    value: line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces), line: number))
            }
        }
        self.settings = settings
    }

    /// Every value of `key` in `section`, in file order.
    func values(_ key: String, in section: String = "Service") -> [String] {
        settings.filter { $0.section == section && $0.key == key }.map(\.value)
    }

    /// The last value of `key` in `section` (the one systemd uses for a single-valued key).
    func value(_ key: String, in section: String = "Service") -> String? {
        values(key, in: section).last
    }
}
