//! Signed change envelopes and the signature scheme behind them.
//!
//! - [`Envelope`] / [`EnvelopeHeader`]: one device's Loro update with a header saying who, where
//!   and after which membership changes, signed by the device key.
//! - [`WorkspaceId`], [`AclOpId`], [`EnvelopeId`]: the content hashes that name things.
//!
//! Pure and synchronous: no I/O, no clock. Payloads are plaintext in this version; the header
//! already carries the key epoch and nonce that encryption will fill in.

#![warn(missing_docs)]

pub mod envelope;
pub mod ids;
pub mod signature;
pub(crate) mod wire;

pub use envelope::{Envelope, EnvelopeError, EnvelopeHeader};
pub use ids::{AclOpId, EnvelopeId, WorkspaceId};
pub use signature::{DeviceSignature, SignatureCheckError};
pub use wire::WireError;
