//! The identity files of one home: this device's key, the local wallet, the pairing certificates this
//! device holds, and pairings waiting for a signature.
//!
//! ```text
//! $data/identity/device.key          secp256k1, mode 0600
//! $data/identity/wallet.key          the local wallet (an EOA), mode 0600
//! $data/identity/certificates.json   [{message, signature}], this device's pairings
//! $data/identity/pending.json        {address: message} waiting for a signature
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::identity::{
    Address, DeviceKey, KeyFileError, LocalWallet, PairingCertificate, PairingError,
    PairingRequest, VerifiedPairing, VerifyPolicy,
};

use std::sync::Arc;

use super::secret::HomeSecret;
use super::Home;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error(transparent)]
    Pairing(#[from] PairingError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: damaged ({why}); move it away to start over")]
    Damaged { path: PathBuf, why: String },
    #[error("no pairing is waiting for {0}; run `weft pair --address {0}` first")]
    NoPending(Address),
    #[error("a local wallet already exists ({0}); weft never overwrites a key")]
    WalletExists(Address),
    #[error("no local wallet yet; create one with `weft wallet new`")]
    NoWallet,
    #[error("{0}: cannot be decrypted with this home's key (the key file or passphrase belongs to another home, or the file was replaced)")]
    WrongKey(PathBuf),
}

/// A device's pairing, checked now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PairedWallet {
    pub address: String,
    pub device: String,
    pub this_device: bool,
    pub local_wallet: bool,
    pub paired_at: String,
    pub expires_at: String,
    /// Why it no longer counts (expired…), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The identity files of one home.
pub struct IdentityStore {
    dir: PathBuf,
    device: DeviceKey,
    /// Seals key files and lists when the home is protected (always, since encryption at rest).
    secret: Option<Arc<HomeSecret>>,
    /// Warnings from loading keys (loose permissions), to show once.
    pub warnings: Vec<String>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

impl IdentityStore {
    /// Open the identity of `home`, creating this device's key on first use. With a `secret`, key
    /// files are sealed under it (a plaintext file from an older weft is sealed on first open).
    pub fn open(home: &Home, secret: Option<Arc<HomeSecret>>) -> Result<Self, IdentityError> {
        let dir = home.data.join("identity");
        let key_path = dir.join("device.key");
        let pass = secret.as_ref().map(|s| s.key_file_passphrase());
        let (device, warnings) = match DeviceKey::load(&key_path, pass.as_deref()) {
            Ok(loaded) => {
                if pass.is_some() && is_plain_key_file(&key_path) {
                    loaded.key.save(&key_path, pass.as_deref())?;
                }
                (loaded.key, loaded.warnings)
            }
            Err(KeyFileError::Missing { .. }) => {
                let key = DeviceKey::generate();
                key.save(&key_path, pass.as_deref())?;
                (key, Vec::new())
            }
            Err(KeyFileError::WrongPassphrase { .. }) if pass.is_some() => {
                return Err(IdentityError::WrongKey(key_path))
            }
            Err(e) => return Err(e.into()),
        };
        let store = IdentityStore {
            dir,
            device,
            secret,
            warnings,
        };
        // Seal lists an older weft wrote in plaintext.
        for name in ["certificates.json", "pending.json"] {
            if store.secret.is_some() {
                if let Ok(bytes) = std::fs::read(store.dir.join(name)) {
                    if bytes.first() == Some(&b'[') || bytes.first() == Some(&b'{') {
                        let value: serde_json::Value =
                            serde_json::from_slice(&bytes).map_err(|e| IdentityError::Damaged {
                                path: store.dir.join(name),
                                why: e.to_string(),
                            })?;
                        store.write_json(name, &value)?;
                    }
                }
            }
        }
        Ok(store)
    }

    fn key_pass(&self) -> Option<String> {
        self.secret.as_ref().map(|s| s.key_file_passphrase())
    }

    pub fn device(&self) -> &DeviceKey {
        &self.device
    }

    fn wallet_path(&self) -> PathBuf {
        self.dir.join("wallet.key")
    }

    /// The local wallet, if one was created or imported.
    pub fn local_wallet(&mut self) -> Result<Option<LocalWallet>, IdentityError> {
        let pass = self.key_pass();
        match LocalWallet::load(&self.wallet_path(), pass.as_deref()) {
            Ok(loaded) => {
                if pass.is_some() && is_plain_key_file(&self.wallet_path()) {
                    loaded.key.save(&self.wallet_path(), pass.as_deref())?;
                }
                self.warnings.extend(loaded.warnings);
                Ok(Some(loaded.key))
            }
            Err(KeyFileError::Missing { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The local wallet, or a clear error saying how to make one.
    pub fn require_local_wallet(&mut self) -> Result<LocalWallet, IdentityError> {
        self.local_wallet()?.ok_or(IdentityError::NoWallet)
    }

    /// Store `wallet` as the local wallet; refuses to replace an existing one.
    pub fn set_local_wallet(&mut self, wallet: &LocalWallet) -> Result<(), IdentityError> {
        if let Some(existing) = self.local_wallet()? {
            return Err(IdentityError::WalletExists(existing.address()));
        }
        wallet.save(&self.wallet_path(), self.key_pass().as_deref())?;
        Ok(())
    }

    fn read_json<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> Result<T, IdentityError> {
        let path = self.dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let plain = match &self.secret {
                    Some(secret) if !bytes.starts_with(b"[") && !bytes.starts_with(b"{") => secret
                        .unseal(name, &bytes)
                        .map_err(|e| IdentityError::Damaged {
                            path: path.clone(),
                            why: e.to_string(),
                        })?,
                    _ => bytes,
                };
                serde_json::from_slice(&plain).map_err(|e| IdentityError::Damaged {
                    path,
                    why: e.to_string(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
            Err(source) => Err(IdentityError::Io { path, source }),
        }
    }

    fn write_json<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<(), IdentityError> {
        let path = self.dir.join(name);
        let io = |source| IdentityError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let text = serde_json::to_vec_pretty(value).map_err(|e| IdentityError::Damaged {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let bytes = match &self.secret {
            Some(secret) => secret.seal(name, &text),
            None => text,
        };
        crate::identity::keyfile::write_atomic(&path, &bytes).map_err(io)?;
        Ok(())
    }

    /// Every certificate this device holds, as stored.
    pub fn certificates(&self) -> Result<Vec<PairingCertificate>, IdentityError> {
        self.read_json("certificates.json")
    }

    /// Verify `cert` for this device now and keep it. Returns what it proves.
    pub fn add_certificate(
        &self,
        cert: PairingCertificate,
        now: OffsetDateTime,
    ) -> Result<VerifiedPairing, IdentityError> {
        let verified = cert.verify(&VerifyPolicy::default(), &self.device.id(), now)?;
        let mut all = self.certificates()?;
        if !all.contains(&cert) {
            all.push(cert);
            self.write_json("certificates.json", &all)?;
        }
        let mut pending: BTreeMap<String, String> = self.read_json("pending.json")?;
        if pending.remove(&verified.address.to_checksum()).is_some() {
            self.write_json("pending.json", &pending)?;
        }
        Ok(verified)
    }

    /// The message waiting for `address` to sign, creating a fresh one if none is pending or the
    /// pending one has expired.
    pub fn pending_message(
        &self,
        address: Address,
        now: OffsetDateTime,
    ) -> Result<String, IdentityError> {
        let mut pending: BTreeMap<String, String> = self.read_json("pending.json")?;
        let key = address.to_checksum();
        if let Some(message) = pending.get(&key) {
            if let Ok(parsed) = crate::identity::parse_canonical_siwe(message) {
                let still_valid = parsed
                    .expiration_time
                    .as_ref()
                    .map(|t| *t.as_ref() > now + time::Duration::minutes(5))
                    .unwrap_or(false);
                if still_valid {
                    return Ok(message.clone());
                }
            }
        }
        let message = PairingRequest::new(address, self.device.id(), now).to_message()?;
        pending.insert(key, message.clone());
        self.write_json("pending.json", &pending)?;
        Ok(message)
    }

    /// The message pending for `address`, if any.
    pub fn existing_pending(&self, address: Address) -> Result<Option<String>, IdentityError> {
        let pending: BTreeMap<String, String> = self.read_json("pending.json")?;
        Ok(pending.get(&address.to_checksum()).cloned())
    }

    /// Complete a pending pairing with a pasted signature.
    pub fn complete_pairing(
        &self,
        address: Address,
        signature: &str,
        now: OffsetDateTime,
    ) -> Result<VerifiedPairing, IdentityError> {
        let message = self
            .existing_pending(address)?
            .ok_or(IdentityError::NoPending(address))?;
        let cert = PairingCertificate::from_signature_text(message, signature)?;
        self.add_certificate(cert, now)
    }

    /// Pair this device with the local wallet (creating the wallet if needed).
    pub fn pair_local(&mut self, now: OffsetDateTime) -> Result<VerifiedPairing, IdentityError> {
        let wallet = match self.local_wallet()? {
            Some(w) => w,
            None => {
                let w = LocalWallet::generate();
                self.set_local_wallet(&w)?;
                w
            }
        };
        let request = PairingRequest::new(wallet.address(), self.device.id(), now);
        let cert = PairingCertificate::sign_with(&request, &wallet)?;
        self.add_certificate(cert, now)
    }

    /// This device's pairings, newest first, each checked at `now`.
    pub fn paired(&mut self, now: OffsetDateTime) -> Result<Vec<PairedWallet>, IdentityError> {
        let local = self.local_wallet()?.map(|w| w.address());
        let me = self.device.id();
        let mut out = Vec::new();
        for cert in self.certificates()? {
            match cert.verify_ignoring_time(&VerifyPolicy::default(), &me) {
                Ok(v) => out.push(PairedWallet {
                    address: v.address.to_checksum(),
                    device: v.device.to_string(),
                    this_device: v.device == me,
                    local_wallet: Some(v.address) == local,
                    paired_at: rfc3339(v.issued_at),
                    expires_at: rfc3339(v.expires_at),
                    problem: v.check_valid_at(now).err().map(|e| e.to_string()),
                }),
                Err(e) => out.push(PairedWallet {
                    address: String::new(),
                    device: me.to_string(),
                    this_device: true,
                    local_wallet: false,
                    paired_at: String::new(),
                    expires_at: String::new(),
                    problem: Some(e.to_string()),
                }),
            }
        }
        out.sort_by(|a, b| b.paired_at.cmp(&a.paired_at));
        Ok(out)
    }

    /// The wallet that speaks for this device now: the newest valid pairing with an external wallet,
    /// else the local wallet's. `None` before any pairing.
    pub fn active(&mut self, now: OffsetDateTime) -> Result<Option<PairedWallet>, IdentityError> {
        let all: Vec<PairedWallet> = self
            .paired(now)?
            .into_iter()
            .filter(|p| p.problem.is_none() && p.this_device)
            .collect();
        Ok(all
            .iter()
            .find(|p| !p.local_wallet)
            .or_else(|| all.first())
            .cloned())
    }
}

impl IdentityStore {
    /// What this device signs shared-workspace changes with: its key and a certificate for
    /// `address` (or, when `None`, for the active wallet) that covers all workspaces and is in
    /// force now. `None` if there is no such certificate.
    pub fn signing_identity(
        &mut self,
        address: Option<Address>,
        now: OffsetDateTime,
    ) -> Result<Option<crate::acl::DeviceIdentity>, IdentityError> {
        let wanted = match address {
            Some(a) => a,
            None => match self.active(now)? {
                Some(p) => match p.address.parse::<Address>() {
                    Ok(a) => a,
                    Err(_) => return Ok(None),
                },
                None => return Ok(None),
            },
        };
        let policy = VerifyPolicy::default();
        let me = self.device.id();
        let mut best: Option<(OffsetDateTime, PairingCertificate)> = None;
        for cert in self.certificates()? {
            let Ok(v) = cert.verify(&policy, &me, now) else {
                continue;
            };
            if v.address != wanted || v.scope != crate::identity::WorkspaceScope::All {
                continue;
            }
            if best.as_ref().is_none_or(|(at, _)| v.issued_at > *at) {
                best = Some((v.issued_at, cert));
            }
        }
        let Some((_, cert)) = best else {
            return Ok(None);
        };
        Ok(crate::acl::DeviceIdentity::new(self.device.clone(), cert, &policy).ok())
    }
}

/// A key file an older weft wrote without sealing (byte 9 of the header is 0).
fn is_plain_key_file(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.len() > 9 && b[9] == 0)
}
