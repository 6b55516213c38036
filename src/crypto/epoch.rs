//! Epoch keys and how they travel: wrapped for one device, or sealed as a list under another
//! secret (a rotation's earlier keys, an invite's lockbox, a share for one device).
//!
//! ```text
//! wrapped key = ephemeral[33] ‖ nonce[24] ‖ XChaCha20-Poly1305(kek, nonce, key[32], aad)[48]
//!   kek       = HKDF-SHA256(ikm  = x of ECDH(ephemeral secret, recipient device key),
//!                           salt = workspace[32] ‖ u32 epoch,
//!                           info = domain ‖ ephemeral[33] ‖ recipient[33])
//!   aad       = domain ‖ workspace[32] ‖ u32 epoch ‖ recipient[33]
//!   domain    = "weft/epoch-key-wrap/v1\0" (an epoch key) | "weft/key-share-wrap/v1\0" (a share)
//! key list    = u16 n ‖ n × (u32 epoch ‖ check[32]) ‖ nonce[24] ‖ u32 len
//!               ‖ XChaCha20-Poly1305(k, nonce, n × key[32], aad ‖ u16 n ‖ index)
//!   the index (epochs and key checks) is public, strictly ascending, and every key must
//!   match its check when the list is opened
//! key check   = SHA-256("weft/epoch-key-check/v1\0" ‖ u64 len ‖ workspace ‖ u64 len ‖ u32 epoch
//!               ‖ u64 len ‖ key)
//! ```
//!
//! The three key lists differ in their key `k` and associated data:
//!
//! - [`PreviousKeys`] (in a rotation): `k` = HKDF(new epoch key, salt = workspace ‖ epoch,
//!   info = "weft/previous-keys/v1\0"), aad = that info ‖ workspace ‖ epoch.
//! - [`Lockbox`] (in an invite): `k` = HKDF(one-time secret, salt = workspace ‖ invite id,
//!   info = "weft/invite-lockbox/v1\0"), aad = that info ‖ workspace ‖ invite id.
//! - [`KeyShare`] (for one device): a random bundle key wrapped for the device (share domain,
//!   epoch 0), and `k` = HKDF(bundle key, salt = workspace, info = "weft/key-share/v1\0" ‖
//!   recipient), aad = "weft/key-share/v1\0" ‖ workspace ‖ recipient.
//!
//! An epoch key never encrypts anything directly: envelopes and previous-key lists use keys
//! derived from it for their purpose. Every length is capped before it is read; decoding
//! never panics. Opening fails, without saying more, on a wrong key, recipient, workspace,
//! epoch or invite, and on any altered byte.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use k256::ecdh::{diffie_hellman, EphemeralSecret};
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::elliptic_curve::subtle::ConstantTimeEq;
use k256::elliptic_curve::zeroize::{Zeroize, Zeroizing};
use k256::PublicKey;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::ids::WorkspaceId;
use super::signature::domain_digest;
use super::wire::{Reader, WireError, Writer};
use crate::identity::{DeviceId, DeviceKey};

/// Length of an epoch key.
pub const EPOCH_KEY_LEN: usize = 32;
/// Length of an XChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 24;
/// Length of a wrapped key on the wire.
pub const WRAPPED_KEY_LEN: usize = 33 + NONCE_LEN + EPOCH_KEY_LEN + TAG_LEN;
/// Most keys one sealed list may carry (one per epoch; a workspace gets a new epoch on every
/// removal or revocation).
pub const MAX_SEALED_KEYS: usize = 1024;

const TAG_LEN: usize = 16;
const MAX_LIST_CIPHERTEXT: usize = MAX_SEALED_KEYS * EPOCH_KEY_LEN + TAG_LEN;

const WRAP_DOMAIN: &[u8] = b"weft/epoch-key-wrap/v1\0";
const SHARE_WRAP_DOMAIN: &[u8] = b"weft/key-share-wrap/v1\0";
const CHECK_DOMAIN: &[u8] = b"weft/epoch-key-check/v1\0";
const ENVELOPE_INFO: &[u8] = b"weft/envelope-key/v1\0";
const PREVIOUS_INFO: &[u8] = b"weft/previous-keys/v1\0";
const LOCKBOX_INFO: &[u8] = b"weft/invite-lockbox/v1\0";
const SHARE_INFO: &[u8] = b"weft/key-share/v1\0";
const INVITE_ID_DOMAIN: &[u8] = b"weft/invite-id/v1\0";

/// Why key material could not be read or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes are not well-formed.
    #[error("the key material is malformed: {0}")]
    Malformed(#[from] WireError),
    /// Authentication failed: another recipient, workspace, epoch or secret, or altered bytes.
    #[error("it does not open: it is meant for another device, workspace, epoch or code, or it was altered")]
    DoesNotOpen,
    /// A sealed key does not match the commitment its list gives it (its author lied).
    #[error("a key it carries for epoch {epoch} does not match its published commitment")]
    WrongCommitment {
        /// The epoch of that key.
        epoch: u32,
    },
}

/// The symmetric key of one key epoch. Zeroed when dropped; `Debug` never shows it.
#[derive(Clone)]
pub struct EpochKey([u8; EPOCH_KEY_LEN]);

impl EpochKey {
    /// A new random key from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; EPOCH_KEY_LEN];
        OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A key from its bytes (as persisted by [`as_bytes`](Self::as_bytes)).
    pub fn from_bytes(bytes: [u8; EPOCH_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key bytes, for sealing them at rest. Handle with care.
    pub fn as_bytes(&self) -> &[u8; EPOCH_KEY_LEN] {
        &self.0
    }

    /// The public commitment to this key as the key of `epoch` in `workspace`: rotations
    /// publish it, so a key that arrives by any other path can be checked.
    pub fn check(&self, workspace: &WorkspaceId, epoch: u32) -> KeyCheck {
        KeyCheck(domain_digest(
            CHECK_DOMAIN,
            &[workspace.as_bytes(), &epoch.to_be_bytes(), &self.0],
        ))
    }

    /// The key for one purpose, derived from this epoch key.
    fn derive(&self, workspace: &WorkspaceId, epoch: u32, info: &[u8]) -> Zeroizing<[u8; 32]> {
        hkdf32(&self.0, &epoch_salt(workspace, epoch), &[info])
    }

    /// Encrypts an envelope payload (`aad` = the encoded header).
    pub(crate) fn seal_payload(
        &self,
        workspace: &WorkspaceId,
        epoch: u32,
        nonce: &[u8; NONCE_LEN],
        plaintext: &[u8],
        aad: &[u8],
    ) -> Option<Vec<u8>> {
        let k = self.derive(workspace, epoch, ENVELOPE_INFO);
        aead_seal(&k, nonce, plaintext, aad)
    }

    /// Decrypts an envelope payload. `None` if it does not authenticate.
    pub(crate) fn open_payload(
        &self,
        workspace: &WorkspaceId,
        epoch: u32,
        nonce: &[u8],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Option<Vec<u8>> {
        let k = self.derive(workspace, epoch, ENVELOPE_INFO);
        aead_open(&k, nonce, ciphertext, aad)
    }
}

impl Drop for EpochKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl PartialEq for EpochKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for EpochKey {}

impl fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EpochKey(…)")
    }
}

/// A public commitment to an epoch key ([`EpochKey::check`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyCheck(pub [u8; 32]);

impl fmt::Debug for KeyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyCheck({})", hex::encode(&self.0[..6]))
    }
}

fn epoch_salt(workspace: &WorkspaceId, epoch: u32) -> [u8; 36] {
    let mut salt = [0u8; 36];
    salt[..32].copy_from_slice(workspace.as_bytes());
    salt[32..].copy_from_slice(&epoch.to_be_bytes());
    salt
}

fn hkdf32(ikm: &[u8], salt: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    hk.expand_multi_info(info, out.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

fn aead_seal(key: &[u8; 32], nonce: &[u8; NONCE_LEN], msg: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    XChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt(XNonce::from_slice(nonce), Payload { msg, aad })
        .ok()
}

fn aead_open(key: &[u8; 32], nonce: &[u8], msg: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if nonce.len() != NONCE_LEN {
        return None;
    }
    XChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt(XNonce::from_slice(nonce), Payload { msg, aad })
        .ok()
}

pub(crate) fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    nonce
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A 32-byte secret wrapped for one device: only the holder of that device's key opens it.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    ephemeral: [u8; 33],
    nonce: [u8; NONCE_LEN],
    sealed: [u8; EPOCH_KEY_LEN + TAG_LEN],
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrappedKey({}…)", hex::encode(&self.ephemeral[..6]))
    }
}

impl WrappedKey {
    /// Wraps `key`, the key of `epoch` in `workspace`, for `recipient`.
    pub fn seal(key: &EpochKey, workspace: &WorkspaceId, epoch: u32, recipient: &DeviceId) -> Self {
        Self::seal_secret(WRAP_DOMAIN, &key.0, workspace, epoch, recipient)
    }

    /// Opens a key wrapped for `me` as the key of `epoch` in `workspace`.
    ///
    /// Fails if it was wrapped for another device, workspace or epoch, or altered.
    pub fn open(
        &self,
        workspace: &WorkspaceId,
        epoch: u32,
        me: &DeviceKey,
    ) -> Result<EpochKey, KeyError> {
        let bytes = self.open_secret(WRAP_DOMAIN, workspace, epoch, me)?;
        Ok(EpochKey(*bytes))
    }

    fn seal_secret(
        domain: &[u8],
        secret: &[u8; 32],
        workspace: &WorkspaceId,
        epoch: u32,
        recipient: &DeviceId,
    ) -> Self {
        let ephemeral = EphemeralSecret::random(&mut OsRng);
        let mut ephemeral_bytes = [0u8; 33];
        ephemeral_bytes.copy_from_slice(ephemeral.public_key().to_encoded_point(true).as_bytes());
        let recipient_key = PublicKey::from(&recipient.verifying_key());
        let shared = ephemeral.diffie_hellman(&recipient_key);
        let kek = wrap_kek(
            domain,
            shared.raw_secret_bytes().as_slice(),
            workspace,
            epoch,
            &ephemeral_bytes,
            recipient,
        );
        let nonce = random_nonce();
        let aad = wrap_aad(domain, workspace, epoch, recipient);
        let ciphertext = aead_seal(&kek, &nonce, secret, &aad)
            .expect("encrypting 32 bytes with XChaCha20-Poly1305 cannot fail");
        let mut sealed = [0u8; EPOCH_KEY_LEN + TAG_LEN];
        sealed.copy_from_slice(&ciphertext);
        Self {
            ephemeral: ephemeral_bytes,
            nonce,
            sealed,
        }
    }

    fn open_secret(
        &self,
        domain: &[u8],
        workspace: &WorkspaceId,
        epoch: u32,
        me: &DeviceKey,
    ) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let ephemeral =
            PublicKey::from_sec1_bytes(&self.ephemeral).map_err(|_| KeyError::DoesNotOpen)?;
        let shared = diffie_hellman(me.signing_key().as_nonzero_scalar(), ephemeral.as_affine());
        let recipient = me.id();
        let kek = wrap_kek(
            domain,
            shared.raw_secret_bytes().as_slice(),
            workspace,
            epoch,
            &self.ephemeral,
            &recipient,
        );
        let aad = wrap_aad(domain, workspace, epoch, &recipient);
        let plain = Zeroizing::new(
            aead_open(&kek, &self.nonce, &self.sealed, &aad).ok_or(KeyError::DoesNotOpen)?,
        );
        let mut out = Zeroizing::new([0u8; 32]);
        if plain.len() != 32 {
            return Err(KeyError::DoesNotOpen);
        }
        out.copy_from_slice(&plain);
        Ok(out)
    }

    /// The wire form ([`WRAPPED_KEY_LEN`] bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(WRAPPED_KEY_LEN);
        self.write(&mut w);
        w.finish()
    }

    /// Reads a wrapped key. Fails on a wrong length or an ephemeral key that is not a point.
    pub fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
        let mut r = Reader::new(bytes);
        let k = Self::read(&mut r)?;
        r.finish()?;
        Ok(k)
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.bytes(&self.ephemeral);
        w.bytes(&self.nonce);
        w.bytes(&self.sealed);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let ephemeral: [u8; 33] = r.array("ephemeral key")?;
        if PublicKey::from_sec1_bytes(&ephemeral).is_err() {
            return Err(WireError::Invalid {
                field: "ephemeral key",
                why: "it is not a compressed secp256k1 point".into(),
            });
        }
        Ok(Self {
            ephemeral,
            nonce: r.array("wrap nonce")?,
            sealed: r.array("wrapped key")?,
        })
    }
}

fn wrap_kek(
    domain: &[u8],
    shared_x: &[u8],
    workspace: &WorkspaceId,
    epoch: u32,
    ephemeral: &[u8; 33],
    recipient: &DeviceId,
) -> Zeroizing<[u8; 32]> {
    hkdf32(
        shared_x,
        &epoch_salt(workspace, epoch),
        &[domain, ephemeral, recipient.as_bytes()],
    )
}

fn wrap_aad(domain: &[u8], workspace: &WorkspaceId, epoch: u32, recipient: &DeviceId) -> Vec<u8> {
    concat(&[
        domain,
        workspace.as_bytes(),
        &epoch.to_be_bytes(),
        recipient.as_bytes(),
    ])
}

/// A list of `(epoch, key)` pairs sealed under one symmetric key (the common body of
/// [`PreviousKeys`], [`Lockbox`] and [`KeyShare`]), with a public index of which keys it holds
/// (their epochs and commitments), bound to the ciphertext as associated data.
#[derive(Clone, PartialEq, Eq)]
struct SealedList {
    index: Vec<(u32, KeyCheck)>,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl SealedList {
    fn seal(
        key: &[u8; 32],
        aad: &[u8],
        workspace: &WorkspaceId,
        keys: &[(u32, EpochKey)],
    ) -> Result<Self, WireError> {
        let mut list: Vec<(u32, KeyCheck, &EpochKey)> = keys
            .iter()
            .map(|(e, k)| (*e, k.check(workspace, *e), k))
            .collect();
        list.sort_by_key(|(e, c, _)| (*e, *c));
        list.dedup_by_key(|(e, c, _)| (*e, *c));
        if list.len() > MAX_SEALED_KEYS {
            return Err(WireError::TooLarge {
                field: "number of keys",
                found: list.len(),
                max: MAX_SEALED_KEYS,
            });
        }
        let index: Vec<(u32, KeyCheck)> = list.iter().map(|(e, c, _)| (*e, *c)).collect();
        let mut plain = Zeroizing::new(Vec::with_capacity(list.len() * EPOCH_KEY_LEN));
        for (_, _, k) in &list {
            plain.extend_from_slice(k.as_bytes());
        }
        let nonce = random_nonce();
        let ciphertext =
            aead_seal(key, &nonce, &plain, &list_aad(aad, &index)).ok_or(WireError::TooLarge {
                field: "key list",
                found: plain.len(),
                max: MAX_LIST_CIPHERTEXT,
            })?;
        Ok(Self {
            index,
            nonce,
            ciphertext,
        })
    }

    /// Opens the list; every key must match the commitment the index gives it.
    fn open(
        &self,
        key: &[u8; 32],
        aad: &[u8],
        workspace: &WorkspaceId,
    ) -> Result<Vec<(u32, EpochKey)>, KeyError> {
        let plain = Zeroizing::new(
            aead_open(
                key,
                &self.nonce,
                &self.ciphertext,
                &list_aad(aad, &self.index),
            )
            .ok_or(KeyError::DoesNotOpen)?,
        );
        if plain.len() != self.index.len() * EPOCH_KEY_LEN {
            return Err(KeyError::DoesNotOpen);
        }
        let mut out = Vec::with_capacity(self.index.len());
        for ((epoch, check), bytes) in self.index.iter().zip(plain.chunks_exact(EPOCH_KEY_LEN)) {
            let mut k = [0u8; EPOCH_KEY_LEN];
            k.copy_from_slice(bytes);
            let k = EpochKey(k);
            if k.check(workspace, *epoch) != *check {
                return Err(KeyError::WrongCommitment { epoch: *epoch });
            }
            out.push((*epoch, k));
        }
        Ok(out)
    }

    fn write(&self, w: &mut Writer) {
        w.u16(self.index.len() as u16);
        for (epoch, check) in &self.index {
            w.u32(*epoch);
            w.bytes(&check.0);
        }
        w.bytes(&self.nonce);
        w.long_field(&self.ciphertext);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let n = r.u16("number of keys")? as usize;
        if n > MAX_SEALED_KEYS {
            return Err(WireError::TooLarge {
                field: "number of keys",
                found: n,
                max: MAX_SEALED_KEYS,
            });
        }
        // Grown as entries are read, not reserved from the count: a two-byte count must not
        // reserve room for a thousand entries that are not there.
        let mut index: Vec<(u32, KeyCheck)> = Vec::new();
        for _ in 0..n {
            let entry = (r.u32("epoch")?, KeyCheck(r.array("key check")?));
            if index.last().is_some_and(|last| *last >= entry) {
                return Err(WireError::Invalid {
                    field: "key list",
                    why: "keys must be in ascending order without repeats".into(),
                });
            }
            index.push(entry);
        }
        let nonce = r.array("key list nonce")?;
        let ciphertext = r.long_field("key list", MAX_LIST_CIPHERTEXT)?.to_vec();
        if ciphertext.len() != n * EPOCH_KEY_LEN + TAG_LEN {
            return Err(WireError::Invalid {
                field: "key list",
                why: format!(
                    "{n} sealed keys take {} bytes, not {}",
                    n * EPOCH_KEY_LEN + TAG_LEN,
                    ciphertext.len()
                ),
            });
        }
        Ok(Self {
            index,
            nonce,
            ciphertext,
        })
    }
}

fn list_aad(aad: &[u8], index: &[(u32, KeyCheck)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(aad.len() + 2 + index.len() * 36);
    out.extend_from_slice(aad);
    out.extend_from_slice(&(index.len() as u16).to_be_bytes());
    for (epoch, check) in index {
        out.extend_from_slice(&epoch.to_be_bytes());
        out.extend_from_slice(&check.0);
    }
    out
}

macro_rules! sealed_list_wire {
    ($name:ident) => {
        impl $name {
            /// The wire form.
            pub fn encode(&self) -> Vec<u8> {
                let mut w = Writer::default();
                self.write(&mut w);
                w.finish()
            }

            /// Which keys it carries: their epochs and commitments (public; opening checks
            /// every key against its entry).
            pub fn index(&self) -> &[(u32, KeyCheck)] {
                self.list().index.as_slice()
            }

            /// Reads one. Checks structure and caps only; never panics.
            pub fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
                let mut r = Reader::new(bytes);
                let v = Self::read(&mut r)?;
                r.finish()?;
                Ok(v)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({} bytes)", stringify!($name), self.encode().len())
            }
        }
    };
}

/// The keys of earlier epochs, sealed under a new epoch's key: whoever can read the new
/// epoch can read the history written before it.
#[derive(Clone, PartialEq, Eq)]
pub struct PreviousKeys(SealedList);

impl PreviousKeys {
    /// Seals `keys` under `under`, the key of `epoch` in `workspace`.
    ///
    /// Fails if there are more than [`MAX_SEALED_KEYS`].
    pub fn seal(
        keys: &[(u32, EpochKey)],
        under: &EpochKey,
        workspace: &WorkspaceId,
        epoch: u32,
    ) -> Result<Self, WireError> {
        let k = under.derive(workspace, epoch, PREVIOUS_INFO);
        let aad = concat(&[PREVIOUS_INFO, workspace.as_bytes(), &epoch.to_be_bytes()]);
        Ok(Self(SealedList::seal(&k, &aad, workspace, keys)?))
    }

    /// Opens the list with the key of `epoch`. Fails on any other key or altered bytes.
    pub fn open(
        &self,
        under: &EpochKey,
        workspace: &WorkspaceId,
        epoch: u32,
    ) -> Result<Vec<(u32, EpochKey)>, KeyError> {
        let k = under.derive(workspace, epoch, PREVIOUS_INFO);
        let aad = concat(&[PREVIOUS_INFO, workspace.as_bytes(), &epoch.to_be_bytes()]);
        self.0.open(&k, &aad, workspace)
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        self.0.write(w)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self(SealedList::read(r)?))
    }

    fn list(&self) -> &SealedList {
        &self.0
    }
}
sealed_list_wire!(PreviousKeys);

/// The id of an invite: derived from its one-time secret, so the holder of a join code can
/// find the invite, and the id reveals nothing of the secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InviteId(pub [u8; 16]);

impl fmt::Display for InviteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for InviteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InviteId({self})")
    }
}

/// The one-time secret of an invite, carried in the join code. Zeroed when dropped; `Debug`
/// never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct InviteSecret([u8; 32]);

impl InviteSecret {
    /// A new random secret.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A secret from its bytes (as read from a join code).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The secret bytes, for the join code.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The id of the invite this secret opens.
    pub fn id(&self) -> InviteId {
        let digest = Sha256::new()
            .chain_update(INVITE_ID_DOMAIN)
            .chain_update(self.0)
            .finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        InviteId(id)
    }
}

impl Drop for InviteSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for InviteSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InviteSecret(for {})", self.id())
    }
}

/// An invite's lockbox: the keys the inviter held, sealed under the invite's one-time secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Lockbox(SealedList);

fn lockbox_key(secret: &InviteSecret, workspace: &WorkspaceId) -> (Zeroizing<[u8; 32]>, Vec<u8>) {
    let id = secret.id();
    let salt = concat(&[workspace.as_bytes(), &id.0]);
    let k = hkdf32(&secret.0, &salt, &[LOCKBOX_INFO]);
    let aad = concat(&[LOCKBOX_INFO, workspace.as_bytes(), &id.0]);
    (k, aad)
}

impl Lockbox {
    /// Seals `keys` for whoever holds `secret`, bound to `workspace` and the invite's id.
    ///
    /// Fails if there are more than [`MAX_SEALED_KEYS`].
    pub fn seal(
        keys: &[(u32, EpochKey)],
        secret: &InviteSecret,
        workspace: &WorkspaceId,
    ) -> Result<Self, WireError> {
        let (k, aad) = lockbox_key(secret, workspace);
        Ok(Self(SealedList::seal(&k, &aad, workspace, keys)?))
    }

    /// Opens the lockbox. Fails on another secret or workspace, or altered bytes.
    pub fn open(
        &self,
        secret: &InviteSecret,
        workspace: &WorkspaceId,
    ) -> Result<Vec<(u32, EpochKey)>, KeyError> {
        let (k, aad) = lockbox_key(secret, workspace);
        self.0.open(&k, &aad, workspace)
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        self.0.write(w)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self(SealedList::read(r)?))
    }

    fn list(&self) -> &SealedList {
        &self.0
    }
}
sealed_list_wire!(Lockbox);

/// Keys given to one device: a random bundle key wrapped for it, and the keys sealed under
/// the bundle key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyShare {
    wrapped: WrappedKey,
    keys: SealedList,
}

fn share_key(
    bundle: &[u8; 32],
    workspace: &WorkspaceId,
    recipient: &DeviceId,
) -> (Zeroizing<[u8; 32]>, Vec<u8>) {
    let k = hkdf32(
        bundle,
        workspace.as_bytes(),
        &[SHARE_INFO, recipient.as_bytes()],
    );
    let aad = concat(&[SHARE_INFO, workspace.as_bytes(), recipient.as_bytes()]);
    (k, aad)
}

impl KeyShare {
    /// Seals `keys` for `recipient` in `workspace`.
    ///
    /// Fails if there are more than [`MAX_SEALED_KEYS`].
    pub fn seal(
        keys: &[(u32, EpochKey)],
        workspace: &WorkspaceId,
        recipient: &DeviceId,
    ) -> Result<Self, WireError> {
        let mut bundle = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bundle.as_mut());
        let wrapped = WrappedKey::seal_secret(SHARE_WRAP_DOMAIN, &bundle, workspace, 0, recipient);
        let (k, aad) = share_key(&bundle, workspace, recipient);
        Ok(Self {
            wrapped,
            keys: SealedList::seal(&k, &aad, workspace, keys)?,
        })
    }

    /// Opens a share made for `me`. Fails if it is for another device or workspace, or altered.
    pub fn open(
        &self,
        workspace: &WorkspaceId,
        me: &DeviceKey,
    ) -> Result<Vec<(u32, EpochKey)>, KeyError> {
        let bundle = self
            .wrapped
            .open_secret(SHARE_WRAP_DOMAIN, workspace, 0, me)?;
        let (k, aad) = share_key(&bundle, workspace, &me.id());
        self.keys.open(&k, &aad, workspace)
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        self.wrapped.write(w);
        self.keys.write(w);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            wrapped: WrappedKey::read(r)?,
            keys: SealedList::read(r)?,
        })
    }

    fn list(&self) -> &SealedList {
        &self.keys
    }
}
sealed_list_wire!(KeyShare);

#[cfg(test)]
mod tests {
    use super::*;

    const WS: WorkspaceId = WorkspaceId([7; 32]);
    const OTHER_WS: WorkspaceId = WorkspaceId([8; 32]);

    fn keys(n: u32) -> Vec<(u32, EpochKey)> {
        (1..=n).map(|e| (e, EpochKey::generate())).collect()
    }

    #[test]
    fn debug_never_shows_secrets() {
        let key = EpochKey::from_bytes([0xab; 32]);
        let secret = InviteSecret::from_bytes([0xcd; 32]);
        assert!(!format!("{key:?}").contains("ab"));
        assert!(!format!("{secret:?}").to_lowercase().contains("cdcd"));
    }

    #[test]
    fn a_wrapped_key_opens_only_for_its_recipient_workspace_and_epoch() {
        let me = DeviceKey::generate();
        let other = DeviceKey::generate();
        let key = EpochKey::generate();
        let wrapped = WrappedKey::seal(&key, &WS, 3, &me.id());
        let back = WrappedKey::decode(&wrapped.encode()).unwrap();
        assert_eq!(back.encode().len(), WRAPPED_KEY_LEN);
        assert_eq!(back.open(&WS, 3, &me).unwrap(), key);
        assert_eq!(back.open(&WS, 3, &other), Err(KeyError::DoesNotOpen));
        assert_eq!(back.open(&OTHER_WS, 3, &me), Err(KeyError::DoesNotOpen));
        assert_eq!(back.open(&WS, 4, &me), Err(KeyError::DoesNotOpen));
        // A share-domain wrap of the same bytes is not an epoch-key wrap.
        let share = WrappedKey::seal_secret(SHARE_WRAP_DOMAIN, key.as_bytes(), &WS, 3, &me.id());
        assert_eq!(share.open(&WS, 3, &me), Err(KeyError::DoesNotOpen));
    }

    #[test]
    fn tampered_or_truncated_wraps_fail_without_panicking() {
        let me = DeviceKey::generate();
        let bytes = WrappedKey::seal(&EpochKey::generate(), &WS, 1, &me.id()).encode();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            if let Ok(w) = WrappedKey::decode(&bad) {
                assert!(w.open(&WS, 1, &me).is_err(), "flip at {i} still opened");
            }
        }
        for cut in 0..bytes.len() {
            assert!(WrappedKey::decode(&bytes[..cut]).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(WrappedKey::decode(&longer).is_err());
    }

    #[test]
    fn previous_keys_open_only_under_their_epoch() {
        let under = EpochKey::generate();
        let old = keys(3);
        let sealed = PreviousKeys::seal(&old, &under, &WS, 4).unwrap();
        let back = PreviousKeys::decode(&sealed.encode()).unwrap();
        assert_eq!(back.open(&under, &WS, 4).unwrap(), old);
        assert_eq!(back.index().len(), 3);
        assert!(back.open(&under, &WS, 5).is_err());
        assert!(back.open(&under, &OTHER_WS, 4).is_err());
        assert!(back.open(&EpochKey::generate(), &WS, 4).is_err());
        let bytes = sealed.encode();
        for cut in 0..bytes.len() {
            assert!(PreviousKeys::decode(&bytes[..cut]).is_err());
        }
        let mut bad = bytes.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(PreviousKeys::decode(&bad)
            .unwrap()
            .open(&under, &WS, 4)
            .is_err());
    }

    #[test]
    fn a_lockbox_opens_with_its_secret_in_its_workspace_only() {
        let secret = InviteSecret::generate();
        let carried = keys(2);
        let lockbox = Lockbox::seal(&carried, &secret, &WS).unwrap();
        let back = Lockbox::decode(&lockbox.encode()).unwrap();
        assert_eq!(back.open(&secret, &WS).unwrap(), carried);
        assert!(back.open(&InviteSecret::generate(), &WS).is_err());
        assert!(back.open(&secret, &OTHER_WS).is_err());
        assert_ne!(secret.id(), InviteSecret::generate().id());
        let copy = InviteSecret::from_bytes(*secret.as_bytes());
        assert_eq!(copy.id(), secret.id());
    }

    #[test]
    fn a_share_opens_only_for_its_device() {
        let me = DeviceKey::generate();
        let other = DeviceKey::generate();
        let carried = keys(5);
        let share = KeyShare::seal(&carried, &WS, &me.id()).unwrap();
        let back = KeyShare::decode(&share.encode()).unwrap();
        assert_eq!(back.open(&WS, &me).unwrap(), carried);
        assert!(back.open(&WS, &other).is_err());
        assert!(back.open(&OTHER_WS, &me).is_err());
        let bytes = share.encode();
        for cut in 0..bytes.len() {
            assert!(KeyShare::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn lists_are_capped_sorted_and_deduplicated() {
        let under = EpochKey::generate();
        let k = EpochKey::generate();
        let list = vec![(2, k.clone()), (1, EpochKey::generate()), (2, k.clone())];
        let sealed = PreviousKeys::seal(&list, &under, &WS, 3).unwrap();
        assert_eq!(sealed.index().len(), 2);
        assert_eq!(sealed.index()[1], (2, k.check(&WS, 2)));
        let opened = sealed.open(&under, &WS, 3).unwrap();
        assert_eq!(opened.len(), 2);
        assert!(opened[0].0 == 1 && opened[1].0 == 2);
        // The index is bound to the ciphertext: a changed entry does not open.
        let mut bytes = sealed.encode();
        bytes[2 + 36 + 10] ^= 1;
        let altered = PreviousKeys::decode(&bytes).unwrap();
        assert!(altered.open(&under, &WS, 3).is_err());
        let too_many: Vec<(u32, EpochKey)> = (0..=MAX_SEALED_KEYS as u32)
            .map(|e| (e, EpochKey::from_bytes([1; 32])))
            .collect();
        assert!(matches!(
            PreviousKeys::seal(&too_many, &under, &WS, 1),
            Err(WireError::TooLarge { .. })
        ));
    }

    #[test]
    fn checks_bind_workspace_and_epoch() {
        let k = EpochKey::generate();
        assert_eq!(k.check(&WS, 1), k.check(&WS, 1));
        assert_ne!(k.check(&WS, 1), k.check(&WS, 2));
        assert_ne!(k.check(&WS, 1), k.check(&OTHER_WS, 1));
        assert_ne!(k.check(&WS, 1), EpochKey::generate().check(&WS, 1));
    }
}
