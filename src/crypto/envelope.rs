//! Change envelopes: how one device's Loro update travels, signed by that device.
//!
//! ```text
//! envelope  = "WFTE" ‖ u16 header_len ‖ header ‖ u32 payload_len ‖ payload ‖ signature[64]
//! header    = u8 version (1) ‖ workspace[32] ‖ u32 epoch ‖ device[33] ‖ cert_hash[32]
//!             ‖ u64 seq ‖ i64 time ‖ u8 n ‖ n × u64 peer ‖ u8 m ‖ m × acl_head[32]
//!             ‖ u8 k ‖ nonce[k]
//! signature = ECDSA-secp256k1(device key, SHA-256("weft/envelope/v1\0" ‖ u64 len ‖ header
//!             ‖ u64 len ‖ payload)), compact r ‖ s, low-S
//! id        = that same SHA-256 digest
//! ```
//!
//! `epoch` and `nonce` are in the header from the first version: plaintext envelopes carry
//! epoch 0 and an empty nonce; encrypted envelopes fill them in and the payload becomes
//! ciphertext, with the header as associated data, so the format does not change. Peers and
//! ACL heads are strictly ascending, so one header has exactly one encoding.
//!
//! Decoding checks every length against its cap before reading and never panics; it checks
//! structure only. [`Envelope::verify_signature`] checks authorship; who may write what is the
//! access-control layer's job.

use k256::ecdsa::VerifyingKey;

use super::ids::{AclOpId, EnvelopeId, WorkspaceId};
use super::signature::{
    domain_digest, sign_digest, verify_digest, DeviceSignature, SignatureCheckError, SIGNATURE_LEN,
};
use super::wire::{Reader, WireError, Writer};
use crate::identity::{CertHash, DeviceId, DeviceKey};

/// The header version this weft writes.
pub const HEADER_VERSION: u8 = 1;
/// Largest encoded header.
pub const MAX_HEADER_BYTES: usize = 4 * 1024;
/// Largest payload (a Loro update, or later its ciphertext).
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
}

/// The signed, unencrypted part of an envelope: who wrote it, where, and what it depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeHeader {
    /// Header format version ([`HEADER_VERSION`]).
    pub version: u8,
    /// The workspace the change belongs to.
    pub workspace: WorkspaceId,
    /// Key epoch of the payload; 0 while payloads are plaintext.
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
    /// The membership-log heads the author had seen (ascending).
    pub acl_heads: Vec<AclOpId>,
    /// Payload encryption nonce; empty while payloads are plaintext.
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
        let mut w = Writer::with_capacity(160 + 8 * self.peers.len() + 32 * self.acl_heads.len());
        w.u8(self.version);
        w.bytes(self.workspace.as_bytes());
        w.u32(self.epoch);
        w.bytes(self.device.as_bytes());
        w.bytes(&self.cert_hash.0);
        w.u64(self.seq);
        w.i64(self.time);
        let mut peers = self.peers.clone();
        peers.sort_unstable();
        peers.dedup();
        w.u8(peers.len() as u8);
        for p in peers {
            w.u64(p);
        }
        let mut heads = self.acl_heads.clone();
        heads.sort_unstable();
        heads.dedup();
        w.u8(heads.len() as u8);
        for h in heads {
            w.bytes(h.as_bytes());
        }
        w.short_field(&self.nonce);
        Ok(w.finish())
    }

    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("header version")?;
        if version != HEADER_VERSION {
            return Err(WireError::UnknownVersion(version));
        }
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
        let m = r.count8("number of ACL heads", MAX_ACL_HEADS)?;
        let mut acl_heads = Vec::with_capacity(m);
        for _ in 0..m {
            acl_heads.push(AclOpId(r.array("ACL head")?));
        }
        strictly_ascending(&acl_heads, "ACL heads")?;
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
            acl_heads,
            nonce,
        })
    }
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
    /// Signs `payload` under `header` with `key`. Peers and heads are sorted for you.
    ///
    /// Fails if the header names another device than `key`, or a field is over its cap.
    pub fn seal(
        mut header: EnvelopeHeader,
        payload: Vec<u8>,
        key: &DeviceKey,
    ) -> Result<Self, EnvelopeError> {
        let signer = key.id();
        if header.device != signer {
            return Err(EnvelopeError::WrongSigner {
                named: header.device,
                signer,
            });
        }
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(WireError::TooLarge {
                field: "payload",
                found: payload.len(),
                max: MAX_PAYLOAD_BYTES,
            }
            .into());
        }
        header.peers.sort_unstable();
        header.peers.dedup();
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
        let digest = domain_digest(DOMAIN, &[&header_bytes, &payload]);
        let signature = sign_digest(key, &digest);
        Ok(Self {
            header,
            header_bytes,
            payload,
            signature,
            id: EnvelopeId(digest),
        })
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

    /// The payload: a Loro update (plaintext in this version).
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
            acl_heads: vec![AclOpId([1; 32])],
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
