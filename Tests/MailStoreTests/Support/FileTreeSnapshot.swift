#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Every path under a directory with its type, permission bits and (for files) content,
/// so a test can prove that an operation changed nothing on disk.
///
/// Modification times are not recorded: reading a mailbox may take and release a lock,
/// which touches the directory's mtime without changing what it holds. Nor is the scan
/// cache (`duplex-scan.cache`): any listing of a mailbox may write it, and it only ever
/// repeats what `new/`, `cur/` and the uidlist hold (see `ScanCache`).
struct FileTreeSnapshot: Equatable {
    enum Entry: Equatable {
        case directory(mode: UInt32)
        case file(mode: UInt32, content: [UInt8])
        /// A file this process may not read (a test made it unreadable): mode and size only.
        case unreadableFile(mode: UInt32, size: Int64)
        case symlink(target: String)
        case other(mode: UInt32)
    }

    /// Entries by path relative to the root ("" is the root itself).
    private(set) var entries: [String: Entry] = [:]

    init(of root: String) throws {
        try record(root, relative: "")
    }

    private mutating func record(_ full: String, relative: String) throws {
        var st = stat()
        guard lstat(full, &st) == 0 else { throw ScratchError("lstat \(full): errno \(errno)") }
        let mode = UInt32(st.st_mode)
        let permissions = mode & 0o7777
        switch mode & UInt32(S_IFMT) {
        case UInt32(S_IFDIR):
            entries[relative] = .directory(mode: permissions)
            guard let dir = opendir(full) else { throw ScratchError("opendir \(full): errno \(errno)") }
            var names: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafePointer(to: &entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if name != "." && name != ".." && name != "duplex-scan.cache" { names.append(name) }
            }
            closedir(dir)
            for name in names {
                try record(full + "/" + name, relative: relative.isEmpty ? name : relative + "/" + name)
            }
        case UInt32(S_IFREG):
            if access(full, R_OK) != 0 && errno == EACCES {
                entries[relative] = .unreadableFile(mode: permissions, size: Int64(st.st_size))
            } else {
                entries[relative] = .file(mode: permissions, content: try readFile(full))
            }
        case UInt32(S_IFLNK):
            var buffer = [CChar](repeating: 0, count: 4096)
            let n = readlink(full, &buffer, buffer.count - 1)
            entries[relative] = .symlink(target: n < 0 ? "?" : String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        default:
            entries[relative] = .other(mode: mode)
        }
    }

    /// Human-readable differences from `earlier`: added, removed and changed paths.
    func differences(from earlier: FileTreeSnapshot) -> [String] {
        var result: [String] = []
        for path in Set(entries.keys).union(earlier.entries.keys).sorted() {
            switch (earlier.entries[path], entries[path]) {
            case (nil, .some): result.append("added \(path)")
            case (.some, nil): result.append("removed \(path)")
            case (let before?, let after?) where before != after: result.append("changed \(path)")
            default: break
            }
        }
        return result
    }
}
