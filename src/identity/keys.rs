//! Device keys and device ids (`did:key:zQ3s…`).
//!
//! A device key is a secp256k1 key generated on the device; its private half never leaves it.
//! The device id is the compressed SEC1 public key, written as a `did:key`: the multicodec
//! varint for secp256k1-pub (`0xe7 0x01`) followed by the 33 key bytes, base58btc-encoded with
//! the multibase prefix `z`.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use k256::ecdsa::{SigningKey, VerifyingKey};
use rand::rngs::OsRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::keyfile::{read_key_file, write_key_file, KeyFileError, KeyKind, LoadedKey};

/// The multicodec varint of a compressed secp256k1 public key.
const SECP256K1_PUB_MULTICODEC: [u8; 2] = [0xe7, 0x01];
const DID_KEY_PREFIX: &str = "did:key:";
const COMPRESSED_LEN: usize = 33;

/// Why bytes or text could not be used as a private key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretKeyError {
    /// Wrong number of bytes.
    #[error("a private key is 32 bytes (64 hex digits); this one is {found} bytes")]
    WrongLength {
        /// Bytes found.
        found: usize,
    },
    /// Not hexadecimal text.
    #[error("the private key is not hexadecimal: {0}")]
    NotHex(String),
    /// Zero, or not below the secp256k1 group order.
    #[error("the private key is out of range for secp256k1 (zero or too large)")]
    OutOfRange,
}

/// Parses 32 bytes into a secp256k1 signing key.
pub(crate) fn signing_key_from_bytes(bytes: &[u8]) -> Result<SigningKey, SecretKeyError> {
    if bytes.len() != 32 {
        return Err(SecretKeyError::WrongLength { found: bytes.len() });
    }
    SigningKey::from_slice(bytes).map_err(|_| SecretKeyError::OutOfRange)
}

/// Parses hex text (optionally `0x`-prefixed, surrounding whitespace ignored) into a signing key.
pub(crate) fn signing_key_from_hex(text: &str) -> Result<SigningKey, SecretKeyError> {
    let text = text.trim();
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    let bytes = k256::elliptic_curve::zeroize::Zeroizing::new(
        hex::decode(digits).map_err(|e| SecretKeyError::NotHex(e.to_string()))?,
    );
    signing_key_from_bytes(&bytes)
}

/// This device's secp256k1 key. The private key is never printed (`Debug` shows the id only).
#[derive(Clone)]
pub struct DeviceKey {
    signing: SigningKey,
}

impl DeviceKey {
    /// Generates a new random device key from the operating system's random source.
    pub fn generate() -> Self {
        Self {
            signing: SigningKey::random(&mut OsRng),
        }
    }

    /// Uses 32 bytes as the private key (for tests and known vectors).
    ///
    /// Fails if the bytes are not a valid secp256k1 private key.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, SecretKeyError> {
        Ok(Self {
            signing: signing_key_from_bytes(bytes)?,
        })
    }

    /// The public device id.
    pub fn id(&self) -> DeviceId {
        DeviceId::from_verifying_key(self.signing.verifying_key())
    }

    /// The signing key, for envelope signatures and key agreement.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Writes the key to `path` atomically with mode 0600, sealed under `passphrase` if given.
    ///
    /// Fails on I/O errors or an empty passphrase. An existing file is replaced.
    pub fn save(&self, path: &Path, passphrase: Option<&str>) -> Result<(), KeyFileError> {
        let secret = k256::elliptic_curve::zeroize::Zeroizing::new(<[u8; 32]>::from(
            self.signing.to_bytes(),
        ));
        write_key_file(path, KeyKind::Device, &secret, passphrase)
    }

    /// Reads a device key from `path`.
    ///
    /// Fails when the file is missing, damaged, holds a wallet key, is sealed and no passphrase
    /// (or the wrong one) is given. Loose file permissions produce a warning, not an error.
    pub fn load(path: &Path, passphrase: Option<&str>) -> Result<LoadedKey<Self>, KeyFileError> {
        let (secret, warnings) = read_key_file(path, KeyKind::Device, passphrase)?;
        let signing = signing_key_from_bytes(&secret[..]).map_err(|e| KeyFileError::Damaged {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(LoadedKey {
            key: Self { signing },
            warnings,
        })
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKey")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

/// Why text or bytes are not a device id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceIdError {
    /// Does not start with `did:key:`.
    #[error("a device id is a did:key (it starts with \"did:key:z\"); got {0:?}")]
    NotDidKey(String),
    /// The multibase prefix is not `z` (base58btc).
    #[error("the did:key is not base58btc-encoded (it must start with \"did:key:z\")")]
    NotBase58btc,
    /// The base58 text does not decode.
    #[error("the did:key contains characters that are not base58: {0}")]
    BadBase58(String),
    /// A did:key of another key type.
    #[error(
        "the did:key is not a secp256k1 key (multicodec prefix {0}); weft device ids are secp256k1"
    )]
    NotSecp256k1(String),
    /// Wrong number of key bytes.
    #[error("a secp256k1 public key is 33 bytes compressed; this one is {found} bytes")]
    WrongLength {
        /// Bytes found.
        found: usize,
    },
    /// The bytes are not a point on secp256k1.
    #[error("the key bytes are not a valid secp256k1 public key")]
    InvalidPoint,
}

/// A device's public identity: its compressed secp256k1 public key.
///
/// Displays and parses as `did:key:zQ3s…`; serialises as that string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId([u8; COMPRESSED_LEN]);

impl DeviceId {
    /// The id of a verifying (public) key.
    pub fn from_verifying_key(key: &VerifyingKey) -> Self {
        let point = key.to_encoded_point(true);
        let mut bytes = [0u8; COMPRESSED_LEN];
        bytes.copy_from_slice(point.as_bytes());
        Self(bytes)
    }

    /// Parses a SEC1 public key, compressed (33 bytes) or uncompressed (65 bytes).
    ///
    /// Fails if the bytes are not a point on secp256k1.
    pub fn from_sec1_bytes(bytes: &[u8]) -> Result<Self, DeviceIdError> {
        if bytes.len() != COMPRESSED_LEN && bytes.len() != 65 {
            return Err(DeviceIdError::WrongLength { found: bytes.len() });
        }
        let key = VerifyingKey::from_sec1_bytes(bytes).map_err(|_| DeviceIdError::InvalidPoint)?;
        Ok(Self::from_verifying_key(&key))
    }

    /// The compressed public key.
    pub fn as_bytes(&self) -> &[u8; COMPRESSED_LEN] {
        &self.0
    }

    /// The public key, for verifying this device's signatures.
    pub fn verifying_key(&self) -> VerifyingKey {
        // Every constructor validated the point.
        VerifyingKey::from_sec1_bytes(&self.0).expect("DeviceId always holds a valid point")
    }

    /// The `did:key:zQ3s…` form (same as `to_string()`).
    pub fn did_key(&self) -> String {
        let mut payload = Vec::with_capacity(2 + COMPRESSED_LEN);
        payload.extend_from_slice(&SECP256K1_PUB_MULTICODEC);
        payload.extend_from_slice(&self.0);
        format!("{DID_KEY_PREFIX}z{}", bs58::encode(payload).into_string())
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.did_key())
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.did_key())
    }
}

impl FromStr for DeviceId {
    type Err = DeviceIdError;

    /// Parses `did:key:zQ3s…` (surrounding whitespace ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let multibase = s
            .strip_prefix(DID_KEY_PREFIX)
            .ok_or_else(|| DeviceIdError::NotDidKey(s.chars().take(40).collect()))?;
        let encoded = multibase
            .strip_prefix('z')
            .ok_or(DeviceIdError::NotBase58btc)?;
        // 35 bytes encode to at most 48 base58 characters; refuse anything much longer unread.
        if encoded.len() > 64 {
            return Err(DeviceIdError::WrongLength {
                found: encoded.len() * 3 / 4,
            });
        }
        let bytes = bs58::decode(encoded)
            .into_vec()
            .map_err(|e| DeviceIdError::BadBase58(e.to_string()))?;
        if bytes.len() < 2 || bytes[..2] != SECP256K1_PUB_MULTICODEC {
            return Err(DeviceIdError::NotSecp256k1(hex::encode(
                &bytes[..bytes.len().min(2)],
            )));
        }
        let key = &bytes[2..];
        if key.len() != COMPRESSED_LEN {
            return Err(DeviceIdError::WrongLength { found: key.len() });
        }
        Self::from_sec1_bytes(key)
    }
}

impl Serialize for DeviceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.did_key())
    }
}

impl<'de> Deserialize<'de> for DeviceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
