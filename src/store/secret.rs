//! The home secret: one random 32-byte master key per home, from which the SQLCipher key of every
//! workspace database, the sealing key of the device key and local wallet, and the key of the other
//! private files are derived (HKDF-SHA256, one label each).
//!
//! Where the master key lives is chosen once per home and recorded in `$data/protection.json`
//! (which holds nothing secret):
//! - `keyring`: the OS keyring (Secret Service, macOS Keychain);
//! - `keyfile`: `$state/master.key`, mode 0600 — protects copies of the data dir, not a stolen disk;
//! - `passphrase`: wrapped in `protection.json` under Argon2id(passphrase) with XChaCha20-Poly1305.
//!
//! Changing or removing the passphrase re-wraps the master key and swaps one file atomically, so a
//! crash leaves either the old or the new protection in force and the data, keyed by the master key,
//! never needs rewriting.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::Home;
use crate::identity::keyfile::write_atomic;

const PROTECTION_FILE: &str = "protection.json";
const MASTER_FILE: &str = "master.key";
const KEYRING_SERVICE: &str = "weft";
/// A wrong passphrase costs at least this long, so guessing stays slow even on a fast machine.
const WRONG_PASSPHRASE_DELAY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("wrong passphrase (nothing was changed)")]
    WrongPassphrase,
    #[error("this home is protected by a passphrase: set WEFT_PASSPHRASE or run weft in a terminal to be asked")]
    PassphraseRequired,
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    #[error("{path}: {why}")]
    KeyFile { path: PathBuf, why: String },
    #[error("the OS keyring holds no weft key for this home ({0}); if the keyring was reset, the data cannot be decrypted — restore the keyring or a backup")]
    KeyringMissing(String),
    #[error("the OS keyring cannot be reached: {0}")]
    KeyringUnavailable(String),
    #[error("{path}: damaged ({why}); nothing was changed")]
    Damaged { path: PathBuf, why: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot decrypt {what}: it was not sealed by this home's key")]
    Unseal { what: String },
}

/// Where the master key is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protection {
    Keyring,
    Keyfile,
    Passphrase,
}

impl Protection {
    /// What this protection does and does not cover, for `weft doctor` and the README.
    pub fn explain(self) -> &'static str {
        match self {
            Protection::Keyring => "master key in the OS keyring: copies of the data dir and a stolen disk are unreadable without your login session",
            Protection::Keyfile => "master key in a 0600 file in the state dir: copies or backups of the data dir alone are unreadable; a stolen disk with both dirs is not protected",
            Protection::Passphrase => "master key wrapped by your passphrase (Argon2id): the files are unreadable without it, even from a stolen disk",
        }
    }
}

/// `protection.json`: how to find the master key. Holds no secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProtectionFile {
    version: u32,
    mode: Protection,
    /// Random id of this home (the keyring entry's name, bound into the wrapping).
    home_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wrapped: Option<Wrapped>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Wrapped {
    salt: String,
    m_cost_kib: u32,
    t_cost: u32,
    nonce: String,
    ciphertext: String,
}

/// How a person asked for the home to be protected.
#[derive(Debug, Clone)]
pub enum Requested {
    /// The OS keyring if reachable, else a key file.
    Auto,
    Passphrase(String),
}

/// The unlocked master key of a home.
pub struct HomeSecret {
    master: [u8; 32],
    protection: Protection,
    /// Warnings met while unlocking (a key file with loose permissions).
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for HomeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomeSecret")
            .field("protection", &self.protection)
            .finish_non_exhaustive()
    }
}

impl Drop for HomeSecret {
    fn drop(&mut self) {
        self.master = [0; 32];
    }
}

/// A SQLCipher raw key, as the `PRAGMA key` literal wants it.
#[derive(Clone)]
pub struct DbKey(String);

impl DbKey {
    pub(crate) fn pragma_literal(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbKey(…)")
    }
}

impl HomeSecret {
    pub fn protection(&self) -> Protection {
        self.protection
    }

    fn derive(&self, label: &str) -> [u8; 32] {
        let hk = Hkdf::<Sha256>::new(Some(b"weft/home/v1"), &self.master);
        let mut out = [0u8; 32];
        // 32 bytes is always a valid HKDF-SHA256 output length.
        let _ = hk.expand(label.as_bytes(), &mut out);
        out
    }

    /// The SQLCipher key of every workspace database in this home.
    pub fn db_key(&self) -> DbKey {
        DbKey(format!("x'{}'", hex::encode(self.derive("sqlcipher"))))
    }

    /// The passphrase that seals the device key and local wallet files.
    pub fn key_file_passphrase(&self) -> String {
        hex::encode(self.derive("key-files"))
    }

    /// The key of this home's attachment cache: chunks of attached files kept on this device,
    /// each encrypted with XChaCha20-Poly1305 under this key (see `sync::blobs`).
    pub fn attachment_cache_key(&self) -> [u8; 32] {
        self.derive("attachment-cache")
    }

    /// Encrypt a private file's contents (identity lists, attachment cache).
    pub fn seal(&self, what: &str, plaintext: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new(&self.derive("files").into());
        let nonce: [u8; 24] = rand::random();
        let mut out = b"weftseal1".to_vec();
        out.extend_from_slice(&nonce);
        // Encryption with a fresh nonce and a 32-byte key cannot fail.
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: what.as_bytes(),
                },
            )
            .unwrap_or_default();
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypt what [`seal`](Self::seal) wrote under the same `what`.
    pub fn unseal(&self, what: &str, sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        let err = || SecretError::Unseal {
            what: what.to_string(),
        };
        let rest = sealed.strip_prefix(b"weftseal1").ok_or_else(err)?;
        if rest.len() < 24 {
            return Err(err());
        }
        let (nonce, ct) = rest.split_at(24);
        let cipher = XChaCha20Poly1305::new(&self.derive("files").into());
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: what.as_bytes(),
                },
            )
            .map_err(|_| err())
    }
}

fn protection_path(home: &Home) -> PathBuf {
    home.data.join(PROTECTION_FILE)
}

fn master_path(home: &Home) -> PathBuf {
    home.state.join(MASTER_FILE)
}

/// Whether this home has chosen its protection yet.
pub fn is_set_up(home: &Home) -> bool {
    protection_path(home).is_file()
}

fn read_protection(home: &Home) -> Result<ProtectionFile, SecretError> {
    let path = protection_path(home);
    let text = std::fs::read_to_string(&path).map_err(|source| SecretError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| SecretError::Damaged {
        path,
        why: e.to_string(),
    })
}

fn kek(
    passphrase: &str,
    salt: &[u8],
    m_cost_kib: u32,
    t_cost: u32,
) -> Result<[u8; 32], SecretError> {
    if passphrase.is_empty() {
        return Err(SecretError::EmptyPassphrase);
    }
    // Caps keep a hostile protection.json from asking for gigabytes.
    let params = Params::new(
        m_cost_kib.clamp(8 * 1024, 1024 * 1024),
        t_cost.clamp(1, 16),
        1,
        Some(32),
    )
    .map_err(|e| SecretError::Damaged {
        path: PathBuf::from(PROTECTION_FILE),
        why: e.to_string(),
    })?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|e| SecretError::Damaged {
            path: PathBuf::from(PROTECTION_FILE),
            why: e.to_string(),
        })?;
    Ok(out)
}

fn wrap(master: &[u8; 32], passphrase: &str, home_id: &str) -> Result<Wrapped, SecretError> {
    let salt: [u8; 16] = rand::random();
    let (m_cost_kib, t_cost) = (64 * 1024, 3);
    let key = kek(passphrase, &salt, m_cost_kib, t_cost)?;
    let nonce: [u8; 24] = rand::random();
    let aad = format!("weft/master/v1/{home_id}");
    let ct = XChaCha20Poly1305::new(&key.into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: master,
                aad: aad.as_bytes(),
            },
        )
        .unwrap_or_default();
    Ok(Wrapped {
        salt: hex::encode(salt),
        m_cost_kib,
        t_cost,
        nonce: hex::encode(nonce),
        ciphertext: hex::encode(ct),
    })
}

fn unwrap(w: &Wrapped, passphrase: &str, home_id: &str) -> Result<[u8; 32], SecretError> {
    let damaged = |why: &str| SecretError::Damaged {
        path: PathBuf::from(PROTECTION_FILE),
        why: why.into(),
    };
    let salt = hex::decode(&w.salt).map_err(|_| damaged("bad salt"))?;
    let nonce = hex::decode(&w.nonce).map_err(|_| damaged("bad nonce"))?;
    let ct = hex::decode(&w.ciphertext).map_err(|_| damaged("bad ciphertext"))?;
    if nonce.len() != 24 {
        return Err(damaged("bad nonce"));
    }
    let started = Instant::now();
    let key = kek(passphrase, &salt, w.m_cost_kib, w.t_cost)?;
    let aad = format!("weft/master/v1/{home_id}");
    match XChaCha20Poly1305::new(&key.into()).decrypt(
        XNonce::from_slice(&nonce),
        Payload {
            msg: &ct,
            aad: aad.as_bytes(),
        },
    ) {
        Ok(m) if m.len() == 32 => {
            let mut out = [0u8; 32];
            out.copy_from_slice(&m);
            Ok(out)
        }
        _ => {
            std::thread::sleep(WRONG_PASSPHRASE_DELAY.saturating_sub(started.elapsed()));
            Err(SecretError::WrongPassphrase)
        }
    }
}

fn keyring_disabled() -> bool {
    std::env::var("WEFT_KEYRING").is_ok_and(|v| v == "off" || v == "0")
}

fn keyring_entry(home_id: &str) -> Result<keyring::Entry, SecretError> {
    keyring::Entry::new(KEYRING_SERVICE, home_id)
        .map_err(|e| SecretError::KeyringUnavailable(e.to_string()))
}

fn keyring_store(home_id: &str, master: &[u8; 32]) -> Result<(), SecretError> {
    if keyring_disabled() {
        return Err(SecretError::KeyringUnavailable(
            "disabled by WEFT_KEYRING=off".into(),
        ));
    }
    let entry = keyring_entry(home_id)?;
    entry
        .set_password(&hex::encode(master))
        .map_err(|e| SecretError::KeyringUnavailable(e.to_string()))?;
    // Read it back: some keyrings accept writes they cannot keep.
    match entry.get_password() {
        Ok(v) if v == hex::encode(master) => Ok(()),
        Ok(_) => Err(SecretError::KeyringUnavailable(
            "the keyring returned a different value".into(),
        )),
        Err(e) => Err(SecretError::KeyringUnavailable(e.to_string())),
    }
}

fn keyring_load(home_id: &str) -> Result<[u8; 32], SecretError> {
    if keyring_disabled() {
        return Err(SecretError::KeyringUnavailable(
            "disabled by WEFT_KEYRING=off".into(),
        ));
    }
    let value = match keyring_entry(home_id)?.get_password() {
        Ok(v) => v,
        Err(keyring::Error::NoEntry) => return Err(SecretError::KeyringMissing(home_id.into())),
        Err(e) => return Err(SecretError::KeyringUnavailable(e.to_string())),
    };
    let bytes =
        hex::decode(value.trim()).map_err(|_| SecretError::KeyringMissing(home_id.into()))?;
    bytes
        .try_into()
        .map_err(|_| SecretError::KeyringMissing(home_id.into()))
}

fn keyfile_load(home: &Home) -> Result<([u8; 32], Vec<String>), SecretError> {
    let path = master_path(home);
    let bytes = std::fs::read(&path).map_err(|e| SecretError::KeyFile {
        path: path.clone(),
        why: if e.kind() == std::io::ErrorKind::NotFound {
            "missing: without it this home's data cannot be decrypted; restore it from a backup"
                .into()
        } else {
            e.to_string()
        },
    })?;
    let master: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| SecretError::KeyFile {
            path: path.clone(),
            why: format!(
                "truncated or damaged ({} bytes, expected 32); restore it from a backup",
                bytes.len()
            ),
        })?;
    let mut warnings = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(&path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                warnings.push(format!(
                    "{} is readable by others (mode {mode:o}); run `chmod 600 {}`",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
    Ok((master, warnings))
}

/// Choose and record this home's protection, with a new master key.
pub fn set_up(home: &Home, requested: Requested) -> Result<HomeSecret, SecretError> {
    let master: [u8; 32] = rand::random();
    let home_id = hex::encode(rand::random::<[u8; 12]>());
    let (mode, wrapped) = match &requested {
        Requested::Passphrase(p) => (Protection::Passphrase, Some(wrap(&master, p, &home_id)?)),
        Requested::Auto => match keyring_store(&home_id, &master) {
            Ok(()) => (Protection::Keyring, None),
            Err(_) => {
                let path = master_path(home);
                write_atomic(&path, &master).map_err(|source| SecretError::Io { path, source })?;
                (Protection::Keyfile, None)
            }
        },
    };
    let file = ProtectionFile {
        version: 1,
        mode,
        home_id,
        wrapped,
    };
    let path = protection_path(home);
    let text = serde_json::to_vec_pretty(&file).unwrap_or_default();
    write_atomic(&path, &text).map_err(|source| SecretError::Io { path, source })?;
    Ok(HomeSecret {
        master,
        protection: mode,
        warnings: Vec::new(),
    })
}

/// Unlock the master key. `passphrase` is asked only when the home uses one.
pub fn unlock(
    home: &Home,
    passphrase: impl FnOnce() -> Result<String, SecretError>,
) -> Result<HomeSecret, SecretError> {
    let file = read_protection(home)?;
    let (master, warnings) = match file.mode {
        Protection::Keyring => (keyring_load(&file.home_id)?, Vec::new()),
        Protection::Keyfile => keyfile_load(home)?,
        Protection::Passphrase => {
            let w = file.wrapped.as_ref().ok_or_else(|| SecretError::Damaged {
                path: protection_path(home),
                why: "passphrase mode without a wrapped key".into(),
            })?;
            (unwrap(w, &passphrase()?, &file.home_id)?, Vec::new())
        }
    };
    Ok(HomeSecret {
        master,
        protection: file.mode,
        warnings,
    })
}

/// Protect the same master key differently (`weft passphrase set|change|remove`). One atomic file
/// swap decides; the old key file or keyring entry is removed only afterwards.
pub fn reprotect(
    home: &Home,
    secret: &HomeSecret,
    requested: Requested,
) -> Result<Protection, SecretError> {
    let old = read_protection(home)?;
    let (mode, wrapped) = match &requested {
        Requested::Passphrase(p) => (
            Protection::Passphrase,
            Some(wrap(&secret.master, p, &old.home_id)?),
        ),
        Requested::Auto => match keyring_store(&old.home_id, &secret.master) {
            Ok(()) => (Protection::Keyring, None),
            Err(_) => {
                let path = master_path(home);
                write_atomic(&path, &secret.master)
                    .map_err(|source| SecretError::Io { path, source })?;
                (Protection::Keyfile, None)
            }
        },
    };
    let file = ProtectionFile {
        version: 1,
        mode,
        home_id: old.home_id.clone(),
        wrapped,
    };
    let path = protection_path(home);
    let text = serde_json::to_vec_pretty(&file).unwrap_or_default();
    write_atomic(&path, &text).map_err(|source| SecretError::Io { path, source })?;
    // The new protection is in force; now drop the old copies of the key.
    if old.mode == Protection::Keyfile && mode != Protection::Keyfile {
        let _ = std::fs::remove_file(master_path(home));
    }
    if old.mode == Protection::Keyring && mode != Protection::Keyring {
        if let Ok(e) = keyring_entry(&old.home_id) {
            let _ = e.delete_credential();
        }
    }
    Ok(mode)
}
