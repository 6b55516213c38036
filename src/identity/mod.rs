//! Device keys, the local wallet, and SIWE pairing.
//!
//! - [`DeviceKey`] / [`DeviceId`]: this device's secp256k1 key and its `did:key:zQ3s…` id.
//! - [`LocalWallet`], [`Address`], [`Signature65`]: EIP-191 `personal_sign` signing and
//!   recovery, for weft's own wallet and for signatures pasted from any other wallet.
//! - [`PairingRequest`] / [`PairingCertificate`]: the Sign-In with Ethereum (EIP-4361) message
//!   with a ReCap (EIP-5573) granting `weft/sign-changes`, and its verification.
//!
//! Everything here is synchronous and does no I/O except reading and writing key files.

#![warn(missing_docs)]

pub mod keyfile;
pub mod keys;
pub mod pairing;
pub mod recap;
pub mod scope;
pub mod wallet;

pub use keyfile::{KeyFileError, KeyKind, LoadedKey};
pub use keys::{DeviceId, DeviceIdError, DeviceKey, SecretKeyError};
pub use pairing::{
    parse_canonical_siwe, CertHash, PairingCertificate, PairingError, PairingRequest,
    VerifiedPairing, VerifyPolicy,
};
pub use recap::{Recap, RecapError};
pub use scope::WorkspaceScope;
pub use wallet::{
    eip191_hash, recover_address, Address, AddressError, LocalWallet, Signature65, SignatureError,
};
