//! Device signatures over domain-separated SHA-256 digests.
//!
//! Every signed weft object is hashed as `SHA-256(domain ‖ len ‖ part ‖ len ‖ part …)` where the
//! domain names the object type and format version (`weft/envelope/v1\0`, `weft/acl-op/v1\0`)
//! and each part carries a u64 length, so no two different objects share a digest. The device
//! key signs that digest with ECDSA (RFC 6979, low-S). Because the digest is never an EIP-191
//! `personal_sign` hash, a device signature can never be replayed as a wallet signature, and
//! an envelope signature can never be replayed as a membership-op signature.

use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use k256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::identity::DeviceKey;

/// Length of a compact ECDSA signature (`r ‖ s`).
pub const SIGNATURE_LEN: usize = 64;

/// A compact 64-byte secp256k1 ECDSA signature by a device key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DeviceSignature(pub [u8; SIGNATURE_LEN]);

impl std::fmt::Debug for DeviceSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceSignature({}…)", hex::encode(&self.0[..8]))
    }
}

/// Why a device signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureCheckError {
    /// The bytes are not a well-formed low-S signature.
    #[error("the signature is malformed (not a low-S secp256k1 signature)")]
    Malformed,
    /// The signature does not match the content and the claimed device.
    #[error("the signature does not match its content and the device that claims to have signed it (forged or tampered)")]
    Mismatch,
}

/// The digest of `parts` under `domain`.
pub(crate) fn domain_digest(domain: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(domain);
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Signs a digest with the device key.
pub(crate) fn sign_digest(key: &DeviceKey, digest: &[u8; 32]) -> DeviceSignature {
    let signature: Signature = key
        .signing_key()
        .sign_prehash(digest)
        .expect("signing a 32-byte digest with a valid key cannot fail");
    // RFC 6979 signatures from k256 are already low-S; normalising again is harmless.
    let signature = signature.normalize_s().unwrap_or(signature);
    let mut out = [0u8; SIGNATURE_LEN];
    out.copy_from_slice(&signature.to_bytes());
    DeviceSignature(out)
}

/// Checks a device signature over a digest.
///
/// Fails if the signature is malformed, high-S, or made by another key or over other content.
pub(crate) fn verify_digest(
    key: &VerifyingKey,
    digest: &[u8; 32],
    signature: &DeviceSignature,
) -> Result<(), SignatureCheckError> {
    let signature =
        Signature::from_slice(&signature.0).map_err(|_| SignatureCheckError::Malformed)?;
    if signature.normalize_s().is_some() {
        return Err(SignatureCheckError::Malformed);
    }
    key.verify_prehash(digest, &signature)
        .map_err(|_| SignatureCheckError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_separate_and_tampering_fails() {
        let key = DeviceKey::generate();
        let vk = *key.signing_key().verifying_key();
        let d1 = domain_digest(b"a\0", &[b"x", b"y"]);
        let d2 = domain_digest(b"a\0", &[b"xy"]);
        assert_ne!(d1, d2, "length prefixes keep parts apart");
        let sig = sign_digest(&key, &d1);
        verify_digest(&vk, &d1, &sig).unwrap();
        assert_eq!(
            verify_digest(&vk, &d2, &sig),
            Err(SignatureCheckError::Mismatch)
        );
        let other = DeviceKey::generate();
        assert_eq!(
            verify_digest(other.signing_key().verifying_key(), &d1, &sig),
            Err(SignatureCheckError::Mismatch)
        );
    }
}
