//! Membership ops: the signed entries of the membership log, and their wire form.
//!
//! ```text
//! op    = "WFTA" ‖ u32 body_len ‖ body ‖ signature[64]
//! body  = u8 version (1) ‖ u8 kind ‖ kind fields ‖ author[33] ‖ cert_hash[32]
//!         ‖ u8 n ‖ n × parent[32] ‖ i64 time ‖ u32 m ‖ m × (u64 peer ‖ u32 counter)
//! kinds = 0 Genesis{certificate, salt[16]} | 1 Add{address[20], role} | 2 ChangeRole{address[20], role}
//!         | 3 Remove{address[20]} | 4 RevokeDevice{device[33]} | 5 DeviceCertificate{certificate}
//!         | 6 RotateKey{u32 epoch ‖ check[32] ‖ u16 n ‖ n × (device[33] ‖ wrapped key[105])
//!                     ‖ previous keys}
//!         | 7 Invite{id[16] ‖ address[20] ‖ role ‖ lockbox}
//!         | 8 ShareKeys{device[33] ‖ key share}
//! certificate = u16 len ‖ SIWE text ‖ signature[65]
//! (wrapped key, previous keys, lockbox and key share: see [`crate::crypto::epoch`]; wrap
//! devices are strictly ascending, epochs start at 1)
//! id    = SHA-256("weft/acl-op/v1\0" ‖ u64 len ‖ body), the digest the author's device signs
//! ```

use std::collections::BTreeMap;

use k256::ecdsa::VerifyingKey;
use loro::{PeerID, VersionVector};

use super::role::Role;
use crate::crypto::epoch::{InviteId, KeyCheck, KeyShare, Lockbox, PreviousKeys, WrappedKey};
use crate::crypto::signature::{
    domain_digest, sign_digest, verify_digest, DeviceSignature, SignatureCheckError, SIGNATURE_LEN,
};
use crate::crypto::wire::{Reader, WireError, Writer};
use crate::crypto::AclOpId;
use crate::identity::{
    pairing::MAX_MESSAGE_BYTES, Address, CertHash, DeviceId, DeviceKey, PairingCertificate,
    Signature65,
};

const MAGIC: &[u8; 4] = b"WFTA";
const DOMAIN: &[u8] = b"weft/acl-op/v1\0";
const BODY_VERSION: u8 = 1;
/// Largest encoded op body.
pub const MAX_OP_BODY_BYTES: usize = 256 * 1024;
/// Most parents one op may cite.
pub const MAX_PARENTS: usize = 64;
/// Most entries in the content version an op records.
pub const MAX_SEEN_PEERS: usize = 16 * 1024;
/// Most devices one key rotation wraps the new key for.
pub const MAX_WRAPS: usize = 1000;

/// What a membership op does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclOpKind {
    /// Creates the workspace: the certificate's wallet is the owner, its device the first
    /// device. The salt makes every workspace's id unique.
    Genesis {
        /// The owner's pairing certificate for the device signing the genesis.
        certificate: PairingCertificate,
        /// Random bytes.
        salt: [u8; 16],
    },
    /// Gives an address that is not a member a role.
    Add {
        /// Who.
        member: Address,
        /// Which role.
        role: Role,
    },
    /// Changes a member's role.
    ChangeRole {
        /// Who.
        member: Address,
        /// The new role.
        role: Role,
    },
    /// Takes a member out of the workspace.
    Remove {
        /// Who.
        member: Address,
    },
    /// Stops a device from signing for its wallet, for good.
    RevokeDevice {
        /// Which device.
        device: DeviceId,
    },
    /// Publishes a pairing certificate: how a member's device joins.
    DeviceCertificate {
        /// The certificate.
        certificate: PairingCertificate,
    },
    /// Starts a new key epoch: a fresh key, wrapped for every device that may read, with the
    /// keys of earlier epochs sealed under it so those devices keep reading history.
    RotateKey {
        /// The new epoch (one more than the current one the author knew).
        epoch: u32,
        /// Commitment to the new key ([`crate::crypto::EpochKey::check`]).
        check: KeyCheck,
        /// The new key wrapped for each device, ascending by device.
        wraps: Vec<(DeviceId, WrappedKey)>,
        /// The earlier keys the author held, sealed under the new key.
        previous: PreviousKeys,
    },
    /// Gives an address that is not a member a role, like `Add`, with a lockbox that carries
    /// the keys the author held to whoever holds the invite's one-time secret (the join code).
    /// Write access is bound to the address; the code only gives read access to those keys.
    Invite {
        /// Derived from the one-time secret.
        id: InviteId,
        /// Who is invited.
        member: Address,
        /// With which role.
        role: Role,
        /// The keys, sealed under the secret.
        lockbox: Lockbox,
    },
    /// Gives the keys the author holds to one paired device of a member (a new device, or a
    /// member who joined after the current epoch began).
    ShareKeys {
        /// The device that receives them.
        device: DeviceId,
        /// The keys, sealed for that device.
        share: KeyShare,
    },
}

impl AclOpKind {
    fn tag(&self) -> u8 {
        match self {
            AclOpKind::Genesis { .. } => 0,
            AclOpKind::Add { .. } => 1,
            AclOpKind::ChangeRole { .. } => 2,
            AclOpKind::Remove { .. } => 3,
            AclOpKind::RevokeDevice { .. } => 4,
            AclOpKind::DeviceCertificate { .. } => 5,
            AclOpKind::RotateKey { .. } => 6,
            AclOpKind::Invite { .. } => 7,
            AclOpKind::ShareKeys { .. } => 8,
        }
    }

    /// A short description for lists ("add 0x… as editor").
    pub fn describe(&self) -> String {
        match self {
            AclOpKind::Genesis { certificate, .. } => {
                format!("create the workspace (owner {})", cert_address(certificate))
            }
            AclOpKind::Add { member, role } => format!("add {member} as {role}"),
            AclOpKind::ChangeRole { member, role } => format!("make {member} {role}"),
            AclOpKind::Remove { member } => format!("remove {member}"),
            AclOpKind::RevokeDevice { device } => format!("revoke device {device}"),
            AclOpKind::DeviceCertificate { certificate } => {
                format!("pair a device for {}", cert_address(certificate))
            }
            AclOpKind::RotateKey { epoch, wraps, .. } => {
                format!("start key epoch {epoch} (for {} devices)", wraps.len())
            }
            AclOpKind::Invite { member, role, .. } => format!("invite {member} as {role}"),
            AclOpKind::ShareKeys { device, .. } => format!("give the keys to device {device}"),
        }
    }
}

fn cert_address(certificate: &PairingCertificate) -> String {
    crate::identity::parse_canonical_siwe(certificate.message())
        .map(|m| Address::from_bytes(m.address).to_string())
        .unwrap_or_else(|_| "an unreadable certificate".into())
}

/// A content version: how far each Loro peer's changes go (exclusive end counter).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentVersion(pub BTreeMap<PeerID, u32>);

impl ContentVersion {
    /// From a Loro version vector.
    pub fn from_vv(vv: &VersionVector) -> Self {
        Self(
            vv.iter()
                .filter(|(_, c)| **c > 0)
                .map(|(p, c)| (*p, *c as u32))
                .collect(),
        )
    }

    /// Whether every change below `end` (a partial version vector) is included.
    pub fn includes(&self, end: &VersionVector) -> bool {
        end.iter()
            .all(|(p, c)| *c <= 0 || self.0.get(p).is_some_and(|have| *have as i64 >= *c as i64))
    }
}

/// The signed content of a membership op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclOpBody {
    /// What it does.
    pub kind: AclOpKind,
    /// The device that signs it.
    pub author: DeviceId,
    /// The certificate by which the device signs for its wallet.
    pub cert_hash: CertHash,
    /// The log heads the author had seen (empty only for the genesis).
    pub parents: Vec<AclOpId>,
    /// When, in Unix seconds (the author's claim, never earlier than its parents).
    pub time: i64,
    /// The document version the author had seen: under strong remove, a removed member's
    /// changes outside this version are void.
    pub seen: ContentVersion,
}

/// A signed membership op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclOp {
    body: AclOpBody,
    body_bytes: Vec<u8>,
    signature: DeviceSignature,
    id: AclOpId,
}

/// Why a membership op could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AclOpError {
    /// Malformed bytes.
    #[error("the membership op is malformed: {0}")]
    Malformed(#[from] WireError),
    /// The author field names another device than the signing key.
    #[error("the op names device {named} as author but is signed by {signer}")]
    WrongSigner {
        /// Named author.
        named: DeviceId,
        /// The signing device.
        signer: DeviceId,
    },
}

impl AclOp {
    /// Signs `body` with `key`. Parents are sorted for you.
    ///
    /// Fails if the body names another author than `key`, or is over a cap.
    pub fn sign(mut body: AclOpBody, key: &DeviceKey) -> Result<Self, AclOpError> {
        let signer = key.id();
        if body.author != signer {
            return Err(AclOpError::WrongSigner {
                named: body.author,
                signer,
            });
        }
        body.parents.sort_unstable();
        body.parents.dedup();
        let body_bytes = encode_body(&body)?;
        let digest = domain_digest(DOMAIN, &[&body_bytes]);
        let signature = sign_digest(key, &digest);
        Ok(Self {
            body,
            body_bytes,
            signature,
            id: AclOpId(digest),
        })
    }

    /// Reads an op: structure and caps only, not the signature. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, AclOpError> {
        let mut r = Reader::new(bytes);
        if r.take(MAGIC.len(), "marker")? != MAGIC {
            return Err(WireError::BadMagic {
                expected: "membership op",
            }
            .into());
        }
        let body_bytes = r.long_field("op body", MAX_OP_BODY_BYTES)?.to_vec();
        let signature = DeviceSignature(r.array::<SIGNATURE_LEN>("signature")?);
        r.finish()?;
        let body = decode_body(&body_bytes)?;
        let id = AclOpId(domain_digest(DOMAIN, &[&body_bytes]));
        Ok(Self {
            body,
            body_bytes,
            signature,
            id,
        })
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(MAGIC.len() + 4 + self.body_bytes.len() + SIGNATURE_LEN);
        w.bytes(MAGIC);
        w.long_field(&self.body_bytes);
        w.bytes(&self.signature.0);
        w.finish()
    }

    /// Checks the author device's signature. Fails if forged or altered.
    pub fn verify_signature(&self) -> Result<(), SignatureCheckError> {
        self.verify_signature_with(&self.body.author.verifying_key())
    }

    /// As [`verify_signature`](Self::verify_signature) with the key already decompressed.
    pub fn verify_signature_with(&self, key: &VerifyingKey) -> Result<(), SignatureCheckError> {
        verify_digest(key, &self.id.0, &self.signature)
    }

    /// The op's id (its signed digest).
    pub fn id(&self) -> AclOpId {
        self.id
    }

    /// The signed content.
    pub fn body(&self) -> &AclOpBody {
        &self.body
    }

    /// What it does.
    pub fn kind(&self) -> &AclOpKind {
        &self.body.kind
    }
}

fn encode_certificate(w: &mut Writer, certificate: &PairingCertificate) -> Result<(), WireError> {
    let message = certificate.message().as_bytes();
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::TooLarge {
            field: "certificate",
            found: message.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    w.medium_field(message);
    w.bytes(certificate.signature().as_bytes());
    Ok(())
}

fn decode_certificate(r: &mut Reader<'_>) -> Result<PairingCertificate, WireError> {
    let message = r.medium_field("certificate", MAX_MESSAGE_BYTES)?;
    let message = std::str::from_utf8(message).map_err(|_| WireError::Invalid {
        field: "certificate",
        why: "the text is not UTF-8".into(),
    })?;
    let raw: [u8; 65] = r.array("certificate signature")?;
    let signature = Signature65::from_bytes(&raw).map_err(|e| WireError::Invalid {
        field: "certificate signature",
        why: e.to_string(),
    })?;
    if signature.as_bytes() != &raw {
        return Err(WireError::Invalid {
            field: "certificate signature",
            why: "it is not in normalised form (low-S, v of 27 or 28)".into(),
        });
    }
    Ok(PairingCertificate::new(message.to_string(), signature))
}

fn encode_body(body: &AclOpBody) -> Result<Vec<u8>, WireError> {
    if body.parents.len() > MAX_PARENTS {
        return Err(WireError::TooLarge {
            field: "number of parents",
            found: body.parents.len(),
            max: MAX_PARENTS,
        });
    }
    if body.seen.0.len() > MAX_SEEN_PEERS {
        return Err(WireError::TooLarge {
            field: "content version",
            found: body.seen.0.len(),
            max: MAX_SEEN_PEERS,
        });
    }
    let mut w = Writer::with_capacity(256 + 32 * body.parents.len() + 12 * body.seen.0.len());
    w.u8(BODY_VERSION);
    w.u8(body.kind.tag());
    match &body.kind {
        AclOpKind::Genesis { certificate, salt } => {
            encode_certificate(&mut w, certificate)?;
            w.bytes(salt);
        }
        AclOpKind::Add { member, role } | AclOpKind::ChangeRole { member, role } => {
            w.bytes(member.as_bytes());
            w.u8(role.to_byte());
        }
        AclOpKind::Remove { member } => w.bytes(member.as_bytes()),
        AclOpKind::RevokeDevice { device } => w.bytes(device.as_bytes()),
        AclOpKind::DeviceCertificate { certificate } => encode_certificate(&mut w, certificate)?,
        AclOpKind::RotateKey {
            epoch,
            check,
            wraps,
            previous,
        } => {
            if wraps.len() > MAX_WRAPS {
                return Err(WireError::TooLarge {
                    field: "number of wrapped keys",
                    found: wraps.len(),
                    max: MAX_WRAPS,
                });
            }
            if *epoch == 0 || !wraps.windows(2).all(|p| p[0].0 < p[1].0) {
                return Err(WireError::Invalid {
                    field: "key rotation",
                    why: "epochs start at 1 and wraps are ascending by device, one each".into(),
                });
            }
            w.u32(*epoch);
            w.bytes(&check.0);
            w.u16(wraps.len() as u16);
            for (device, wrapped) in wraps {
                w.bytes(device.as_bytes());
                wrapped.write(&mut w);
            }
            previous.write(&mut w);
        }
        AclOpKind::Invite {
            id,
            member,
            role,
            lockbox,
        } => {
            w.bytes(&id.0);
            w.bytes(member.as_bytes());
            w.u8(role.to_byte());
            lockbox.write(&mut w);
        }
        AclOpKind::ShareKeys { device, share } => {
            w.bytes(device.as_bytes());
            share.write(&mut w);
        }
    }
    w.bytes(body.author.as_bytes());
    w.bytes(&body.cert_hash.0);
    w.u8(body.parents.len() as u8);
    for p in &body.parents {
        w.bytes(p.as_bytes());
    }
    w.i64(body.time);
    w.u32(body.seen.0.len() as u32);
    for (peer, counter) in &body.seen.0 {
        w.u64(*peer);
        w.u32(*counter);
    }
    Ok(w.finish())
}

fn device(r: &mut Reader<'_>, field: &'static str) -> Result<DeviceId, WireError> {
    let bytes: [u8; 33] = r.array(field)?;
    DeviceId::from_sec1_bytes(&bytes).map_err(|e| WireError::Invalid {
        field,
        why: e.to_string(),
    })
}

fn role(r: &mut Reader<'_>) -> Result<Role, WireError> {
    let b = r.u8("role")?;
    Role::from_byte(b).ok_or_else(|| WireError::Invalid {
        field: "role",
        why: format!("{b} is not a role"),
    })
}

fn decode_rotation(r: &mut Reader<'_>) -> Result<AclOpKind, WireError> {
    let epoch = r.u32("epoch")?;
    if epoch == 0 {
        return Err(WireError::Invalid {
            field: "epoch",
            why: "key epochs start at 1".into(),
        });
    }
    let check = KeyCheck(r.array("key check")?);
    let n = capped_count(r.u16("number of wrapped keys")? as usize)?;
    // Grown as wraps are read, not reserved from the count (which costs two bytes to claim).
    let mut wraps: Vec<(DeviceId, WrappedKey)> = Vec::new();
    for _ in 0..n {
        let d = device(r, "wrap recipient")?;
        if wraps.last().is_some_and(|(last, _)| *last >= d) {
            return Err(WireError::Invalid {
                field: "wrapped keys",
                why: "they must be ascending by device, one per device".into(),
            });
        }
        wraps.push((d, WrappedKey::read(r)?));
    }
    Ok(AclOpKind::RotateKey {
        epoch,
        check,
        wraps,
        previous: PreviousKeys::read(r)?,
    })
}

fn capped_count(n: usize) -> Result<usize, WireError> {
    if n > MAX_WRAPS {
        Err(WireError::TooLarge {
            field: "number of wrapped keys",
            found: n,
            max: MAX_WRAPS,
        })
    } else {
        Ok(n)
    }
}

fn decode_body(bytes: &[u8]) -> Result<AclOpBody, WireError> {
    let mut r = Reader::new(bytes);
    let version = r.u8("op version")?;
    if version != BODY_VERSION {
        return Err(WireError::UnknownVersion(version));
    }
    let kind = match r.u8("op kind")? {
        0 => AclOpKind::Genesis {
            certificate: decode_certificate(&mut r)?,
            salt: r.array("salt")?,
        },
        1 => AclOpKind::Add {
            member: Address::from_bytes(r.array("address")?),
            role: role(&mut r)?,
        },
        2 => AclOpKind::ChangeRole {
            member: Address::from_bytes(r.array("address")?),
            role: role(&mut r)?,
        },
        3 => AclOpKind::Remove {
            member: Address::from_bytes(r.array("address")?),
        },
        4 => AclOpKind::RevokeDevice {
            device: device(&mut r, "revoked device")?,
        },
        5 => AclOpKind::DeviceCertificate {
            certificate: decode_certificate(&mut r)?,
        },
        6 => decode_rotation(&mut r)?,
        7 => AclOpKind::Invite {
            id: InviteId(r.array("invite id")?),
            member: Address::from_bytes(r.array("address")?),
            role: role(&mut r)?,
            lockbox: Lockbox::read(&mut r)?,
        },
        8 => AclOpKind::ShareKeys {
            device: device(&mut r, "device given the keys")?,
            share: KeyShare::read(&mut r)?,
        },
        other => {
            return Err(WireError::Invalid {
                field: "op kind",
                why: format!("{other} is not a kind of membership op this weft knows"),
            })
        }
    };
    let author = device(&mut r, "author device")?;
    let cert_hash = CertHash(r.array("certificate hash")?);
    let n = r.count8("number of parents", MAX_PARENTS)?;
    let mut parents = Vec::with_capacity(n);
    for _ in 0..n {
        parents.push(AclOpId(r.array("parent")?));
    }
    if !parents.windows(2).all(|w| w[0] < w[1]) {
        return Err(WireError::Invalid {
            field: "parents",
            why: "they must be in ascending order without repeats".into(),
        });
    }
    let time = r.i64("time")?;
    let m = r.count32("content version", MAX_SEEN_PEERS)?;
    let mut seen = BTreeMap::new();
    let mut last: Option<u64> = None;
    for _ in 0..m {
        let peer = r.u64("peer")?;
        let counter = r.u32("counter")?;
        if last.is_some_and(|l| l >= peer) || counter == 0 {
            return Err(WireError::Invalid {
                field: "content version",
                why: "peers must be ascending, without repeats or zero counters".into(),
            });
        }
        last = Some(peer);
        seen.insert(peer, counter);
    }
    r.finish()?;
    Ok(AclOpBody {
        kind,
        author,
        cert_hash,
        parents,
        time,
        seen: ContentVersion(seen),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = DeviceKey::generate();
        let body = AclOpBody {
            kind: AclOpKind::Add {
                member: Address::from_bytes([3; 20]),
                role: Role::Editor,
            },
            author: key.id(),
            cert_hash: CertHash([1; 32]),
            parents: vec![AclOpId([9; 32]), AclOpId([2; 32])],
            time: 5,
            seen: ContentVersion([(7, 3)].into_iter().collect()),
        };
        let op = AclOp::sign(body, &key).unwrap();
        let bytes = op.encode();
        let back = AclOp::decode(&bytes).unwrap();
        assert_eq!(back, op);
        back.verify_signature().unwrap();
        let mut bad = bytes.clone();
        bad[12] ^= 0x40;
        if let Ok(op) = AclOp::decode(&bad) {
            assert!(op.verify_signature().is_err());
        }
        for cut in 0..bytes.len() {
            assert!(AclOp::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn key_ops_round_trip_and_truncations_are_errors() {
        use crate::crypto::{EpochKey, InviteSecret, WorkspaceId};
        let key = DeviceKey::generate();
        let ws = WorkspaceId([4; 32]);
        let epoch_key = EpochKey::generate();
        let mut recipients: Vec<DeviceId> = (0..3).map(|_| DeviceKey::generate().id()).collect();
        recipients.sort();
        let secret = InviteSecret::generate();
        let kinds = [
            AclOpKind::RotateKey {
                epoch: 2,
                check: epoch_key.check(&ws, 2),
                wraps: recipients
                    .iter()
                    .map(|d| (*d, WrappedKey::seal(&epoch_key, &ws, 2, d)))
                    .collect(),
                previous: PreviousKeys::seal(&[(1, EpochKey::generate())], &epoch_key, &ws, 2)
                    .unwrap(),
            },
            AclOpKind::Invite {
                id: secret.id(),
                member: Address::from_bytes([5; 20]),
                role: Role::Commenter,
                lockbox: Lockbox::seal(&[(1, epoch_key.clone())], &secret, &ws).unwrap(),
            },
            AclOpKind::ShareKeys {
                device: recipients[0],
                share: KeyShare::seal(&[(1, epoch_key.clone())], &ws, &recipients[0]).unwrap(),
            },
        ];
        for kind in kinds {
            let op = AclOp::sign(
                AclOpBody {
                    kind,
                    author: key.id(),
                    cert_hash: CertHash([1; 32]),
                    parents: vec![AclOpId([9; 32])],
                    time: 5,
                    seen: ContentVersion::default(),
                },
                &key,
            )
            .unwrap();
            let bytes = op.encode();
            assert_eq!(AclOp::decode(&bytes).unwrap(), op);
            for cut in 0..bytes.len() {
                assert!(AclOp::decode(&bytes[..cut]).is_err());
            }
        }
        // Wraps out of order are refused when signing.
        let unordered = AclOpBody {
            kind: AclOpKind::RotateKey {
                epoch: 1,
                check: epoch_key.check(&ws, 1),
                wraps: recipients
                    .iter()
                    .rev()
                    .map(|d| (*d, WrappedKey::seal(&epoch_key, &ws, 1, d)))
                    .collect(),
                previous: PreviousKeys::seal(&[], &epoch_key, &ws, 1).unwrap(),
            },
            author: key.id(),
            cert_hash: CertHash([1; 32]),
            parents: vec![],
            time: 5,
            seen: ContentVersion::default(),
        };
        assert!(AclOp::sign(unordered, &key).is_err());
    }
}
