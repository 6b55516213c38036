//! The opaque names devices announce on the LAN, and the keys of the direct link.
//!
//! An announcement's instance name is `<salt>-<tag>`: `salt` is 8 random bytes chosen per
//! process (so two devices of one workspace never announce the same name, and a device can tell
//! its own announcement), `tag` is a keyed hash of the workspace's current epoch key, the
//! workspace id, the salt and a 10-minute time window. Only a device holding the current epoch
//! key can make or recognise a tag; to anyone else both halves are random hex, and the tag
//! changes every window so a listener cannot follow a device from one day to the next.

use hkdf::Hkdf;
use sha2::Sha256;

use crate::crypto::WorkspaceId;

/// Length of a tag window in seconds.
pub const WINDOW_SECS: u64 = 600;
/// Bytes of salt in an instance name.
pub const SALT_LEN: usize = 8;
/// Bytes of tag in an instance name.
const TAG_LEN: usize = 16;

/// The secret everything on the LAN derives from: the current epoch key, with its epoch.
#[derive(Clone, PartialEq, Eq)]
pub struct LanSecret {
    /// The epoch the key belongs to.
    pub epoch: u32,
    key: [u8; 32],
}

impl std::fmt::Debug for LanSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LanSecret(epoch {})", self.epoch)
    }
}

impl LanSecret {
    /// From the current epoch's key bytes.
    pub fn new(epoch: u32, key: [u8; 32]) -> Self {
        Self { epoch, key }
    }

    fn derive(&self, workspace: &WorkspaceId, info: &[&[u8]]) -> [u8; 32] {
        let hk = Hkdf::<Sha256>::new(Some(workspace.as_bytes()), &self.key);
        let mut out = [0u8; 32];
        // 32 bytes is always a valid HKDF-SHA256 output length.
        let _ = hk.expand_multi_info(info, &mut out);
        out
    }

    /// The tag announced with `salt` in `window`.
    fn tag(&self, workspace: &WorkspaceId, salt: &[u8; SALT_LEN], window: u64) -> [u8; TAG_LEN] {
        let full = self.derive(
            workspace,
            &[b"weft/lan/token/v1", salt, &window.to_be_bytes()],
        );
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    /// The instance name this device announces in `window`.
    pub fn instance(&self, workspace: &WorkspaceId, salt: &[u8; SALT_LEN], window: u64) -> String {
        format!(
            "{}-{}",
            hex::encode(salt),
            hex::encode(self.tag(workspace, salt, window))
        )
    }

    /// The salt of an instance name made with this secret in the window before, this one or
    /// the next (clocks drift), else `None`: a stranger, another workspace, an older key.
    pub fn recognise(
        &self,
        workspace: &WorkspaceId,
        instance: &str,
        window: u64,
    ) -> Option<[u8; SALT_LEN]> {
        let (salt, tag) = parse_instance(instance)?;
        let ok = [window.saturating_sub(1), window, window.saturating_add(1)]
            .iter()
            .any(|w| ct_eq(&self.tag(workspace, &salt, *w), &tag));
        ok.then_some(salt)
    }

    /// The key that seals the link's proofs of membership.
    pub fn link_key(&self, workspace: &WorkspaceId) -> [u8; 32] {
        self.derive(workspace, &[b"weft/lan/link/v1"])
    }
}

/// The salt and tag of an instance name, if it has their shape.
pub fn parse_instance(instance: &str) -> Option<([u8; SALT_LEN], [u8; TAG_LEN])> {
    let (salt, tag) = instance.split_once('-')?;
    let mut s = [0u8; SALT_LEN];
    let mut t = [0u8; TAG_LEN];
    hex::decode_to_slice(salt, &mut s).ok()?;
    hex::decode_to_slice(tag, &mut t).ok()?;
    Some((s, t))
}

/// The time window of `unix_secs`.
pub fn window_at(unix_secs: u64) -> u64 {
    unix_secs / WINDOW_SECS
}

/// The time window now.
pub fn window_now() -> u64 {
    window_at(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: WorkspaceId = WorkspaceId([7; 32]);

    #[test]
    fn a_teammate_recognises_the_name_and_nobody_else_does() {
        let team = LanSecret::new(3, [1; 32]);
        let salt = [9; SALT_LEN];
        let name = team.instance(&WS, &salt, 1000);
        assert!(name.len() <= 63, "a DNS label: {name}");
        assert_eq!(team.recognise(&WS, &name, 1000), Some(salt));
        // the window before and after still count; further ones do not
        assert_eq!(team.recognise(&WS, &name, 1001), Some(salt));
        assert_eq!(team.recognise(&WS, &name, 999), Some(salt));
        assert_eq!(team.recognise(&WS, &name, 1002), None);
        // another workspace, an older epoch key
        assert_eq!(team.recognise(&WorkspaceId([8; 32]), &name, 1000), None);
        assert_eq!(LanSecret::new(2, [2; 32]).recognise(&WS, &name, 1000), None);
        // the name rotates with the window
        assert_ne!(name, team.instance(&WS, &salt, 1001));
        // garbage is not recognised
        for bad in ["", "-", "zz-zz", "0909090909090909", &name[..20]] {
            assert_eq!(team.recognise(&WS, bad, 1000), None, "{bad}");
        }
    }
}
