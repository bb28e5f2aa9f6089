import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Local account look-ups and the `vmail` account the test Dovecot runs mail
/// processes as.
public enum SystemAccounts {
    public static let vmailName = "vmail"

    public static var isRoot: Bool { geteuid() == 0 }

    /// uid and primary gid of a local user, or nil if it does not exist.
    public static func user(named name: String) -> (uid: uid_t, gid: gid_t)? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        let rc = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        guard rc == 0, result != nil else { return nil }
        return (entry.pw_uid, entry.pw_gid)
    }

    /// gid of a local group, or nil if it does not exist.
    public static func groupID(named name: String) -> gid_t? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        let rc = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
        guard rc == 0, result != nil else { return nil }
        return entry.gr_gid
    }

    /// uid/gid of `vmail`, if the account exists.
    public static var vmail: (uid: uid_t, gid: gid_t)? { user(named: vmailName) }

    /// Makes sure the system account `vmail` (and its group) exists, creating
    /// it when running as root. Safe to call concurrently: a lost creation
    /// race is detected by looking the account up again.
    @discardableResult
    public static func ensureVmail() throws -> (uid: uid_t, gid: gid_t) {
        if let ids = vmail { return ids }
        guard isRoot else {
            throw DovecotTestError.unavailable("system user '\(vmailName)' is missing and we are not root to create it")
        }
        let scratch = FileManager.default.temporaryDirectory.path
        if groupID(named: vmailName) == nil {
            guard let groupadd = CommandRunner.findExecutable("groupadd") else {
                throw DovecotTestError.unavailable("groupadd not found")
            }
            let out = try CommandRunner.run(groupadd, ["--system", vmailName], scratchDirectory: scratch)
            if out.status != 0 && groupID(named: vmailName) == nil {
                throw DovecotTestError.commandFailed(
                    command: [groupadd, "--system", vmailName], status: out.status,
                    stdout: String(decoding: out.stdout, as: UTF8.self),
                    stderr: String(decoding: out.stderr, as: UTF8.self))
            }
        }
        if vmail == nil {
            guard let useradd = CommandRunner.findExecutable("useradd") else {
                throw DovecotTestError.unavailable("useradd not found")
            }
            let args = ["--system", "-g", vmailName, "-d", "/nonexistent", "-s", "/usr/sbin/nologin", vmailName]
            let out = try CommandRunner.run(useradd, args, scratchDirectory: scratch)
            if out.status != 0 && vmail == nil {
                throw DovecotTestError.commandFailed(
                    command: [useradd] + args, status: out.status,
                    stdout: String(decoding: out.stdout, as: UTF8.self),
                    stderr: String(decoding: out.stderr, as: UTF8.self))
            }
        }
        guard let ids = vmail else {
            throw DovecotTestError.unavailable("system user '\(vmailName)' still missing after useradd")
        }
        return ids
    }

    /// Recursively changes the owner of `path` (and everything below it) to
    /// vmail:vmail. Symbolic links are changed themselves, never followed.
    ///
    /// Files that the code under test writes while the tests run as root must
    /// be handed over this way before doveadm (which accesses mail as vmail)
    /// can read or modify them.
    public static func chownToVmail(path: String) throws {
        let ids = try ensureVmail()
        try chownRecursively(path: path, uid: ids.uid, gid: ids.gid)
    }

    static func chownRecursively(path: String, uid: uid_t, gid: gid_t) throws {
        if lchown(path, uid, gid) != 0 {
            throw DovecotTestError.io("lchown \(path) failed: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw DovecotTestError.io("lstat \(path) failed: \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { return }
        let children: [String]
        do {
            children = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw DovecotTestError.io("cannot list \(path): \(error)")
        }
        for child in children {
            try chownRecursively(path: path + "/" + child, uid: uid, gid: gid)
        }
    }
}
