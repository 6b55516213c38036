//! What the carriers see: every object put in the bucket and every frame sent to the room is
//! sealed with the workspace's carrier key (XChaCha20-Poly1305, a random nonce per object), so
//! the bucket and the relay hold ciphertext only — membership ops and certificates (which name
//! wallet addresses) included. Envelopes inside are encrypted again under the epoch key; the
//! carrier key hides their headers and the membership log from anyone outside the workspace.
//!
//! The carrier key is random per workspace, kept in the encrypted database and handed over in
//! join codes. It does not rotate: a removed member still holds it, and so can read the
//! membership log and see ciphertext come and go, but not read any change written after their
//! removal (that takes the epoch key).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::crypto::WorkspaceId;

const MAGIC: &[u8; 4] = b"WFTC";
const NONCE: usize = 24;

/// The carrier key of a workspace.
#[derive(Clone)]
pub struct CarrierKey([u8; 32]);

impl std::fmt::Debug for CarrierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CarrierKey(…)")
    }
}

impl CarrierKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut k);
        Self(k)
    }

    /// From its hex form (as kept and as in join codes).
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
        Some(Self(bytes))
    }

    /// Its hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn derive(&self, workspace: &WorkspaceId, label: &[u8]) -> [u8; 32] {
        let hk = Hkdf::<Sha256>::new(Some(workspace.as_bytes()), &self.0);
        let mut out = [0u8; 32];
        // 32 bytes is always a valid HKDF-SHA256 output length.
        let _ = hk.expand(label, &mut out);
        out
    }

    /// The room id on the relay: unguessable without the key.
    pub fn room(&self, workspace: &WorkspaceId) -> [u8; 32] {
        self.derive(workspace, b"weft/room/v1")
    }

    /// Seal `bytes`, of kind `kind` (bound, so an object cannot pass as another kind).
    pub fn seal(&self, workspace: &WorkspaceId, kind: &[u8], bytes: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new(&self.derive(workspace, b"weft/carrier/v1").into());
        let mut nonce = [0u8; NONCE];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let aad = [MAGIC.as_slice(), workspace.as_bytes(), kind].concat();
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: bytes,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        [MAGIC.as_slice(), &nonce, &ct].concat()
    }

    /// Open what [`seal`](Self::seal) made; fails on anything else, never panics.
    pub fn open(
        &self,
        workspace: &WorkspaceId,
        kind: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, String> {
        let rest = sealed
            .strip_prefix(MAGIC.as_slice())
            .ok_or("not sealed for this workspace's carriers")?;
        if rest.len() < NONCE + 16 {
            return Err("truncated".into());
        }
        let (nonce, ct) = rest.split_at(NONCE);
        let cipher = XChaCha20Poly1305::new(&self.derive(workspace, b"weft/carrier/v1").into());
        let aad = [MAGIC.as_slice(), workspace.as_bytes(), kind].concat();
        cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| "it does not open with this workspace's key: damaged, or not ours".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_mismatch_fails() {
        let k = CarrierKey::generate();
        let ws = WorkspaceId([7; 32]);
        let sealed = k.seal(&ws, b"acl", b"the secret is swordfish");
        assert!(!sealed.windows(9).any(|w| w == b"swordfish"));
        assert_eq!(
            k.open(&ws, b"acl", &sealed).unwrap(),
            b"the secret is swordfish"
        );
        assert!(k.open(&ws, b"log", &sealed).is_err(), "another kind");
        assert!(
            k.open(&WorkspaceId([8; 32]), b"acl", &sealed).is_err(),
            "another workspace"
        );
        assert!(
            CarrierKey::generate().open(&ws, b"acl", &sealed).is_err(),
            "another key"
        );
        let mut flipped = sealed.clone();
        flipped[40] ^= 1;
        assert!(k.open(&ws, b"acl", &flipped).is_err());
        for n in 0..sealed.len() {
            assert!(k.open(&ws, b"acl", &sealed[..n]).is_err());
        }
        assert_eq!(CarrierKey::from_hex(&k.to_hex()).unwrap().0, k.0);
        assert!(CarrierKey::from_hex("zz").is_none());
    }
}
