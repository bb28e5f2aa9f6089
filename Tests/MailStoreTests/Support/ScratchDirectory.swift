#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A private directory under /tmp for one test, removed when `with` returns or throws.
///
/// Kept in this test target (rather than using the Dovecot harness's helper) so that the
/// unit tests depend only on MailStore and the C library.
struct ScratchDirectory {
    let path: String

    static func with<T>(_ body: (ScratchDirectory) throws -> T) throws -> T {
        var template = Array("/tmp/duplex-unit.XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let result = mkdtemp(buffer.baseAddress!) else { return nil }
            return String(cString: result)
        }
        guard let created else { throw ScratchError("mkdtemp failed: errno \(errno)") }
        let directory = ScratchDirectory(path: created)
        defer { try? directory.removeAll() }
        return try body(directory)
    }

    func path(_ relative: String) -> String { path + "/" + relative }

    /// Creates `relative` (and missing parents) with `bytes`.
    func write(_ relative: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws {
        let full = path(relative)
        if let slash = relative.lastIndex(of: "/") { try makeDirectories(String(relative[..<slash])) }
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw ScratchError("create \(full): errno \(errno)") }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            guard n > 0 else { throw ScratchError("write \(full): errno \(errno)") }
            offset += n
        }
    }

    func write(_ relative: String, _ text: String, mode: mode_t = 0o600) throws {
        try write(relative, Array(text.utf8), mode: mode)
    }

    func read(_ relative: String) throws -> [UInt8] { try readFile(path(relative)) }

    func readText(_ relative: String) throws -> String { String(decoding: try read(relative), as: UTF8.self) }

    func exists(_ relative: String) -> Bool { access(path(relative), F_OK) == 0 }

    /// `mkdir -p` below the scratch directory.
    func makeDirectories(_ relative: String) throws {
        var current = path
        for part in relative.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o700) != 0 && errno != EEXIST { throw ScratchError("mkdir \(current): errno \(errno)") }
        }
    }

    /// Names in a directory, sorted, without "." and "..".
    func entries(_ relative: String) throws -> [String] {
        let full = relative.isEmpty ? path : path(relative)
        guard let dir = opendir(full) else { throw ScratchError("opendir \(full): errno \(errno)") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Sets the access and modification time of `relative` to `seconds` (Unix time).
    func setModificationTime(_ relative: String, seconds: Int) throws {
        var times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
        guard utimensat(AT_FDCWD, path(relative), &times, 0) == 0 else {
            throw ScratchError("utimensat \(relative): errno \(errno)")
        }
    }

    /// The modification time of `relative`, to the nanosecond.
    func modificationTimespec(_ relative: String) throws -> timespec {
        var st = stat()
        guard stat(path(relative), &st) == 0 else { throw ScratchError("stat \(relative): errno \(errno)") }
        return st.st_mtim
    }

    /// Sets the access and modification time of `relative` to `time`, to the nanosecond.
    func setModificationTime(_ relative: String, _ time: timespec) throws {
        var times = [time, time]
        guard utimensat(AT_FDCWD, path(relative), &times, 0) == 0 else { throw ScratchError("utimensat \(relative): errno \(errno)") }
    }

    func modificationTime(_ relative: String) throws -> Int {
        var st = stat()
        guard stat(path(relative), &st) == 0 else { throw ScratchError("stat \(relative): errno \(errno)") }
        return Int(st.st_mtim.tv_sec)
    }

    func removeAll() throws { try remove("") }

    /// Removes a file or a directory tree below the scratch directory ("" for all of it).
    func remove(_ relative: String) throws {
        let full = relative.isEmpty ? path : path(relative)
        var st = stat()
        guard lstat(full, &st) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            _ = chmod(full, 0o700)
            for name in try entries(relative) { try remove(relative.isEmpty ? name : relative + "/" + name) }
            guard rmdir(full) == 0 else { throw ScratchError("rmdir \(full): errno \(errno)") }
        } else {
            guard unlink(full) == 0 else { throw ScratchError("unlink \(full): errno \(errno)") }
        }
    }
}

struct ScratchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Reads a whole file with plain POSIX calls (independent of the code under test).
func readFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ScratchError("open \(path): errno \(errno)") }
    defer { close(fd) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n >= 0 else { throw ScratchError("read \(path): errno \(errno)") }
        if n == 0 { return result }
        result.append(contentsOf: chunk[0..<n])
    }
}
