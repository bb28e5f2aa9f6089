/// What a sync does when more than ``SyncOptions/massLossShare`` of the common messages
/// (and at least ``SyncOptions/massLossMinimum``) vanished on one side since the last sync:
/// the mass-loss guard of DESIGN "Sync semantics".
///
/// The decision is the sync's own: the plan is made where the sync runs (the `duplex sync`
/// process, or the agent whose replicator dials its peer), and the peer only applies the
/// changes it is sent, so the dsync wire carries no field for it.
public enum MassExpungeResolution: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Refuse the sync and change nothing (``DsyncError/Code/massLoss``, exit 65): the
    /// default, until an operator decides.
    case hold
    /// Let the disappearance through: the vanished messages and mailboxes are expunged and
    /// deleted on the other side too (`duplex sync --accept-mass-expunge`).
    case accept
    /// Copy what vanished back to the side that lost it from the side that still has it:
    /// deleted mailboxes are created again with their GUID and UIDVALIDITY, expunged messages
    /// come back with their GUID and flags (under a fresh UID on both sides where the old one
    /// is no longer free on the side that lost them), so nothing is lost and nothing
    /// duplicated. Only the sides that tripped the guard are restored; every other change,
    /// including ordinary expunges on the other side, merges as usual. A side whose whole
    /// mail root is gone is created again and filled from the other
    /// (`duplex sync --restore-mass-expunge`).
    case restore

    public var description: String { rawValue }
}
