//! Why a change, a membership op, or a local action is refused, in words a user can act on.

use super::role::Role;
use crate::crypto::{AclOpId, WorkspaceId};
use crate::identity::{Address, CertHash, DeviceId};

/// The reason something is not accepted. Every quarantined envelope or op carries one, and
/// [`super::Replica::can`] answers with one so the UI can say why an action is unavailable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The bytes are not a readable envelope or op.
    #[error("it cannot be read: {0}")]
    Unreadable(String),
    /// It names another workspace.
    #[error("it belongs to another workspace ({})", .0.short())]
    OtherWorkspace(WorkspaceId),
    /// A second genesis for this workspace.
    #[error("it tries to create the workspace a second time")]
    SecondGenesis,
    /// Sealed under a key epoch that the membership history it cites never started.
    #[error(
        "it is sealed under key epoch {0}, which the membership history it cites never started"
    )]
    UnknownEpoch(u32),
    /// A plaintext envelope (key epoch 0): every workspace is encrypted from its creation.
    #[error("it is not encrypted (key epoch 0), and every change to a workspace must be")]
    NotEncrypted,
    /// The ciphertext does not open with the key of the epoch it names, although this replica
    /// holds every key that epoch had: it was altered, or sealed under another key or header.
    #[error("it cannot be decrypted with epoch {epoch}'s key: its ciphertext or header was altered, or it was sealed under another key")]
    CannotDecrypt {
        /// The epoch its header names.
        epoch: u32,
    },
    /// A key rotation that does not follow the current epoch.
    #[error("it starts key epoch {epoch}, which does not follow the current epoch {previous}")]
    EpochOutOfOrder {
        /// The epoch it starts.
        epoch: u32,
        /// The current epoch before it.
        previous: u32,
    },
    /// The signature does not verify.
    #[error("its signature does not match: it was forged, or altered after it was signed")]
    BadSignature,
    /// The Loro update inside cannot be used.
    #[error("its document update is unusable: {0}")]
    BadPayload(String),
    /// The header's peer list does not match the changes inside.
    #[error("it carries changes of Loro peers {found:?} but declares {declared:?}")]
    UndeclaredPeers {
        /// Peers declared in the header.
        declared: Vec<u64>,
        /// Peers whose changes the payload carries.
        found: Vec<u64>,
    },
    /// The time is earlier than the membership ops it cites.
    #[error("it is dated earlier than the membership changes it says it had seen")]
    DatedBeforeItsPast,
    /// The device has no certificate in the log the change or op cites.
    #[error("device {0} has not been paired with any member of this workspace")]
    UnknownDevice(DeviceId),
    /// The certificate named is not in the cited log.
    #[error("device {device} signs with a pairing certificate ({cert}) that was never published to this workspace")]
    UnknownCertificate {
        /// The device.
        device: DeviceId,
        /// The certificate hash it names.
        cert: CertHash,
    },
    /// The certificate does not fit.
    #[error("the pairing certificate of device {device} is not acceptable: {why}")]
    CertificateNotValid {
        /// The device.
        device: DeviceId,
        /// Why (expired at the change's time, for another device, …).
        why: String,
    },
    /// The device was revoked before the change (in its causal past).
    #[error("device {0} has been revoked")]
    DeviceRevoked(DeviceId),
    /// The device was revoked by an op that had not seen the change.
    #[error("device {device} was revoked by a membership change (op {}) that had not seen this", .by.short())]
    DeviceRevokedConcurrently {
        /// The device.
        device: DeviceId,
        /// The revoking op.
        by: AclOpId,
    },
    /// The wallet has no role.
    #[error("{0} is not a member of this workspace")]
    NotAMember(Address),
    /// The wallet was removed by an op that had not seen the change.
    #[error("{address} was removed from the workspace by a membership change (op {}) that had not seen this", .by.short())]
    RemovedConcurrently {
        /// The member.
        address: Address,
        /// The removing op.
        by: AclOpId,
    },
    /// The role is too low for what the change does.
    #[error("{address} is {}; {what} needs {} or higher", .role.with_article(), .needed.with_article())]
    RoleTooLow {
        /// Who.
        address: Address,
        /// Their role.
        role: Role,
        /// The role needed.
        needed: Role,
        /// What they tried, in words ("editing documents").
        what: String,
    },
    /// The role was lowered by an op that had not seen the change, and the lower role does not
    /// allow it.
    #[error("{address} was made {} by a membership change (op {}) that had not seen this, and {what} needs {} or higher", .role.with_article(), .by.short(), .needed.with_article())]
    DemotedConcurrently {
        /// Who.
        address: Address,
        /// The lowered role.
        role: Role,
        /// The role needed.
        needed: Role,
        /// What they tried.
        what: String,
        /// The demoting op.
        by: AclOpId,
    },
    /// Something no role may do.
    #[error("{address} tried {what}, which nobody may do")]
    Forbidden {
        /// Who.
        address: Address,
        /// What, in words.
        what: String,
    },
    /// Acting on an equal or higher role.
    #[error("{actor} is {} and cannot act on {target}, who is {}: nobody acts on an equal or higher role", .actor_role.with_article(), .target_role.with_article())]
    NotBelow {
        /// Who acts.
        actor: Address,
        /// Their role.
        actor_role: Role,
        /// On whom.
        target: Address,
        /// Their role.
        target_role: Role,
    },
    /// Granting a role equal to or higher than one's own.
    #[error("{actor} is {} and cannot grant the {role} role: nobody grants a role equal to or higher than their own", .actor_role.with_article())]
    CannotGrant {
        /// Who acts.
        actor: Address,
        /// Their role.
        actor_role: Role,
        /// The role they tried to grant.
        role: Role,
    },
    /// Adding someone who is already a member.
    #[error("{0} is already a member (change their role instead)")]
    AlreadyMember(Address),
    /// Acting on someone who is not a member.
    #[error("{0} is not a member, so there is nothing to change")]
    NoSuchMember(Address),
    /// Revoking a device that is not paired.
    #[error("device {0} is not paired in this workspace")]
    NoSuchDevice(DeviceId),
    /// A certificate for another wallet.
    #[error("{actor} published a pairing certificate for another wallet ({owner})")]
    CertificateForAnotherWallet {
        /// Who published.
        actor: Address,
        /// The wallet in the certificate.
        owner: Address,
    },
    /// A device's certificate published by another device: only the device itself may
    /// publish its certificate (it signs the op that does).
    #[error("only device {device} may publish its own pairing certificate; this op is signed by device {author}")]
    CertificateNotSelfPublished {
        /// The device the certificate names.
        device: DeviceId,
        /// The device that signed the op.
        author: DeviceId,
    },
    /// A certificate binding a device that is already bound to another wallet.
    #[error("device {device} is already paired with {bound_to}; a certificate pairing it with {claimed_for} is refused (a device is never moved to another wallet)")]
    DeviceOfAnotherWallet {
        /// The device.
        device: DeviceId,
        /// The wallet it was bound to first.
        bound_to: Address,
        /// The wallet the refused certificate names.
        claimed_for: Address,
    },
    /// Too many membership ops of one device, or in all, wait for earlier ops that have not
    /// arrived: this one was dropped, and is taken again if it arrives after them.
    #[error("device {device} has more membership ops waiting for earlier ones than the {limit} weft keeps, so this one was dropped (send it again once the ops it cites have arrived)")]
    TooManyWaiting {
        /// The author device.
        device: DeviceId,
        /// The limit that was reached.
        limit: usize,
    },
    /// A concurrent op gave the address less access, and the most restrictive wins.
    #[error("a concurrent membership change (op {}) gave {member} less access, and the most restrictive change wins", .by.short())]
    Superseded {
        /// The member concerned.
        member: Address,
        /// The winning op.
        by: AclOpId,
    },
    /// A change that builds on a refused one: it cannot apply unless that one is released (the
    /// author's later work, written on top of what was refused).
    #[error("it builds on a refused change ({}), so it cannot apply unless that one is", .on.short())]
    BuildsOnRefused {
        /// The refused change it waits for.
        on: crate::crypto::EnvelopeId,
    },
    /// A Loro peer id already belongs to another device.
    #[error("Loro peer {peer} belongs to device {owner}; device {device} may not write as it")]
    PeerOfAnotherDevice {
        /// The peer id.
        peer: u64,
        /// The device it belongs to.
        owner: DeviceId,
        /// The device that claimed it.
        device: DeviceId,
    },
    /// Two envelopes claim the same changes of one Loro peer.
    #[error("Loro peer {peer} is claimed for the same changes by two different envelopes, so none of its changes can be trusted")]
    PeerContested {
        /// The peer id.
        peer: u64,
    },
    /// An envelope of a later header version than this weft knows: kept, and judged again by a
    /// weft that knows it.
    #[error("it was written by a newer weft: upgrade weft to read it (envelope format {0})")]
    NewerVersion(u8),
    /// A version-2 header whose salt does not derive the Loro peer it declares from its device.
    #[error("it declares Loro peer {peer} with a salt that does not derive that peer from device {device}")]
    PeerNotDerived {
        /// The peer id.
        peer: u64,
        /// The device that signed.
        device: DeviceId,
    },
    /// A twin: the device signed other content for the same Loro changes in another envelope,
    /// and others built on that one.
    #[error("it is a twin: device {device} signed other content for the same changes of Loro peer {peer} in change {}, which others built on, so this one is refused", .of.short())]
    TwinOfBuiltOn {
        /// The device.
        device: DeviceId,
        /// The peer whose changes it duplicates.
        peer: u64,
        /// The envelope that stands.
        of: crate::crypto::EnvelopeId,
    },
    /// Twins nobody built on: the device signed two contents for the same Loro changes.
    #[error("it is a twin: device {device} signed two different contents for the same changes of Loro peer {peer} (the other is change {}) and nobody built on either, so neither can be trusted", .of.short())]
    Twins {
        /// The device.
        device: DeviceId,
        /// The peer whose changes both carry.
        peer: u64,
        /// Another envelope carrying them.
        of: crate::crypto::EnvelopeId,
    },
    /// The device signed two different envelopes with one sequence number. (No longer given:
    /// a sequence number only indexes the transport; see `Twins`.)
    #[error("device {device} signed two different changes with sequence number {seq}, so neither can be trusted")]
    SequenceReused {
        /// The device.
        device: DeviceId,
        /// The sequence number.
        seq: u64,
    },
}

impl Refusal {
    /// Whether no later membership change can make the refused item acceptable (it is
    /// unreadable, forged, foreign, malformed, or something nobody may do).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Refusal::Unreadable(_)
                | Refusal::OtherWorkspace(_)
                | Refusal::SecondGenesis
                | Refusal::UnknownEpoch(_)
                | Refusal::NotEncrypted
                | Refusal::CannotDecrypt { .. }
                | Refusal::BadSignature
                | Refusal::BadPayload(_)
                | Refusal::UndeclaredPeers { .. }
                | Refusal::DatedBeforeItsPast
                | Refusal::Forbidden { .. }
                | Refusal::PeerOfAnotherDevice { .. }
                | Refusal::PeerContested { .. }
                | Refusal::PeerNotDerived { .. }
                | Refusal::SequenceReused { .. }
        )
    }
}
