//! Access control: the signed membership log, role resolution, what each role may write, and
//! the replica engine that enforces all of it on every change it receives.
//!
//! - [`op`]: membership ops ([`AclOp`]) and their wire form.
//! - [`log`]: the membership log DAG, with **the rules** every replica applies in its module
//!   documentation.
//! - [`resolve`]: which ops are valid, and the resulting [`MemberState`].
//! - [`policy`]: what each [`Role`] may write; [`inspect`]: what an update writes.
//! - [`claims`]: who a Loro peer id belongs to.
//! - [`keys`]: epoch keys on a replica, with **the rules** for epochs, rotation, sharing and
//!   invites in its module documentation (every workspace is encrypted from its creation).
//! - [`Replica`]: the engine one device runs for one workspace — receive envelopes and ops,
//!   seal local edits, manage members, list the quarantine.
//!
//! Pure and synchronous: no I/O, no clock of its own (every call that needs the time takes it).

#![warn(missing_docs)]

mod admit;
mod authorize;
pub mod claims;
mod device;
pub mod inspect;
pub(crate) mod judge;
pub mod keys;
pub mod log;
mod members;
pub mod op;
pub mod outcome;
pub mod policy;
pub mod refusal;
mod release;
mod replica;
pub mod resolve;
pub mod role;
mod snapshot;
pub mod state;

pub use device::{DeviceIdentity, ReplicaConfig, DEFAULT_MAX_CLOCK_SKEW};
pub use keys::Redemption;
pub use log::MembershipLog;
pub use members::{
    Action, MAX_REFUSED_OPS_KEPT, MAX_REFUSED_OPS_KEPT_PER_DEVICE, MAX_WAITING_FROM_UNKNOWN,
    MAX_WAITING_OPS, MAX_WAITING_PER_DEVICE, MAX_WAITING_PER_UNKNOWN_DEVICE,
};
pub use op::{AclOp, AclOpBody, AclOpKind, ContentVersion};
pub use outcome::{
    AclOutcome, AclReceipt, Effects, Missing, Outcome, Outgoing, PendingEntry, QuarantineEntry,
    QuarantinedItem, Receipt,
};
pub use policy::{Write, WriteSummary};
pub use refusal::Refusal;
pub use replica::{Founding, LocalError, Replica, ReplicaError};
pub use resolve::{
    Certified, ChangeAuthority, DeviceRecord, KeyEpoch, MemberState, Membership, Resolution,
};
pub use role::Role;
