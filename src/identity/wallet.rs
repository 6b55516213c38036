//! Ethereum addresses, EIP-191 `personal_sign` signatures, and weft's own local wallet.
//!
//! Signatures are the 65 bytes `r ‖ s ‖ v` wallets produce. On input, weft accepts
//! `v ∈ {27, 28}` or `{0, 1}` and high-S twins, and normalises both to low-S with `v ∈ {27, 28}`,
//! so one signed message has exactly one stored signature.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use k256::elliptic_curve::zeroize::Zeroizing;
use rand::rngs::OsRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha3::{Digest, Keccak256};

use super::keyfile::{read_key_file, write_key_file, KeyFileError, KeyKind, LoadedKey};
use super::keys::{signing_key_from_bytes, signing_key_from_hex, SecretKeyError};

/// Why text is not an Ethereum address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// No `0x` prefix.
    #[error("an Ethereum address starts with 0x")]
    MissingPrefix,
    /// Not 40 hex digits.
    #[error("an Ethereum address has 40 hex digits after 0x; this one has {found}")]
    WrongLength {
        /// Digits found.
        found: usize,
    },
    /// Contains a character that is not a hex digit.
    #[error("the address contains a character that is not a hex digit")]
    NotHex,
    /// Mixed case that does not match the EIP-55 checksum: probably a typo.
    #[error("the address checksum (its mix of upper and lower case) is wrong, so it probably has a typo; the correctly checksummed form of these digits is {expected}")]
    BadChecksum {
        /// The checksummed form of the digits given.
        expected: String,
    },
}

/// A 20-byte Ethereum account address. Displays with the EIP-55 checksum.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address([u8; 20]);

impl Address {
    /// An address from its 20 bytes.
    pub fn from_bytes(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    /// The address of a secp256k1 public key: the last 20 bytes of keccak256 of the
    /// uncompressed point without its `0x04` prefix.
    pub fn from_verifying_key(key: &VerifyingKey) -> Self {
        let point = key.to_encoded_point(false);
        let hash = Keccak256::digest(&point.as_bytes()[1..]);
        let mut bytes = [0u8; 20];
        bytes.copy_from_slice(&hash[12..]);
        Self(bytes)
    }

    /// The 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The EIP-55 mixed-case checksummed form, `0x…` (same as `to_string()`).
    pub fn to_checksum(&self) -> String {
        siwe::eip55(&self.0)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.to_checksum())
    }
}

impl FromStr for Address {
    type Err = AddressError;

    /// Parses `0x` + 40 hex digits (surrounding whitespace ignored). All-lowercase and
    /// all-uppercase digits are accepted as is; mixed case must carry a valid EIP-55 checksum.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let digits = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .ok_or(AddressError::MissingPrefix)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AddressError::NotHex);
        }
        if digits.len() != 40 {
            return Err(AddressError::WrongLength {
                found: digits.len(),
            });
        }
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| AddressError::NotHex)?;
        let address = Self(bytes);
        let has_lower = digits.bytes().any(|b| b.is_ascii_lowercase());
        let has_upper = digits.bytes().any(|b| b.is_ascii_uppercase());
        if has_lower && has_upper && address.to_checksum()[2..] != *digits {
            return Err(AddressError::BadChecksum {
                expected: address.to_checksum(),
            });
        }
        Ok(address)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_checksum())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why bytes or text are not a usable wallet signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// Nothing was given.
    #[error("the signature is empty; paste the 0x… signature your wallet returned")]
    Empty,
    /// Not hexadecimal text.
    #[error(
        "the signature is not hexadecimal ({0}); paste the 0x… signature your wallet returned"
    )]
    NotHex(String),
    /// Not 65 bytes.
    #[error("a wallet signature is 65 bytes (130 hex digits); this one is {found} bytes")]
    WrongLength {
        /// Bytes found.
        found: usize,
    },
    /// The recovery byte is not 27/28 or 0/1.
    #[error("the signature's last byte (v = {v}) is not 27 or 28 (or 0 or 1); it is not an Ethereum personal_sign signature")]
    BadRecoveryByte {
        /// The byte found.
        v: u8,
    },
    /// `r` or `s` is zero or not below the curve order.
    #[error("the signature's r or s value is out of range; it is not a valid secp256k1 signature")]
    OutOfRange,
    /// No public key recovers from this signature and message.
    #[error("no public key can be recovered from this signature for this message")]
    Unrecoverable,
}

/// A 65-byte `r ‖ s ‖ v` EIP-191 signature, always normalised to low-S and `v ∈ {27, 28}`.
///
/// Displays and parses as `0x` + 130 hex digits; serialises as that string.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature65([u8; 65]);

impl Signature65 {
    /// Checks and normalises 65 raw bytes: `v` of 0/1 becomes 27/28, a high-S signature is
    /// replaced by its low-S twin (flipping `v`).
    ///
    /// Fails on a wrong length, a `v` other than 0, 1, 27, 28, or `r`/`s` out of range.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignatureError> {
        if bytes.len() != 65 {
            return Err(SignatureError::WrongLength { found: bytes.len() });
        }
        let parity = match bytes[64] {
            v @ (27 | 28) => v - 27,
            v @ (0 | 1) => v,
            v => return Err(SignatureError::BadRecoveryByte { v }),
        };
        let signature =
            Signature::from_slice(&bytes[..64]).map_err(|_| SignatureError::OutOfRange)?;
        let (signature, parity) = match signature.normalize_s() {
            Some(low) => (low, parity ^ 1),
            None => (signature, parity),
        };
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&signature.to_bytes());
        out[64] = 27 + parity;
        Ok(Self(out))
    }

    /// The normalised bytes.
    pub fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }

    /// `0x` + 130 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    /// The address that signed `message` with EIP-191 `personal_sign`.
    ///
    /// Any message/signature pair recovers *some* address; compare it with the one expected.
    pub fn recover(&self, message: &[u8]) -> Result<Address, SignatureError> {
        recover_address(message, self)
    }
}

impl fmt::Display for Signature65 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Signature65 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature65({})", self.to_hex())
    }
}

impl FromStr for Signature65 {
    type Err = SignatureError;

    /// Parses a pasted signature: surrounding whitespace, newlines and quotes are ignored,
    /// the `0x` prefix is optional. Normalises like [`Signature65::from_bytes`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        let digits = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        if digits.is_empty() {
            return Err(SignatureError::Empty);
        }
        if let Some((i, c)) = digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(SignatureError::NotHex(format!(
                "unexpected {c:?} at position {}",
                i + 1
            )));
        }
        if digits.len() % 2 != 0 {
            return Err(SignatureError::NotHex(format!(
                "odd number of hex digits ({})",
                digits.len()
            )));
        }
        if digits.len() != 130 {
            return Err(SignatureError::WrongLength {
                found: digits.len() / 2,
            });
        }
        let mut bytes = [0u8; 65];
        hex::decode_to_slice(digits, &mut bytes)
            .map_err(|e| SignatureError::NotHex(e.to_string()))?;
        Self::from_bytes(&bytes)
    }
}

impl Serialize for Signature65 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Signature65 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// keccak256(`"\x19Ethereum Signed Message:\n"` + decimal length + message): the EIP-191
/// version 0x45 (`personal_sign`) digest.
pub fn eip191_hash(message: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(b"\x19Ethereum Signed Message:\n");
    hasher.update(message.len().to_string().as_bytes());
    hasher.update(message);
    hasher.finalize().into()
}

/// Recovers the address whose key made `signature` over `message` with EIP-191 `personal_sign`.
///
/// Fails only if no key can be recovered; a signature by another key or over other text
/// recovers a different address, so the caller must compare.
pub fn recover_address(message: &[u8], signature: &Signature65) -> Result<Address, SignatureError> {
    let bytes = signature.as_bytes();
    let sig = Signature::from_slice(&bytes[..64]).map_err(|_| SignatureError::OutOfRange)?;
    let recovery_id = RecoveryId::new(bytes[64] == 28, false);
    let key = VerifyingKey::recover_from_prehash(&eip191_hash(message), &sig, recovery_id)
        .map_err(|_| SignatureError::Unrecoverable)?;
    Ok(Address::from_verifying_key(&key))
}

/// weft's own wallet: an Ethereum account key kept in a key file like the device key.
///
/// For people without a wallet, for tests and demos. The private key is never printed.
#[derive(Clone)]
pub struct LocalWallet {
    signing: SigningKey,
    address: Address,
}

impl LocalWallet {
    fn from_signing_key(signing: SigningKey) -> Self {
        let address = Address::from_verifying_key(signing.verifying_key());
        Self { signing, address }
    }

    /// Generates a new random account.
    pub fn generate() -> Self {
        Self::from_signing_key(SigningKey::random(&mut OsRng))
    }

    /// Uses 32 bytes as the account's private key.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, SecretKeyError> {
        Ok(Self::from_signing_key(signing_key_from_bytes(bytes)?))
    }

    /// Imports a private key written as hex (`0x` optional, surrounding whitespace ignored).
    pub fn from_secret_hex(text: &str) -> Result<Self, SecretKeyError> {
        Ok(Self::from_signing_key(signing_key_from_hex(text)?))
    }

    /// The account address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs `message` with EIP-191 `personal_sign`, as a browser or hardware wallet would.
    pub fn sign_message(&self, message: &[u8]) -> Signature65 {
        let (signature, recovery_id) = self
            .signing
            .sign_prehash_recoverable(&eip191_hash(message))
            .expect("signing a 32-byte digest with a valid key cannot fail");
        // k256 already returns low-S with the matching recovery id. An x-reduced recovery id
        // (probability ~2^-128) cannot be expressed in Ethereum's v and would fail to recover.
        let mut bytes = [0u8; 65];
        bytes[..64].copy_from_slice(&signature.to_bytes());
        bytes[64] = 27 + u8::from(recovery_id.is_y_odd());
        Signature65(bytes)
    }

    /// Writes the wallet key to `path` atomically with mode 0600, sealed under `passphrase`
    /// if given. An existing file is replaced.
    pub fn save(&self, path: &Path, passphrase: Option<&str>) -> Result<(), KeyFileError> {
        let secret = Zeroizing::new(<[u8; 32]>::from(self.signing.to_bytes()));
        write_key_file(path, KeyKind::Wallet, &secret, passphrase)
    }

    /// Reads a wallet key from `path`; see [`super::DeviceKey::load`] for the failure cases.
    pub fn load(path: &Path, passphrase: Option<&str>) -> Result<LoadedKey<Self>, KeyFileError> {
        let (secret, warnings) = read_key_file(path, KeyKind::Wallet, passphrase)?;
        let signing = signing_key_from_bytes(&secret[..]).map_err(|e| KeyFileError::Damaged {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(LoadedKey {
            key: Self::from_signing_key(signing),
            warnings,
        })
    }
}

impl fmt::Debug for LocalWallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalWallet")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}
