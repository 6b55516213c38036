//! What happened to something a replica received, and what it is holding back.

use loro::ID;

use super::refusal::Refusal;
use crate::crypto::{AclOpId, EnvelopeId};
use crate::identity::{Address, DeviceId};

/// What a replica still needs before it can judge an envelope or op.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Missing {
    /// Membership ops it cites that this replica does not have.
    pub acl_ops: Vec<AclOpId>,
    /// Document changes it builds on that this replica has not accepted (the first missing
    /// change of each Loro peer).
    pub changes: Vec<ID>,
    /// It is dated after this replica's clock (plus the allowed skew); it waits until then
    /// (Unix seconds).
    pub until: Option<i64>,
    /// It is encrypted under this key epoch, whose key this device has not been given (yet:
    /// a rotation, share or invite may bring it; a removed member's device never gets it).
    pub epoch: Option<u32>,
}

impl Missing {
    /// Whether nothing is missing.
    pub fn is_empty(&self) -> bool {
        self.acl_ops.is_empty()
            && self.changes.is_empty()
            && self.until.is_none()
            && self.epoch.is_none()
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if !self.acl_ops.is_empty() {
            parts.push(format!(
                "waiting for {} membership change(s) it had seen",
                self.acl_ops.len()
            ));
        }
        if !self.changes.is_empty() {
            parts.push(format!(
                "waiting for {} earlier change(s) it builds on",
                self.changes.len()
            ));
        }
        if let Some(epoch) = self.epoch {
            parts.push(format!(
                "waiting for the key of epoch {epoch}, which this device has not been given"
            ));
        }
        if let Some(t) = self.until {
            parts.push(format!(
                "dated in the future (Unix time {t}); waiting until then"
            ));
        }
        if parts.is_empty() {
            parts.push("waiting".into());
        }
        f.write_str(&parts.join("; "))
    }
}

/// What became of a received envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted into the document.
    Applied,
    /// Already held (a replay or a second delivery); nothing changed.
    Duplicate,
    /// Not applied, kept with the reason. Membership changes that arrive later may release it.
    Quarantined(Refusal),
    /// Not judged yet: something it depends on has not arrived.
    Pending(Missing),
}

/// What became of a received membership op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclOutcome {
    /// Added to the log and valid.
    Accepted,
    /// Already held.
    Duplicate,
    /// Kept, but it has no effect: the reason says why. (If it was unreadable or forged, it is
    /// not even kept in the log, only in the quarantine.)
    Refused(Refusal),
    /// Waiting for ops it cites, or for its time to come.
    Pending(Missing),
}

/// Side effects of one call on envelopes other than the one received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Envelopes that were held back and are now applied.
    pub released: Vec<EnvelopeId>,
    /// Envelopes that were applied and are now void (a removal they were concurrent with arrived).
    pub withdrawn: Vec<EnvelopeId>,
    /// The document was rebuilt from the accepted envelopes (after a withdrawal); anything
    /// caching document state should reload it.
    pub rebuilt: bool,
    /// This device learned epoch keys: persist [`super::Replica::epoch_keys`] (sealed).
    pub keys_learned: bool,
}

/// The result of [`super::Replica::receive_envelope`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// What became of this envelope.
    pub outcome: Outcome,
    /// What else changed.
    pub effects: Effects,
}

/// The result of [`super::Replica::receive_acl_op`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclReceipt {
    /// What became of this op.
    pub outcome: AclOutcome,
    /// What changed for envelopes.
    pub effects: Effects,
}

/// What a quarantine entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuarantinedItem {
    /// A change envelope.
    Envelope(EnvelopeId),
    /// A membership op.
    AclOp(AclOpId),
    /// Bytes that could not even be read as either.
    Unreadable,
}

/// One refused envelope or op, with everything a user needs to understand it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuarantineEntry {
    /// What it is.
    pub item: QuarantinedItem,
    /// The device that signed it, when known.
    pub device: Option<DeviceId>,
    /// The wallet behind that device, when known.
    pub address: Option<Address>,
    /// Why it was refused.
    pub reason: Refusal,
    /// Whether a later membership change could still release it (false for forged, unreadable
    /// or foreign items).
    pub may_be_released: bool,
    /// The bytes as received.
    pub bytes: Vec<u8>,
}

/// One envelope or op that is waiting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEntry {
    /// What it is.
    pub item: QuarantinedItem,
    /// The device that signed it.
    pub device: DeviceId,
    /// What it waits for.
    pub missing: Missing,
    /// Quarantined envelopes carrying changes it builds on: until they are released, it cannot
    /// be applied (a change that builds on a void change is void too).
    pub blocked_by: Vec<EnvelopeId>,
}

/// Something a replica produced that the transport must deliver to the other replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// A signed change.
    Envelope(crate::crypto::Envelope),
    /// A signed membership op.
    AclOp(super::op::AclOp),
}
