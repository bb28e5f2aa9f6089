import Crypto
import Foundation
import MailStore

/// What both sides agreed on at the end of the last sync of one user with one peer,
/// and the stamps of both sides at that moment.
///
/// Stored in the state directory as two files, both replaced atomically (temporary file,
/// fsync, rename): `<key>.state` (the header: version, user, sides, stamps, and the name of
/// the messages file, in the binary form of ``SyncState/Header/binaryEncoded()``; a header
/// in JSON, as earlier versions wrote it, is still read) and `<key>.<generation>.messages` (the common view with every message,
/// in the binary form of ``ReplicaView/binaryEncoded()``). A sync with nothing changed
/// reads only the first.
public struct SyncState: Sendable {
    /// The format version written; readers accept this and older versions.
    public static let currentVersion = 1

    public struct Header: Codable, Sendable {
        public var version: Int
        public var user: String
        public var sideA: String
        public var sideB: String
        public var savedAt: Date
        public var stampA: StoreStamp
        public var stampB: StoreStamp
        public var messagesFile: String
        public var mailboxes: Int
        public var messages: Int
        /// How many syncs of this pair of sides led to this state: 1 for the first, one more
        /// than the state each sync started from. Either host of a pair may run a user's
        /// sync and each saves what it agreed on, so the larger generation is the later
        /// state (syncs of a user never overlap: both user locks are held). Nil in a state
        /// saved before generations were kept (counts as 0).
        public var generation: Int?

        /// The same state seen from the other host: A and B (sides and stamps) exchanged.
        public func swappingSides(sideA: String, sideB: String) -> Header {
            var header = self
            header.sideA = sideA
            header.sideB = sideB
            header.stampA = stampB
            header.stampB = stampA
            return header
        }
    }

    public var header: Header
    /// The common view; loaded on demand.
    public var view: ReplicaView?
}

/// Reads and writes ``SyncState`` files for one user and pair of sides.
public struct SyncStateStore: Sendable {
    public let directory: String
    public let user: String
    public private(set) var sideA: String
    public private(set) var sideB: String

    /// Other names of the same two sides, under which an earlier version may have saved the
    /// state (``SyncOptions/formerStateSides``): read when nothing is saved under
    /// ``sideA`` and ``sideB``; the next save replaces it.
    public var formerSides: (a: String, b: String)?

    public init(directory: String, user: String, sideA: String, sideB: String) {
        self.directory = directory
        self.user = user
        self.sideA = sideA
        self.sideB = sideB
    }

    /// `<user, made file-name safe>-<first 16 hex digits of SHA-256(user, A, B)>`.
    var key: String { Self.key(user: user, sideA: sideA, sideB: sideB) }

    static func key(user: String, sideA: String, sideB: String) -> String {
        let safe = String(user.unicodeScalars.map { scalar -> Character in
            let allowed = (scalar.value >= 0x30 && scalar.value <= 0x39) || (scalar.value >= 0x41 && scalar.value <= 0x5a)
                || (scalar.value >= 0x61 && scalar.value <= 0x7a) || "@._-".unicodeScalars.contains(scalar)
            return allowed ? Character(scalar) : "_"
        }.prefix(64))
        let digest = SHA256.hash(data: Array("\(user)\u{0}\(sideA)\u{0}\(sideB)".utf8))
        let hex = Array("0123456789abcdef".utf8)
        return safe + "-" + String(decoding: digest.prefix(8).flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 0xf)]] }, as: UTF8.self)
    }

    var headerPath: String { directory + "/" + key + ".state" }

    /// Loads the header; nil when there is no state.
    ///
    /// - Throws: ``DsyncError`` `badData` naming the file when it is corrupt or of a newer version.
    public func loadHeader() throws -> SyncState.Header? {
        guard let data = FileManager.default.contents(atPath: headerPath) else {
            guard let former = formerSides, former.a != sideA || former.b != sideB else { return nil }
            var earlier = self
            earlier.formerSides = nil
            earlier.sideA = former.a
            earlier.sideB = former.b
            return try earlier.loadHeader()
        }
        do {
            let bytes = [UInt8](data)
            let header = try SyncState.Header.isBinary(bytes)
                ? SyncState.Header(binary: bytes, path: headerPath) : JSONDecoder.state.decode(SyncState.Header.self, from: data)
            guard header.version <= SyncState.currentVersion else {
                throw DsyncError(.badData, "\(headerPath): state version \(header.version) is newer than this Duplex (\(SyncState.currentVersion))")
            }
            guard header.user == user, header.sideA == sideA, header.sideB == sideB else {
                throw DsyncError(.badData, "\(headerPath): state belongs to user \(header.user) between \(header.sideA) and \(header.sideB)")
            }
            return header
        } catch let error as DsyncError {
            throw error
        } catch {
            throw DsyncError(.badData, "\(headerPath): corrupt state: \(error)")
        }
    }

    /// Loads the common view named by `header`.
    public func loadView(_ header: SyncState.Header) throws -> ReplicaView {
        let path = directory + "/" + header.messagesFile
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DsyncError(.badData, "\(path): the state's messages file is missing")
        }
        return try ReplicaView(binary: [UInt8](data), path: path)
    }

    /// Saves a new state: the messages file first, then the header that names it; then the
    /// previous messages file is removed.
    ///
    /// - Parameters:
    ///   - previous: the header this store held (its messages file is removed).
    ///   - generation: the new state's ``SyncState/Header/generation``.
    public func save(view: ReplicaView, stampA: StoreStamp, stampB: StoreStamp, previous: SyncState.Header?, generation: Int = 1) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw DsyncError(.io, "\(directory): cannot create the state directory (is it a file, or not writable?)")
        }
        let stamp = String(UInt64(Date().timeIntervalSince1970 * 1_000_000), radix: 16)
        let messagesFile = "\(key).\(stamp).messages"
        try writeAtomically(directory + "/" + messagesFile, view.binaryEncoded())
        let header = SyncState.Header(
            version: SyncState.currentVersion, user: user, sideA: sideA, sideB: sideB, savedAt: Date(),
            stampA: stampA, stampB: stampB, messagesFile: messagesFile,
            mailboxes: view.mailboxes.count, messages: view.messageCount, generation: generation)
        try writeAtomically(headerPath, header.binaryEncoded())
        if let previous, previous.messagesFile != messagesFile {
            try? FileManager.default.removeItem(atPath: directory + "/" + previous.messagesFile)
        }
        if let previous, previous.user == user, previous.sideA != sideA || previous.sideB != sideB {
            // The state was read under the sides' former names: it is saved under their own now.
            let former = Self.key(user: user, sideA: previous.sideA, sideB: previous.sideB)
            try? FileManager.default.removeItem(atPath: directory + "/" + former + ".state")
        }
        // Listing the directory costs as much as it holds (two files per user of a replicator):
        // done when this save replaced no known state (a first or full sync, a lost or corrupt
        // header: the old messages file is unknown), and for what crashes leave, about once in
        // 64 saves.
        if previous == nil || Int.random(in: 0..<64) == 0 {
            removeLeftovers(keeping: messagesFile)
        }
    }

    /// Removes this key's messages files that the header no longer names and temporary files
    /// of interrupted writes: a full sync, a corrupt or lost header, or a crash between the
    /// two writes would otherwise leave one behind each time. Runs under the user's lock, so
    /// no other writer of this key is at work. Lists the whole state directory.
    private func removeLeftovers(keeping messagesFile: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        let prefix = key + "."
        func isHex(_ text: Substring) -> Bool {
            !text.isEmpty && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        }
        func isNumber(_ text: Substring) -> Bool { !text.isEmpty && text.utf8.allSatisfy { (0x30...0x39).contains($0) } }
        for name in names where name.hasPrefix(prefix) && name != messagesFile {
            // `<generation>.messages`, `<generation>.messages.tmp.<pid>` or `state.tmp.<pid>`.
            let parts = name.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false)
            let isLeftover: Bool
            switch parts.count {
            case 2: isLeftover = isHex(parts[0]) && parts[1] == "messages"
            case 3: isLeftover = parts[0] == "state" && parts[1] == "tmp" && isNumber(parts[2])
            case 4: isLeftover = isHex(parts[0]) && parts[1] == "messages" && parts[2] == "tmp" && isNumber(parts[3])
            default: isLeftover = false
            }
            if isLeftover { try? FileManager.default.removeItem(atPath: directory + "/" + name) }
        }
    }

    /// Removes the state (after a mailbox identity problem that needs a full sync).
    public func remove() {
        if let header = try? loadHeader() {
            try? FileManager.default.removeItem(atPath: directory + "/" + header.messagesFile)
        }
        try? FileManager.default.removeItem(atPath: headerPath)
    }

    /// Writes `bytes` to a temporary file (`path.tmp.<pid>`: writers of a key hold the
    /// user's lock) and renames it to `path`; with `durable`, the file is fsynced first (a
    /// state must survive a power loss; the copies journal only has to outlive the process).
    func writeAtomically(_ path: String, _ bytes: [UInt8], durable: Bool = true) throws {
        do {
            try AtomicFile.replace(path, with: bytes, temporary: path + ".tmp.\(getpid())", durable: durable)
        } catch let error as MailStoreError {
            throw DsyncError(.io, "cannot write the state: \(error.description)")
        }
    }
}

extension JSONDecoder {
    static var state: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .stateTimestamp
        return decoder
    }
}

/// A message a sync copies to one side: where, with which UID, GUID and flags.
public struct PendingCopy: Codable, Sendable, Equatable {
    public var side: SyncSide
    /// The mailbox's GUID.
    public var mailbox: String
    public var uid: UInt32
    public var guid: String
    public var flags: SyncFlags

    /// Every `copyMessage` change of `plan`, for both sides.
    static func copies(in plan: SyncPlan) -> [PendingCopy] {
        SyncSide.allCases.flatMap { side in
            plan.changes(for: side).compactMap { change -> PendingCopy? in
                guard case .copyMessage(let mailbox, let uid, let guid, let flags, _, _) = change else { return nil }
                return PendingCopy(side: side, mailbox: mailbox, uid: uid, guid: guid, flags: flags)
            }
        }
    }
}

/// The copies of a sync that is applying its plan, saved beside the state (`<key>.copies`)
/// until the sync ends: a sync cut off meanwhile leaves them for the next one.
public struct PendingCopies: Codable, Sendable, Equatable {
    /// The generation of the state the sync started from (0: none).
    public var generation: Int
    public var copies: [PendingCopy]
}

extension SyncStateStore {
    var pendingCopiesPath: String { directory + "/" + key + ".copies" }

    /// Saves `pending` (temporary file, rename; no fsync: a process killed while applying
    /// leaves it in the page cache, and after a power loss the next sync starts from the
    /// state alone, as before the journal was kept).
    ///
    /// - Throws: ``DsyncError`` `io` when it cannot be written.
    func savePendingCopies(_ pending: PendingCopies) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw DsyncError(.io, "\(directory): cannot create the state directory (is it a file, or not writable?)")
        }
        try writeAtomically(pendingCopiesPath, [UInt8](try JSONEncoder().encode(pending)), durable: false)
    }

    /// The copies a sync cut off left; nil when there are none or they cannot be read (the
    /// next sync then starts from the state alone, as before they were kept).
    func loadPendingCopies() -> PendingCopies? {
        guard let data = FileManager.default.contents(atPath: pendingCopiesPath) else { return nil }
        return try? JSONDecoder().decode(PendingCopies.self, from: data)
    }

    func removePendingCopies() {
        try? FileManager.default.removeItem(atPath: pendingCopiesPath)
    }
}
