extension UserQueue {
    /// The queue's users, stored compactly enough for a million of them: one 80-byte record
    /// per user in an array (a ``ReplicationUser`` takes 136), a name index of 4-byte slot
    /// numbers, and the rare texts (last error, hold reason) in a side table. Slots of
    /// removed users are reused; a reused slot keeps counting its generation, so that heap
    /// entries of the former user stay stale.
    struct Records: Sendable {
        struct Flags: OptionSet, Sendable {
            let rawValue: UInt8
            static let failed = Flags(rawValue: 1 << 0)
            static let forceFull = Flags(rawValue: 1 << 1)
            static let held = Flags(rawValue: 1 << 2)
            static let running = Flags(rawValue: 1 << 3)
            static let runningFull = Flags(rawValue: 1 << 4)
            static let hasTexts = Flags(rawValue: 1 << 5)
            /// A free slot.
            static let free = Flags(rawValue: 1 << 6)
        }

        struct Record: Sendable {
            var name: String
            var lastUpdate: Int64 = 0
            var lastFastSync: Int64 = 0
            var lastFullSync: Int64 = 0
            var lastSuccessfulSync: Int64 = 0
            var lastFailure: Int64 = 0
            /// When the current run of failures began (0: the last sync did not fail).
            var failingSince: Int64 = 0
            var failureCount: Int32 = 0
            var changedRetries: Int32 = 0
            /// Bumped whenever the user's place changes: heap entries with an older
            /// generation are stale and skipped.
            var generation: UInt32 = 0
            var priority: ReplicationPriority = .none
            var flags: Flags = []

            /// Whether a sync runs, and whether it is a full one.
            var running: Bool? {
                get { flags.contains(.running) ? flags.contains(.runningFull) : nil }
                set {
                    flags.remove([.running, .runningFull])
                    if let newValue { flags.insert(newValue ? [.running, .runningFull] : .running) }
                }
            }
        }

        struct Texts: Sendable {
            var lastError: String?
            var holdReason: String?
        }

        private var slots: [Record] = []
        private var index: [String: Int32] = [:]
        private var freeSlots: [Int32] = []
        private var texts: [Int32: Texts] = [:]

        var count: Int { index.count }

        func slot(of name: String) -> Int32? { index[name] }

        subscript(slot: Int32) -> Record {
            get { slots[Int(slot)] }
            _modify { yield &slots[Int(slot)] }
        }

        /// The slots of all users, in no particular order.
        var usedSlots: some Sequence<Int32> { index.values }

        /// The user's full record.
        func user(at slot: Int32) -> ReplicationUser {
            let record = slots[Int(slot)]
            var user = ReplicationUser(name: record.name)
            user.priority = record.priority
            user.lastUpdate = record.lastUpdate
            user.lastFastSync = record.lastFastSync
            user.lastFullSync = record.lastFullSync
            user.lastSuccessfulSync = record.lastSuccessfulSync
            user.lastSyncFailed = record.flags.contains(.failed)
            user.failureCount = Int(record.failureCount)
            user.lastFailure = record.lastFailure
            user.failingSince = record.failingSince
            user.forceFullSync = record.flags.contains(.forceFull)
            user.changedRetries = Int(record.changedRetries)
            user.held = record.flags.contains(.held)
            if record.flags.contains(.hasTexts), let texts = texts[slot] {
                user.lastError = texts.lastError
                user.holdReason = texts.holdReason
            }
            return user
        }

        /// Stores `user`'s fields (not its name) at `slot`, keeping the generation and the
        /// running state. Counts beyond 2³¹ are clamped.
        mutating func update(_ slot: Int32, with user: ReplicationUser) {
            var record = slots[Int(slot)]
            record.priority = user.priority
            record.lastUpdate = user.lastUpdate
            record.lastFastSync = user.lastFastSync
            record.lastFullSync = user.lastFullSync
            record.lastSuccessfulSync = user.lastSuccessfulSync
            record.lastFailure = user.lastFailure
            record.failingSince = user.failingSince
            record.failureCount = Int32(clamping: user.failureCount)
            record.changedRetries = Int32(clamping: user.changedRetries)
            let kept = record.flags.intersection([.running, .runningFull])
            record.flags = kept
            if user.lastSyncFailed { record.flags.insert(.failed) }
            if user.forceFullSync { record.flags.insert(.forceFull) }
            if user.held { record.flags.insert(.held) }
            if user.lastError != nil || user.holdReason != nil {
                record.flags.insert(.hasTexts)
                texts[slot] = Texts(lastError: user.lastError, holdReason: user.holdReason)
            } else if texts[slot] != nil {
                texts[slot] = nil
            }
            slots[Int(slot)] = record
        }

        /// Adds a user not known yet; returns its slot.
        mutating func insert(_ user: ReplicationUser) -> Int32 {
            let slot: Int32
            if let reused = freeSlots.popLast() {
                slot = reused
                let generation = slots[Int(slot)].generation
                slots[Int(slot)] = Record(name: user.name, generation: generation &+ 1)
            } else {
                slot = Int32(slots.count)
                slots.append(Record(name: user.name))
            }
            index[user.name] = slot
            update(slot, with: user)
            return slot
        }

        /// Forgets the user at `slot`; its slot is reused later.
        mutating func remove(_ slot: Int32) {
            let name = slots[Int(slot)].name
            index[name] = nil
            texts[slot] = nil
            let generation = slots[Int(slot)].generation
            slots[Int(slot)] = Record(name: "", generation: generation &+ 1, flags: .free)
            freeSlots.append(slot)
        }
    }
}
