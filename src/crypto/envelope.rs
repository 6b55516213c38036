//! Change envelopes: how one device's Loro update travels, signed by that device.
//!
//! ```text
//! envelope  = "WFTE" ‖ u16 header_len ‖ header ‖ u32 payload_len ‖ payload ‖ signature[64]
//! header    = u8 version (2) ‖ workspace[32] ‖ u32 epoch ‖ device[33] ‖ cert_hash[32]
//!             ‖ u64 seq ‖ i64 time ‖ u8 n ‖ n × u64 peer ‖ u8 s ‖ s × salt[16]
//!             ‖ u8 m ‖ m × acl_head[32] ‖ u8 b ‖ b × builds_on[32] ‖ u8 k ‖ nonce[k]
//!             (s is 0 or n: salt i derives peer i, see [`derive_peer`])
//! header v1 = u8 version (1) ‖ workspace[32] ‖ u32 epoch ‖ device[33] ‖ cert_hash[32]
//!             ‖ u64 seq ‖ i64 time ‖ u8 n ‖ n × u64 peer ‖ u8 m ‖ m × acl_head[32]
//!             ‖ u8 k ‖ nonce[k]                  (still read; no salts, cites nothing)
//! payload   = XChaCha20-Poly1305(k, nonce[24], Loro update, aad = header)      (epoch ≥ 1)
//!             k = HKDF-SHA256(epoch key, salt = workspace ‖ u32 epoch,
//!                             info = "weft/envelope-key/v1\0")
//!           | the Loro update itself                                         (epoch 0)
//! signature = ECDSA-secp256k1(device key, SHA-256("weft/envelope/v1\0" ‖ u64 len ‖ header
//!             ‖ u64 len ‖ payload)), compact r ‖ s, low-S
//! id        = that same SHA-256 digest
//! ```
//!
//! Encrypt-then-sign: the signature covers the header and the *ciphertext*, so a receiver
//! checks who wrote an envelope before it decrypts anything, and the header (associated data)
//! cannot be swapped onto another ciphertext. Epoch 0 with an empty nonce is the plaintext
//! form; the replica refuses it (every workspace is encrypted from its creation), but the
//! format keeps it so tools and tests can build one. Peers and ACL heads are strictly
//! ascending, so one header has exactly one encoding.
//!
//! Version 2 adds two things, both signed (see `acl::claims` for the rules that use them):
//! - **peer salts**: a Loro peer id that is `derive_peer(device, salt)` is provably that
//!   device's; nobody else can find a salt that derives it. A receiver checks each salt.
//! - **builds_on**: the ids of the envelopes that carried the Loro changes this one depends on
//!   (its update's external dependencies), so "which content did others build on" is signed
//!   evidence, not a matter of arrival order.
//!
//! A header version above [`HEADER_VERSION`] is refused as [`WireError::NewerVersion`]
//! ("written by a newer weft: upgrade"), never misread: its bytes are kept by the store and
//! judged again by a weft that knows the version.
//!
//! Decoding checks every length against its cap before reading and never panics; it checks
//! structure only. [`Envelope::verify_signature`] checks authorship, [`Envelope::open`]
//! decrypts; who may write what is the access-control layer's job.

use k256::ecdsa::VerifyingKey;

use super::epoch::{random_nonce, EpochKey, NONCE_LEN};
use super::ids::{AclOpId, EnvelopeId, WorkspaceId};
use super::signature::{
    domain_digest, sign_digest, verify_digest, DeviceSignature, SignatureCheckError, SIGNATURE_LEN,
};
use super::wire::{Reader, WireError, Writer};
use crate::identity::{CertHash, DeviceId, DeviceKey};

/// The header version this weft writes.
pub const HEADER_VERSION: u8 = 2;
/// The first header version, still read (and written on request, for tests and tools).
pub const HEADER_VERSION_1: u8 = 1;
/// Length of a peer salt.
pub const PEER_SALT_LEN: usize = 16;
/// Most envelopes one header may cite as built on.
pub const MAX_BUILDS_ON: usize = 64;
const PEER_DOMAIN: &[u8] = b"weft/loro-peer/v1\0";

/// A per-session salt from which a device derives its Loro peer id.
pub type PeerSalt = [u8; PEER_SALT_LEN];

/// The Loro peer id that `device` derives from `salt`: the first 8 bytes (big-endian) of
/// SHA-256("weft/loro-peer/v1\0" ‖ device ‖ salt). Nobody without a salt that derives it can
/// claim to have derived a given peer id, and a salt derives it only for one device.
pub fn derive_peer(device: &DeviceId, salt: &PeerSalt) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(PEER_DOMAIN);
    h.update(device.as_bytes());
    h.update(salt);
    let digest: [u8; 32] = h.finalize().into();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}
/// Largest encoded header.
pub const MAX_HEADER_BYTES: usize = 4 * 1024;
/// Largest payload (a Loro update's ciphertext).
pub const MAX_PAYLOAD_BYTES: usize = 8 * 1024 * 1024;
/// Most Loro peer ids one envelope may carry.
pub const MAX_PEERS: usize = 64;
/// Most ACL heads one envelope may cite.
pub const MAX_ACL_HEADS: usize = 64;
/// Longest nonce (XChaCha20-Poly1305 uses 24 bytes).
pub const MAX_NONCE_BYTES: usize = 32;

const MAGIC: &[u8; 4] = b"WFTE";
const DOMAIN: &[u8] = b"weft/envelope/v1\0";

/// Why an envelope could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The bytes are not a well-formed envelope.
    #[error("the envelope is malformed: {0}")]
    Malformed(#[from] WireError),
    /// The header names another device than the key signing it.
    #[error("the header names device {named}, but it is being signed by {signer}")]
    WrongSigner {
        /// Device in the header.
        named: DeviceId,
        /// Device whose key signs.
        signer: DeviceId,
    },
    /// Encryption needs a key epoch of 1 or more; epoch 0 means plaintext.
    #[error("the envelope is not encrypted (key epoch 0)")]
    NotEncrypted,
    /// The ciphertext does not authenticate under this key and header.
    #[error("it cannot be decrypted with epoch {epoch}'s key: it was sealed under another key, or its ciphertext or header was altered")]
    CannotDecrypt {
        /// The epoch the header names.
        epoch: u32,
    },
}

/// The signed, unencrypted part of an envelope: who wrote it, where, and what it depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeHeader {
    /// Header format version ([`HEADER_VERSION`]).
    pub version: u8,
    /// The workspace the change belongs to.
    pub workspace: WorkspaceId,
    /// Key epoch of the payload (1 and up); 0 only in the plaintext form.
    pub epoch: u32,
    /// The device that signed.
    pub device: DeviceId,
    /// The pairing certificate that lets the device sign for its wallet.
    pub cert_hash: CertHash,
    /// Per-device sequence number, starting at 1.
    pub seq: u64,
    /// When the author made the change, in Unix seconds (the author's claim; receivers bound it
    /// by the membership ops it cites and by their own clock).
    pub time: i64,
    /// The Loro peer ids whose changes the payload carries (ascending).
    pub peers: Vec<u64>,
    /// Version 2: empty, or one salt per peer (in the order of `peers`) from which the device
    /// derived it ([`derive_peer`]). Always empty in version 1.
    pub salts: Vec<PeerSalt>,
    /// The membership-log heads the author had seen (ascending).
    pub acl_heads: Vec<AclOpId>,
    /// Version 2: the envelopes carrying the Loro changes this one's update depends on
    /// (ascending). Always empty in version 1.
    pub builds_on: Vec<EnvelopeId>,
    /// Payload encryption nonce (24 bytes, set by [`Envelope::seal_encrypted`]); empty in the
    /// plaintext form.
    pub nonce: Vec<u8>,
}

impl EnvelopeHeader {
    fn encode(&self) -> Result<Vec<u8>, WireError> {
        let too_many = |field, found, max| Err(WireError::TooLarge { field, found, max });
        if self.peers.len() > MAX_PEERS {
            return too_many("number of peers", self.peers.len(), MAX_PEERS);
        }
        if self.acl_heads.len() > MAX_ACL_HEADS {
            return too_many("number of ACL heads", self.acl_heads.len(), MAX_ACL_HEADS);
        }
        if self.nonce.len() > MAX_NONCE_BYTES {
            return too_many("nonce length", self.nonce.len(), MAX_NONCE_BYTES);
        }
        if self.builds_on.len() > MAX_BUILDS_ON {
            return too_many(
                "number of envelopes built on",
                self.builds_on.len(),
                MAX_BUILDS_ON,
            );
        }
        let v1 = match self.version {
            HEADER_VERSION_1 => true,
            HEADER_VERSION => false,
            other => return Err(WireError::UnknownVersion(other)),
        };
        if v1 && (!self.salts.is_empty() || !self.builds_on.is_empty()) {
            return Err(WireError::Invalid {
                field: "header version",
                why: "version 1 carries no peer salts and cites no envelopes".into(),
            });
        }
        if !self.salts.is_empty() && self.salts.len() != self.peers.len() {
            return Err(WireError::Invalid {
                field: "peer salts",
                why: "there must be none, or one for each peer".into(),
            });
        }
        let mut w = Writer::with_capacity(
            200 + 24 * self.peers.len() + 32 * (self.acl_heads.len() + self.builds_on.len()),
        );
        w.u8(self.version);
        w.bytes(self.workspace.as_bytes());
        w.u32(self.epoch);
        w.bytes(self.device.as_bytes());
        w.bytes(&self.cert_hash.0);
        w.u64(self.seq);
        w.i64(self.time);
        let (peers, salts) = sorted_peers(&self.peers, &self.salts);
        w.u8(peers.len() as u8);
        for p in &peers {
            w.u64(*p);
        }
        if !v1 {
            w.u8(salts.len() as u8);
            for s in &salts {
                w.bytes(s);
            }
        }
        let mut heads = self.acl_heads.clone();
        heads.sort_unstable();
        heads.dedup();
        w.u8(heads.len() as u8);
        for h in heads {
            w.bytes(h.as_bytes());
        }
        if !v1 {
            let mut cited = self.builds_on.clone();
            cited.sort_unstable();
            cited.dedup();
            w.u8(cited.len() as u8);
            for e in cited {
                w.bytes(e.as_bytes());
            }
        }
        w.short_field(&self.nonce);
        Ok(w.finish())
    }

    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("header version")?;
        if version > HEADER_VERSION {
            return Err(WireError::NewerVersion(version));
        }
        if version != HEADER_VERSION && version != HEADER_VERSION_1 {
            return Err(WireError::UnknownVersion(version));
        }
        let v1 = version == HEADER_VERSION_1;
        let workspace = WorkspaceId(r.array("workspace id")?);
        let epoch = r.u32("epoch")?;
        let device_bytes: [u8; 33] = r.array("device id")?;
        let device = DeviceId::from_sec1_bytes(&device_bytes).map_err(|e| WireError::Invalid {
            field: "device id",
            why: e.to_string(),
        })?;
        let cert_hash = CertHash(r.array("certificate hash")?);
        let seq = r.u64("sequence number")?;
        if seq == 0 {
            return Err(WireError::Invalid {
                field: "sequence number",
                why: "sequence numbers start at 1".into(),
            });
        }
        let time = r.i64("time")?;
        let n = r.count8("number of peers", MAX_PEERS)?;
        let mut peers = Vec::with_capacity(n);
        for _ in 0..n {
            peers.push(r.u64("peer id")?);
        }
        strictly_ascending(&peers, "peer ids")?;
        let mut salts = Vec::new();
        if !v1 {
            let s = r.count8("number of peer salts", MAX_PEERS)?;
            if s != 0 && s != n {
                return Err(WireError::Invalid {
                    field: "peer salts",
                    why: format!("{s} salts for {n} peers (there must be none, or one each)"),
                });
            }
            for _ in 0..s {
                salts.push(r.array::<PEER_SALT_LEN>("peer salt")?);
            }
        }
        let m = r.count8("number of ACL heads", MAX_ACL_HEADS)?;
        let mut acl_heads = Vec::with_capacity(m);
        for _ in 0..m {
            acl_heads.push(AclOpId(r.array("ACL head")?));
        }
        strictly_ascending(&acl_heads, "ACL heads")?;
        let mut builds_on = Vec::new();
        if !v1 {
            let b = r.count8("number of envelopes built on", MAX_BUILDS_ON)?;
            builds_on.reserve(b);
            for _ in 0..b {
                builds_on.push(EnvelopeId(r.array("envelope built on")?));
            }
            strictly_ascending(&builds_on, "envelopes built on")?;
        }
        let nonce = r.short_field("nonce", MAX_NONCE_BYTES)?.to_vec();
        r.finish()?;
        Ok(Self {
            version,
            workspace,
            epoch,
            device,
            cert_hash,
            seq,
            time,
            peers,
            salts,
            acl_heads,
            builds_on,
            nonce,
        })
    }

    /// The first declared peer whose salt does not derive it from the header's device, if
    /// any (headers without salts derive nothing and prove nothing).
    pub fn underived_peer(&self) -> Option<u64> {
        if self.salts.is_empty() {
            return None;
        }
        if self.salts.len() != self.peers.len() {
            return self.peers.first().copied();
        }
        self.peers
            .iter()
            .zip(&self.salts)
            .find(|(p, s)| derive_peer(&self.device, s) != **p)
            .map(|(p, _)| *p)
    }

    /// The peers this header proves derived for its device (with their salts checked).
    pub fn derived_peers(&self) -> Vec<u64> {
        if self.salts.len() != self.peers.len() {
            return Vec::new();
        }
        self.peers
            .iter()
            .zip(&self.salts)
            .filter(|(p, s)| derive_peer(&self.device, s) == **p)
            .map(|(p, _)| *p)
            .collect()
    }
}

/// Peers ascending without repeats, each with its salt (if salts are given one per peer).
fn sorted_peers(peers: &[u64], salts: &[PeerSalt]) -> (Vec<u64>, Vec<PeerSalt>) {
    let mut pairs: Vec<(u64, Option<PeerSalt>)> = if salts.len() == peers.len() {
        peers
            .iter()
            .copied()
            .zip(salts.iter().copied().map(Some))
            .collect()
    } else {
        peers.iter().map(|p| (*p, None)).collect()
    };
    pairs.sort_by_key(|(p, _)| *p);
    pairs.dedup_by_key(|(p, _)| *p);
    let peers = pairs.iter().map(|(p, _)| *p).collect();
    let salts = pairs.iter().filter_map(|(_, s)| *s).collect();
    (peers, salts)
}

fn strictly_ascending<T: Ord>(items: &[T], field: &'static str) -> Result<(), WireError> {
    if items.windows(2).all(|w| w[0] < w[1]) {
        Ok(())
    } else {
        Err(WireError::Invalid {
            field,
            why: "they must be in ascending order without repeats".into(),
        })
    }
}

/// A signed change: header, payload (a Loro update), and the device's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    header: EnvelopeHeader,
    header_bytes: Vec<u8>,
    payload: Vec<u8>,
    signature: DeviceSignature,
    id: EnvelopeId,
}

impl Envelope {
    /// Signs a plaintext `payload` under `header` with `key` (epoch 0, empty nonce: the
    /// plaintext form, which replicas refuse; see [`seal_encrypted`](Self::seal_encrypted)).
    /// Peers and heads are sorted for you.
    ///
    /// Fails if the header names another device than `key`, or a field is over its cap.
    pub fn seal(
        header: EnvelopeHeader,
        payload: Vec<u8>,
        key: &DeviceKey,
    ) -> Result<Self, EnvelopeError> {
        let (header, header_bytes) = Self::prepare(header, key, payload.len())?;
        Ok(Self::sign(header, header_bytes, payload, key))
    }

    /// Encrypts `plaintext` (a Loro update) under `epoch_key`, the key of `header.epoch`, with
    /// a fresh random nonce and the encoded header as associated data, then signs header and
    /// ciphertext with `key`. The nonce in `header` is replaced; peers and heads are sorted.
    ///
    /// Fails if the epoch is 0, the header names another device than `key`, or a field is over
    /// its cap.
    pub fn seal_encrypted(
        mut header: EnvelopeHeader,
        plaintext: &[u8],
        key: &DeviceKey,
        epoch_key: &EpochKey,
    ) -> Result<Self, EnvelopeError> {
        if header.epoch == 0 {
            return Err(EnvelopeError::NotEncrypted);
        }
        let nonce = random_nonce();
        header.nonce = nonce.to_vec();
        let (header, header_bytes) =
            Self::prepare(header, key, plaintext.len().saturating_add(16))?;
        let payload = epoch_key
            .seal_payload(
                &header.workspace,
                header.epoch,
                &nonce,
                plaintext,
                &header_bytes,
            )
            .ok_or(WireError::TooLarge {
                field: "payload",
                found: plaintext.len(),
                max: MAX_PAYLOAD_BYTES,
            })?;
        Ok(Self::sign(header, header_bytes, payload, key))
    }

    /// Checks the signer and the caps, and encodes the header.
    fn prepare(
        mut header: EnvelopeHeader,
        key: &DeviceKey,
        payload_len: usize,
    ) -> Result<(EnvelopeHeader, Vec<u8>), EnvelopeError> {
        let signer = key.id();
        if header.device != signer {
            return Err(EnvelopeError::WrongSigner {
                named: header.device,
                signer,
            });
        }
        if payload_len > MAX_PAYLOAD_BYTES {
            return Err(WireError::TooLarge {
                field: "payload",
                found: payload_len,
                max: MAX_PAYLOAD_BYTES,
            }
            .into());
        }
        let (peers, salts) = sorted_peers(&header.peers, &header.salts);
        if !header.salts.is_empty() && salts.len() != peers.len() {
            return Err(WireError::Invalid {
                field: "peer salts",
                why: "there must be none, or one for each peer".into(),
            }
            .into());
        }
        header.peers = peers;
        header.salts = salts;
        header.builds_on.sort_unstable();
        header.builds_on.dedup();
        header.acl_heads.sort_unstable();
        header.acl_heads.dedup();
        let header_bytes = header.encode()?;
        if header_bytes.len() > MAX_HEADER_BYTES {
            return Err(WireError::TooLarge {
                field: "header",
                found: header_bytes.len(),
                max: MAX_HEADER_BYTES,
            }
            .into());
        }
        Ok((header, header_bytes))
    }

    fn sign(
        header: EnvelopeHeader,
        header_bytes: Vec<u8>,
        payload: Vec<u8>,
        key: &DeviceKey,
    ) -> Self {
        let digest = domain_digest(DOMAIN, &[&header_bytes, &payload]);
        let signature = sign_digest(key, &digest);
        Self {
            header,
            header_bytes,
            payload,
            signature,
            id: EnvelopeId(digest),
        }
    }

    /// Decrypts the payload with `key`, the key of the header's epoch. Check the signature
    /// first ([`verify_signature`](Self::verify_signature)): authorship is established before
    /// anything is decrypted.
    ///
    /// Fails if the envelope is plaintext (epoch 0), its nonce is not 24 bytes, or the
    /// ciphertext does not authenticate under this key and this exact header.
    pub fn open(&self, key: &EpochKey) -> Result<Vec<u8>, EnvelopeError> {
        let epoch = self.header.epoch;
        if epoch == 0 {
            return Err(EnvelopeError::NotEncrypted);
        }
        if self.header.nonce.len() != NONCE_LEN {
            return Err(WireError::Invalid {
                field: "nonce",
                why: format!(
                    "an encrypted envelope has a {NONCE_LEN}-byte nonce, this one has {}",
                    self.header.nonce.len()
                ),
            }
            .into());
        }
        key.open_payload(
            &self.header.workspace,
            epoch,
            &self.header.nonce,
            &self.payload,
            &self.header_bytes,
        )
        .ok_or(EnvelopeError::CannotDecrypt { epoch })
    }

    /// Reads an envelope. Checks structure and caps only, not the signature.
    ///
    /// Fails on any malformed, oversized or truncated input; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let mut r = Reader::new(bytes);
        if r.take(MAGIC.len(), "marker")? != MAGIC {
            return Err(WireError::BadMagic {
                expected: "envelope",
            }
            .into());
        }
        let header_bytes = r.medium_field("header", MAX_HEADER_BYTES)?.to_vec();
        let header = EnvelopeHeader::decode(&header_bytes)?;
        let payload = r.long_field("payload", MAX_PAYLOAD_BYTES)?.to_vec();
        let signature = DeviceSignature(r.array::<SIGNATURE_LEN>("signature")?);
        r.finish()?;
        let id = EnvelopeId(domain_digest(DOMAIN, &[&header_bytes, &payload]));
        Ok(Self {
            header,
            header_bytes,
            payload,
            signature,
            id,
        })
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(
            MAGIC.len() + 2 + self.header_bytes.len() + 4 + self.payload.len() + SIGNATURE_LEN,
        );
        w.bytes(MAGIC);
        w.medium_field(&self.header_bytes);
        w.long_field(&self.payload);
        w.bytes(&self.signature.0);
        w.finish()
    }

    /// Checks that the device named in the header signed exactly this header and payload.
    ///
    /// Fails if the signature is forged, or the header or payload was altered.
    pub fn verify_signature(&self) -> Result<(), SignatureCheckError> {
        self.verify_signature_with(&self.header.device.verifying_key())
    }

    /// As [`verify_signature`](Self::verify_signature), with the device's public key already
    /// decompressed (receivers cache it per device).
    pub fn verify_signature_with(&self, key: &VerifyingKey) -> Result<(), SignatureCheckError> {
        verify_digest(key, &self.id.0, &self.signature)
    }

    /// The content hash (also the signed digest).
    pub fn id(&self) -> EnvelopeId {
        self.id
    }

    /// The header.
    pub fn header(&self) -> &EnvelopeHeader {
        &self.header
    }

    /// The header exactly as signed (associated data for encryption).
    pub fn header_bytes(&self) -> &[u8] {
        &self.header_bytes
    }

    /// The payload as carried: the ciphertext of a Loro update (or the update itself in the
    /// plaintext form). [`open`](Self::open) decrypts it.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The signature.
    pub fn signature(&self) -> &DeviceSignature {
        &self.signature
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(key: &DeviceKey) -> EnvelopeHeader {
        EnvelopeHeader {
            version: HEADER_VERSION,
            workspace: WorkspaceId([7; 32]),
            epoch: 0,
            device: key.id(),
            cert_hash: CertHash([9; 32]),
            seq: 1,
            time: 1_790_000_000,
            peers: vec![42, 7],
            salts: vec![],
            acl_heads: vec![AclOpId([1; 32])],
            builds_on: vec![],
            nonce: vec![],
        }
    }

    #[test]
    fn round_trip_and_signature() {
        let key = DeviceKey::generate();
        let env = Envelope::seal(header(&key), b"update".to_vec(), &key).unwrap();
        assert_eq!(env.header().peers, vec![7, 42]);
        let back = Envelope::decode(&env.encode()).unwrap();
        assert_eq!(back, env);
        back.verify_signature().unwrap();
    }

    #[test]
    fn version_2_carries_salts_and_citations_and_version_1_still_reads() {
        let key = DeviceKey::generate();
        let salt = [3u8; PEER_SALT_LEN];
        let other = [4u8; PEER_SALT_LEN];
        let (p1, p2) = (
            derive_peer(&key.id(), &salt),
            derive_peer(&key.id(), &other),
        );
        let h = EnvelopeHeader {
            peers: vec![p2, p1],
            salts: vec![other, salt],
            builds_on: vec![EnvelopeId([9; 32]), EnvelopeId([2; 32])],
            ..header(&key)
        };
        let env = Envelope::seal(h, b"update".to_vec(), &key).unwrap();
        // Sorted with their salts, and every salt derives its peer.
        assert_eq!(env.header().underived_peer(), None);
        assert_eq!(env.header().derived_peers().len(), 2);
        assert_eq!(
            env.header().builds_on,
            vec![EnvelopeId([2; 32]), EnvelopeId([9; 32])]
        );
        let back = Envelope::decode(&env.encode()).unwrap();
        assert_eq!(back, env);
        // A salt of another device derives nothing for this one.
        let thief = DeviceKey::generate();
        let stolen = EnvelopeHeader {
            device: thief.id(),
            peers: vec![p1],
            salts: vec![salt],
            builds_on: vec![],
            ..header(&thief)
        };
        let stolen = Envelope::seal(stolen, vec![], &thief).unwrap();
        assert_eq!(stolen.header().underived_peer(), Some(p1));
        assert!(stolen.header().derived_peers().is_empty());
        // Version 1: read as before, and it cannot carry the new fields.
        let v1 = EnvelopeHeader {
            version: HEADER_VERSION_1,
            ..header(&key)
        };
        let old = Envelope::seal(v1.clone(), b"old".to_vec(), &key).unwrap();
        let back = Envelope::decode(&old.encode()).unwrap();
        assert_eq!(back.header().version, HEADER_VERSION_1);
        assert_eq!(back, old);
        assert!(Envelope::seal(
            EnvelopeHeader {
                builds_on: vec![EnvelopeId([1; 32])],
                ..v1
            },
            vec![],
            &key
        )
        .is_err());
        // A newer version is named as such, whatever follows.
        let mut newer = env.encode();
        newer[6] = HEADER_VERSION + 1;
        assert_eq!(
            Envelope::decode(&newer),
            Err(EnvelopeError::Malformed(WireError::NewerVersion(
                HEADER_VERSION + 1
            )))
        );
        // Every truncation is an error.
        let bytes = env.encode();
        for cut in 0..bytes.len() {
            assert!(Envelope::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let key = DeviceKey::generate();
        let env = Envelope::seal(header(&key), b"update".to_vec(), &key).unwrap();
        let mut bytes = env.encode();
        let n = bytes.len();
        bytes[n - SIGNATURE_LEN - 1] ^= 1; // last payload byte
        let tampered = Envelope::decode(&bytes).unwrap();
        assert_ne!(tampered.id(), env.id());
        assert_eq!(
            tampered.verify_signature(),
            Err(SignatureCheckError::Mismatch)
        );
    }

    fn encrypted_header(key: &DeviceKey, epoch: u32) -> EnvelopeHeader {
        EnvelopeHeader {
            epoch,
            ..header(key)
        }
    }

    #[test]
    fn encrypted_round_trip_hides_the_payload() {
        let key = DeviceKey::generate();
        let epoch_key = EpochKey::generate();
        let secret = b"the secret is swordfish";
        let env =
            Envelope::seal_encrypted(encrypted_header(&key, 2), secret, &key, &epoch_key).unwrap();
        assert_eq!(env.header().nonce.len(), NONCE_LEN);
        let bytes = env.encode();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret));
        let back = Envelope::decode(&bytes).unwrap();
        back.verify_signature().unwrap();
        assert_eq!(back.open(&epoch_key).unwrap(), secret);
        assert_eq!(
            back.open(&EpochKey::generate()),
            Err(EnvelopeError::CannotDecrypt { epoch: 2 })
        );
        // Two seals of the same update differ (fresh nonce).
        let again =
            Envelope::seal_encrypted(encrypted_header(&key, 2), secret, &key, &epoch_key).unwrap();
        assert_ne!(again.payload(), env.payload());
        assert_eq!(
            Envelope::seal_encrypted(header(&key), secret, &key, &epoch_key),
            Err(EnvelopeError::NotEncrypted)
        );
        let plain = Envelope::seal(header(&key), secret.to_vec(), &key).unwrap();
        assert_eq!(plain.open(&epoch_key), Err(EnvelopeError::NotEncrypted));
    }

    #[test]
    fn a_ciphertext_under_another_header_does_not_decrypt() {
        let key = DeviceKey::generate();
        let epoch_key = EpochKey::generate();
        let env = Envelope::seal_encrypted(encrypted_header(&key, 1), b"update", &key, &epoch_key)
            .unwrap();
        // The same ciphertext and nonce under a changed header, re-signed by the same device:
        // the signature is fine, decryption is not.
        for changed in [
            EnvelopeHeader {
                seq: 2,
                ..env.header().clone()
            },
            EnvelopeHeader {
                workspace: WorkspaceId([8; 32]),
                ..env.header().clone()
            },
            EnvelopeHeader {
                epoch: 3,
                ..env.header().clone()
            },
        ] {
            let moved = Envelope::seal(changed, env.payload().to_vec(), &key).unwrap();
            moved.verify_signature().unwrap();
            assert!(matches!(
                moved.open(&epoch_key),
                Err(EnvelopeError::CannotDecrypt { .. })
            ));
        }
        // A flipped ciphertext byte breaks the signature and, re-signed, the decryption.
        let mut payload = env.payload().to_vec();
        payload[0] ^= 1;
        let flipped = Envelope::seal(env.header().clone(), payload, &key).unwrap();
        assert!(flipped.open(&epoch_key).is_err());
    }

    #[test]
    fn signer_must_be_the_header_device() {
        let key = DeviceKey::generate();
        let other = DeviceKey::generate();
        assert!(matches!(
            Envelope::seal(header(&other), vec![], &key),
            Err(EnvelopeError::WrongSigner { .. })
        ));
    }
}
