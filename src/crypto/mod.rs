//! Signed change envelopes and the signature scheme behind them.
//!
//! - [`Envelope`] / [`EnvelopeHeader`]: one device's Loro update with a header saying who, where
//!   and after which membership changes, signed by the device key.
//! - [`epoch`]: epoch keys, wrapping them for a device, and the sealed key lists that carry
//!   them (a rotation's earlier keys, an invite's lockbox, a share for one device).
//! - [`WorkspaceId`], [`AclOpId`], [`EnvelopeId`]: the content hashes that name things.
//!
//! Pure and synchronous: no I/O, no clock. Envelope payloads are encrypted under the key of
//! the epoch their header names, and signed after encryption.

#![warn(missing_docs)]

pub mod envelope;
pub mod epoch;
pub mod ids;
pub mod signature;
pub(crate) mod wire;

pub use envelope::{Envelope, EnvelopeError, EnvelopeHeader};
pub use epoch::{
    EpochKey, InviteId, InviteSecret, KeyCheck, KeyError, KeyShare, Lockbox, PreviousKeys,
    WrappedKey,
};
pub use ids::{AclOpId, EnvelopeId, WorkspaceId};
pub use signature::{DeviceSignature, SignatureCheckError};
pub use wire::WireError;
