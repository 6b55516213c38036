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
    /// Warnings from loading keys (loose permissions), to show once.
    pub warnings: Vec<String>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

impl IdentityStore {
    /// Open the identity of `home`, creating this device's key on first use.
    pub fn open(home: &Home) -> Result<Self, IdentityError> {
        let dir = home.data.join("identity");
        let key_path = dir.join("device.key");
        let (device, warnings) = match DeviceKey::load(&key_path, None) {
            Ok(loaded) => (loaded.key, loaded.warnings),
            Err(KeyFileError::Missing { .. }) => {
                let key = DeviceKey::generate();
                key.save(&key_path, None)?;
                (key, Vec::new())
            }
            Err(e) => return Err(e.into()),
        };
        Ok(IdentityStore {
            dir,
            device,
            warnings,
        })
    }

    pub fn device(&self) -> &DeviceKey {
        &self.device
    }

    fn wallet_path(&self) -> PathBuf {
        self.dir.join("wallet.key")
    }

    /// The local wallet, if one was created or imported.
    pub fn local_wallet(&mut self) -> Result<Option<LocalWallet>, IdentityError> {
        match LocalWallet::load(&self.wallet_path(), None) {
            Ok(loaded) => {
                self.warnings.extend(loaded.warnings);
                Ok(Some(loaded.key))
            }
            Err(KeyFileError::Missing { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Store `wallet` as the local wallet; refuses to replace an existing one.
    pub fn set_local_wallet(&mut self, wallet: &LocalWallet) -> Result<(), IdentityError> {
        if let Some(existing) = self.local_wallet()? {
            return Err(IdentityError::WalletExists(existing.address()));
        }
        wallet.save(&self.wallet_path(), None)?;
        Ok(())
    }

    fn read_json<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> Result<T, IdentityError> {
        let path = self.dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| IdentityError::Damaged {
                path,
                why: e.to_string(),
            }),
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
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(value).map_err(|e| IdentityError::Damaged {
            path: path.clone(),
            why: e.to_string(),
        })?;
        write_synced(&tmp, text.as_bytes()).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
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

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
