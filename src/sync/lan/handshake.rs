//! The membership handshake of a direct link, before any frame flows.
//!
//! ```text
//! dialer → listener   hello: "WFTL" ‖ version ‖ nonce_d (32 random bytes)
//! listener → dialer   hello: "WFTL" ‖ version ‖ nonce_l
//! dialer → listener   proof, sealed: device_d ‖ sig_d
//! listener → dialer   proof, sealed: device_l ‖ sig_l          (only if the dialer's was good)
//! ```
//!
//! `sig_x` is the device key's signature over `weft/lan-link/v1`, the workspace id, the signer's
//! role (`dial`/`listen`, so a proof cannot be reflected) and both nonces (so it cannot be
//! replayed). A proof is sealed (XChaCha20-Poly1305) under a key derived from the current epoch
//! key, so a stranger or a removed member who connects learns no device id. A proof is accepted
//! when it opens, its device is a paired, unrevoked device of a current member
//! ([`Trust::devices`]), and the signature checks. Anything else ends the connection with a
//! refusal whose reason is sent in the WebSocket close frame.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::Trust;
use crate::crypto::signature::{domain_digest, sign_digest, verify_digest};
use crate::crypto::{DeviceSignature, WorkspaceId};
use crate::identity::DeviceId;

const MAGIC: &[u8; 4] = b"WFTL";
/// The version of the link this weft speaks.
pub const VERSION: u8 = 1;
const NONCE: usize = 32;
/// Length of a hello.
pub const HELLO_LEN: usize = 4 + 1 + NONCE;
const SEAL_NONCE: usize = 24;
const PROOF_PLAIN: usize = 33 + 64;
/// Length of a sealed proof.
pub const PROOF_LEN: usize = SEAL_NONCE + PROOF_PLAIN + 16;
const DOMAIN: &[u8] = b"weft/lan-link/v1\0";

/// Which end of the link a device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Dial,
    Listen,
}

impl Role {
    fn label(self) -> &'static [u8] {
        match self {
            Role::Dial => b"dial",
            Role::Listen => b"listen",
        }
    }
}

/// Why a link was refused. The text is what the other end reads in the close frame (at most
/// 123 bytes, the WebSocket limit).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("refused: not a weft LAN link")]
    NotWeft,
    #[error("refused: written by a newer weft (LAN link v{0}): upgrade")]
    Newer(u8),
    #[error("refused: LAN link v{0} is not spoken here")]
    Older(u8),
    #[error("refused: the proof is not sealed with this workspace's current key")]
    NotSealed,
    #[error("refused: device {0} is not a current member's device in this workspace")]
    NotMember(String),
    #[error("refused: the device's signature does not check")]
    BadSignature,
    #[error("refused: the handshake took too long")]
    Timeout,
    #[error("refused: too many connections are being checked; try again")]
    Busy,
    #[error("refused: this device is not linking now (not a current member)")]
    NotLinking,
    #[error("refused: this device is already linked")]
    AlreadyLinked,
    #[error("refused: that is this device")]
    SameDevice,
    #[error("refused: the connection ended during the handshake: {0}")]
    Ended(String),
    /// The other end's own reason (from its close frame).
    #[error("the other device said: {0}")]
    Remote(String),
}

/// A fresh nonce.
pub fn nonce() -> [u8; NONCE] {
    let mut n = [0u8; NONCE];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut n);
    n
}

/// A hello carrying `nonce`.
pub fn hello(nonce: &[u8; NONCE]) -> Vec<u8> {
    [MAGIC.as_slice(), &[VERSION], nonce].concat()
}

/// The nonce of a hello.
pub fn read_hello(bytes: &[u8]) -> Result<[u8; NONCE], Refusal> {
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or(Refusal::NotWeft)?;
    let (&version, nonce) = rest.split_first().ok_or(Refusal::NotWeft)?;
    if version > VERSION {
        return Err(Refusal::Newer(version));
    }
    if version < VERSION {
        return Err(Refusal::Older(version));
    }
    nonce.try_into().map_err(|_| Refusal::NotWeft)
}

fn digest(
    workspace: &WorkspaceId,
    role: Role,
    dial_nonce: &[u8; NONCE],
    listen_nonce: &[u8; NONCE],
) -> [u8; 32] {
    domain_digest(
        DOMAIN,
        &[workspace.as_bytes(), role.label(), dial_nonce, listen_nonce],
    )
}

fn aad(role: Role) -> Vec<u8> {
    [MAGIC.as_slice(), &[VERSION], role.label()].concat()
}

/// This device's proof for its `role`, sealed.
pub fn proof(
    trust: &Trust,
    role: Role,
    dial_nonce: &[u8; NONCE],
    listen_nonce: &[u8; NONCE],
) -> Result<Vec<u8>, Refusal> {
    let secret = trust.secret.as_ref().ok_or(Refusal::NotLinking)?;
    let sig = sign_digest(
        &trust.key,
        &digest(&trust.workspace, role, dial_nonce, listen_nonce),
    );
    let plain = [trust.key.id().as_bytes().as_slice(), &sig.0].concat();
    let cipher = XChaCha20Poly1305::new(&secret.link_key(&trust.workspace).into());
    let mut n = [0u8; SEAL_NONCE];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut n);
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&n),
            Payload {
                msg: &plain,
                aad: &aad(role),
            },
        )
        .map_err(|_| Refusal::NotLinking)?;
    Ok([n.as_slice(), &ct].concat())
}

/// The device whose proof, made for `role`, this is, if it opens, names a device this workspace
/// trusts, and its signature checks.
pub fn check_proof(
    trust: &Trust,
    role: Role,
    dial_nonce: &[u8; NONCE],
    listen_nonce: &[u8; NONCE],
    sealed: &[u8],
) -> Result<DeviceId, Refusal> {
    let secret = trust.secret.as_ref().ok_or(Refusal::NotLinking)?;
    if sealed.len() != PROOF_LEN {
        return Err(Refusal::NotSealed);
    }
    let (n, ct) = sealed.split_at(SEAL_NONCE);
    let cipher = XChaCha20Poly1305::new(&secret.link_key(&trust.workspace).into());
    let plain = cipher
        .decrypt(
            XNonce::from_slice(n),
            Payload {
                msg: ct,
                aad: &aad(role),
            },
        )
        .map_err(|_| Refusal::NotSealed)?;
    let (device, sig) = plain.split_at(33);
    let device = DeviceId::from_sec1_bytes(device).map_err(|_| Refusal::BadSignature)?;
    if !trust.devices.contains(&device) {
        return Err(Refusal::NotMember(
            device.to_string().chars().take(16).collect(),
        ));
    }
    let sig: [u8; 64] = sig.try_into().map_err(|_| Refusal::BadSignature)?;
    verify_digest(
        &device.verifying_key(),
        &digest(&trust.workspace, role, dial_nonce, listen_nonce),
        &DeviceSignature(sig),
    )
    .map_err(|_| Refusal::BadSignature)?;
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::super::token::LanSecret;
    use super::*;
    use crate::identity::DeviceKey;

    fn trust(key: &DeviceKey, others: &[DeviceId], secret: [u8; 32]) -> Trust {
        Trust {
            workspace: WorkspaceId([5; 32]),
            key: key.clone(),
            secret: Some(LanSecret::new(1, secret)),
            devices: others.iter().copied().chain([key.id()]).collect(),
        }
    }

    #[test]
    fn members_prove_themselves_and_nothing_else_passes() {
        let (a, b, c) = (
            DeviceKey::generate(),
            DeviceKey::generate(),
            DeviceKey::generate(),
        );
        let ta = trust(&a, &[b.id()], [1; 32]);
        let tb = trust(&b, &[a.id()], [1; 32]);
        let (nd, nl) = (nonce(), nonce());
        let p = proof(&ta, Role::Dial, &nd, &nl).unwrap();
        assert_eq!(p.len(), PROOF_LEN);
        assert_eq!(check_proof(&tb, Role::Dial, &nd, &nl, &p), Ok(a.id()));
        // reflected as the other role, replayed with other nonces
        assert_eq!(
            check_proof(&tb, Role::Listen, &nd, &nl, &p),
            Err(Refusal::NotSealed)
        );
        assert_eq!(
            check_proof(&tb, Role::Dial, &nonce(), &nl, &p),
            Err(Refusal::BadSignature)
        );
        // a device the workspace does not trust (a removed member who still has the key)
        let tc = trust(&c, &[b.id()], [1; 32]);
        let pc = proof(&tc, Role::Dial, &nd, &nl).unwrap();
        assert!(matches!(
            check_proof(&tb, Role::Dial, &nd, &nl, &pc),
            Err(Refusal::NotMember(_))
        ));
        // another workspace's key
        let other = trust(&a, &[b.id()], [2; 32]);
        let po = proof(&other, Role::Dial, &nd, &nl).unwrap();
        assert_eq!(
            check_proof(&tb, Role::Dial, &nd, &nl, &po),
            Err(Refusal::NotSealed)
        );
        // garbage of any length
        for n in [0, 1, PROOF_LEN - 1, PROOF_LEN, PROOF_LEN + 1, 5000] {
            assert!(check_proof(&tb, Role::Dial, &nd, &nl, &vec![0xa5; n]).is_err());
        }
        // every refusal fits a close frame
        for r in [
            Refusal::NotMember("x".repeat(16)),
            Refusal::Newer(9),
            Refusal::Busy,
            Refusal::NotSealed,
        ] {
            assert!(r.to_string().len() <= 123, "{r}");
        }
    }

    #[test]
    fn hellos_name_their_version() {
        let n = nonce();
        assert_eq!(read_hello(&hello(&n)), Ok(n));
        let mut newer = hello(&n);
        newer[4] = 2;
        let err = read_hello(&newer).unwrap_err();
        assert!(err.to_string().contains("newer weft"), "{err}");
        assert_eq!(read_hello(b"GET / HTTP/1.1"), Err(Refusal::NotWeft));
        assert_eq!(read_hello(&hello(&n)[..20]), Err(Refusal::NotWeft));
    }
}
