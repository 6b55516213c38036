//! Pairing a device with a wallet: the Sign-In with Ethereum (EIP-4361) message weft asks a
//! wallet to sign, and the certificate (exact text + 65-byte signature) every peer verifies.
//!
//! A weft pairing message looks like this (the last line is a ReCap, EIP-5573):
//!
//! ```text
//! weft wants you to sign in with your Ethereum account:
//! 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
//!
//! Allow this device to sign weft changes for this wallet. I further authorize the stated URI to perform the following actions on my behalf: (1) 'weft': 'sign-changes' for 'urn:weft:workspace:*'.
//!
//! URI: did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme
//! Version: 1
//! Chain ID: 1
//! Nonce: 3rGXwm9aJ5yPLBgpd
//! Issued At: 2025-01-01T00:00:00Z
//! Expiration Time: 2026-01-01T00:00:00Z
//! Resources:
//! - urn:recap:eyJhdHQiOnsidXJuOndlZnQ6d29ya3NwYWNlOioiOnsid2VmdC9zaWduLWNoYW5nZXMiOlt7fV19fSwicHJmIjpbXX0
//! ```
//!
//! Verification is pure: the caller passes the device being certified and the time to judge
//! at — now for a fresh pairing, the causal time of a change for an old certificate.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

use super::keys::DeviceId;
use super::recap::{Recap, RecapError, RECAP_URI_PREFIX};
use super::scope::WorkspaceScope;
use super::wallet::{recover_address, Address, LocalWallet, Signature65, SignatureError};

/// The SIWE domain weft puts in pairing messages (an authority, no scheme).
pub const DEFAULT_DOMAIN: &str = "weft";
/// The chain id recorded when none is chosen (Ethereum mainnet; EOA signatures do not depend
/// on it).
pub const DEFAULT_CHAIN_ID: u64 = 1;
/// How long a pairing lasts when no expiration is chosen.
pub const DEFAULT_VALIDITY: Duration = Duration::days(365);
/// Largest pairing message weft accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 2048;
/// The human part of the statement; the ReCap sentence follows it.
pub const PAIRING_STATEMENT: &str = "Allow this device to sign weft changes for this wallet.";
/// The ReCap ability a pairing grants.
pub const SIGN_CHANGES_ABILITY: &str = "weft/sign-changes";
/// ReCap targets name workspaces as this prefix + workspace id, or `*` for all of them.
pub const WORKSPACE_TARGET_PREFIX: &str = "urn:weft:workspace:";

/// Why a pairing message could not be built, or a certificate was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PairingError {
    /// The request cannot be turned into a valid message.
    #[error("cannot build the pairing message: {0}")]
    InvalidRequest(String),
    /// The message is over the size cap.
    #[error("the pairing message is {size} bytes, more than the {max} bytes weft accepts")]
    TooLarge {
        /// Bytes found.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// Not a Sign-In with Ethereum message.
    #[error("the pairing message is not a valid Sign-In with Ethereum (EIP-4361) message: {0}")]
    Malformed(String),
    /// Parses, but does not print back to the exact same text.
    #[error("the pairing message is not in canonical form (extra spaces, blank lines or number formatting differ from the standard layout); sign the exact text weft printed")]
    NotCanonical,
    /// A timestamp has fractional seconds.
    #[error(
        "the pairing message's {field} ({value}) has fractional seconds; weft uses whole seconds"
    )]
    BadTimestamp {
        /// Which field.
        field: &'static str,
        /// The text found.
        value: String,
    },
    /// The domain is not one this verifier accepts.
    #[error("the pairing message was made for \"{domain}\", which is not an allowed domain (allowed: {allowed})")]
    DomainNotAllowed {
        /// The domain in the message.
        domain: String,
        /// The allowlist, comma-separated.
        allowed: String,
    },
    /// Missing statement, or one that is not plain printable ASCII.
    #[error("the pairing message's statement is not acceptable: {0}")]
    BadStatement(String),
    /// The message certifies another device.
    #[error("the pairing message certifies device {found}, not this device ({expected})")]
    WrongDevice {
        /// The device being certified.
        expected: DeviceId,
        /// The URI in the message.
        found: String,
    },
    /// No expiration time.
    #[error("the pairing message has no expiration time; weft requires one")]
    MissingExpiration,
    /// Judged after the expiration time.
    #[error("the pairing expired at {} (judged at {}); pair this device again", rfc3339(.expires_at), rfc3339(.at))]
    Expired {
        /// The expiration time.
        expires_at: OffsetDateTime,
        /// The time judged at.
        at: OffsetDateTime,
    },
    /// Judged before the not-before time.
    #[error("the pairing is not valid until {} (judged at {}); check this computer's clock", rfc3339(.not_before), rfc3339(.at))]
    NotYetValid {
        /// The not-before time.
        not_before: OffsetDateTime,
        /// The time judged at.
        at: OffsetDateTime,
    },
    /// No `urn:recap:` resource in the last position.
    #[error("the pairing message has no ReCap (EIP-5573) resource as its last resource, so it grants nothing")]
    MissingRecap,
    /// The ReCap resource does not decode.
    #[error("the pairing message's ReCap is invalid: {0}")]
    BadRecap(RecapError),
    /// The statement does not end with the sentence the ReCap requires.
    #[error("the statement does not match the ReCap resource; it should end with: {expected}")]
    RecapMismatch {
        /// The sentence the ReCap requires.
        expected: String,
    },
    /// The ReCap grants something, but not `weft/sign-changes`.
    #[error("the ReCap does not grant weft/sign-changes on any workspace")]
    NoSignChangesGrant,
    /// The signature bytes are unusable.
    #[error("the signature is not usable: {0}")]
    BadSignature(SignatureError),
    /// The signature was made by another key, or over other text.
    #[error("the signature does not match address {claimed}: it was made by {recovered}, or over different text. If {claimed} is a smart-contract wallet: EIP-1271 wallets need an RPC, which weft does not support; use an ordinary (EOA) account")]
    WrongAddress {
        /// The address in the message.
        claimed: Address,
        /// The address the signature recovers to.
        recovered: Address,
    },
}

fn rfc3339(t: &OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// What to put in a pairing message. Build with [`PairingRequest::new`], adjust the public
/// fields, then call [`PairingRequest::to_message`] for the exact text the wallet signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairingRequest {
    /// SIWE domain: an authority without scheme, e.g. `weft`.
    pub domain: String,
    /// The wallet that will sign.
    pub address: Address,
    /// The device being paired; becomes the message URI.
    pub device: DeviceId,
    /// EIP-155 chain id, recorded in the certificate.
    pub chain_id: u64,
    /// Which workspaces the device may sign changes for.
    pub scope: WorkspaceScope,
    /// At least 8 letters or digits, random.
    pub nonce: String,
    /// Issue time (truncated to whole seconds, written in UTC).
    pub issued_at: OffsetDateTime,
    /// Optional start of validity.
    pub not_before: Option<OffsetDateTime>,
    /// End of validity (required).
    pub expires_at: OffsetDateTime,
}

impl PairingRequest {
    /// A request with the defaults: domain [`DEFAULT_DOMAIN`], chain [`DEFAULT_CHAIN_ID`], all
    /// workspaces, a random 17-character nonce, issued `now`, expiring after
    /// [`DEFAULT_VALIDITY`].
    pub fn new(address: Address, device: DeviceId, now: OffsetDateTime) -> Self {
        Self {
            domain: DEFAULT_DOMAIN.to_string(),
            address,
            device,
            chain_id: DEFAULT_CHAIN_ID,
            scope: WorkspaceScope::All,
            nonce: siwe::generate_nonce(),
            issued_at: now,
            not_before: None,
            expires_at: now + DEFAULT_VALIDITY,
        }
    }

    /// The exact EIP-4361 text for the wallet to sign.
    ///
    /// Fails if a field cannot appear in a valid pairing message (bad domain or nonce, empty
    /// scope, expiration not after issue time, too large).
    pub fn to_message(&self) -> Result<String, PairingError> {
        let invalid = |reason: String| PairingError::InvalidRequest(reason);
        if self.nonce.len() < 8 || !self.nonce.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid(
                "the nonce must be at least 8 letters or digits".into(),
            ));
        }
        if self.domain.contains("://") {
            return Err(invalid(format!(
                "the domain {:?} must not include a scheme",
                self.domain
            )));
        }
        if self.expires_at <= self.issued_at {
            return Err(invalid(
                "the expiration must be after the issue time".into(),
            ));
        }
        let recap = self.scope.to_recap()?;
        let mut text = format!(
            "{domain} wants you to sign in with your Ethereum account:\n{address}\n\n\
             {PAIRING_STATEMENT} {recap_statement}\n\n\
             URI: {uri}\nVersion: 1\nChain ID: {chain}\nNonce: {nonce}\n\
             Issued At: {iat}\nExpiration Time: {exp}",
            domain = self.domain,
            address = self.address.to_checksum(),
            recap_statement = recap.statement(),
            uri = self.device.did_key(),
            chain = self.chain_id,
            nonce = self.nonce,
            iat = whole_seconds(self.issued_at)?,
            exp = whole_seconds(self.expires_at)?,
        );
        if let Some(nbf) = self.not_before {
            text.push_str(&format!("\nNot Before: {}", whole_seconds(nbf)?));
        }
        text.push_str(&format!("\nResources:\n- {}", recap.to_resource_uri()));
        // The text must pass the same structural checks a verifier applies.
        let parsed = parse_canonical_siwe(&text).map_err(|e| invalid(e.to_string()))?;
        check_structure(&parsed, &[self.domain.as_str()], &self.device)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(text)
    }
}

fn whole_seconds(t: OffsetDateTime) -> Result<String, PairingError> {
    let t = t.to_offset(UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).map_err(|e| {
        PairingError::InvalidRequest(format!("cannot write the time {t} in RFC 3339: {e}"))
    })
}

/// Parses EIP-4361 text and requires that it prints back to exactly the same text, that it is
/// at most [`MAX_MESSAGE_BYTES`] long and that its nonce is at least 8 letters or digits.
pub fn parse_canonical_siwe(text: &str) -> Result<siwe::Message, PairingError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(PairingError::TooLarge {
            size: text.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let message: siwe::Message = text
        .parse()
        .map_err(|e| PairingError::Malformed(describe_parse_error(e)))?;
    if message.to_string() != text {
        return Err(PairingError::NotCanonical);
    }
    if message.nonce.len() < 8 || !message.nonce.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(PairingError::Malformed(
            "the nonce must be at least 8 letters or digits".into(),
        ));
    }
    Ok(message)
}

/// siwe reports a missing or misplaced line by its tag alone ("URI: "); say it in words.
fn describe_parse_error(error: siwe::ParseError) -> String {
    match error {
        siwe::ParseError::Format(tag) if tag.ends_with(": ") || tag == "0x" => {
            format!("expected a line starting with {tag:?} at this point")
        }
        other => other.to_string(),
    }
}

/// What a verifier accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// SIWE domains accepted (compared case-insensitively).
    pub allowed_domains: Vec<String>,
}

impl VerifyPolicy {
    /// A policy accepting exactly these domains.
    pub fn allowing<I, S>(domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            allowed_domains: domains.into_iter().map(Into::into).collect(),
        }
    }
}

impl Default for VerifyPolicy {
    /// Accepts [`DEFAULT_DOMAIN`] only.
    fn default() -> Self {
        Self::allowing([DEFAULT_DOMAIN])
    }
}

/// SHA-256 content hash of a pairing certificate; how envelopes refer to it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertHash(pub [u8; 32]);

impl fmt::Display for CertHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for CertHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertHash({})", hex::encode(self.0))
    }
}

impl Serialize for CertHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for CertHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&text, &mut bytes).map_err(serde::de::Error::custom)?;
        Ok(CertHash(bytes))
    }
}

/// The facts a valid certificate establishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPairing {
    /// The wallet that signed.
    pub address: Address,
    /// The device it paired.
    pub device: DeviceId,
    /// The SIWE domain.
    pub domain: String,
    /// The chain id recorded in the message.
    pub chain_id: u64,
    /// The message nonce.
    pub nonce: String,
    /// Issue time.
    pub issued_at: OffsetDateTime,
    /// Start of validity, if any.
    pub not_before: Option<OffsetDateTime>,
    /// End of validity.
    pub expires_at: OffsetDateTime,
    /// Which workspaces the device may sign changes for.
    pub scope: WorkspaceScope,
    /// The certificate's content hash.
    pub cert_hash: CertHash,
}

impl VerifiedPairing {
    /// Whether the pairing was in force at `at` (not-before ≤ at ≤ expiration).
    ///
    /// Fails with [`PairingError::NotYetValid`] or [`PairingError::Expired`].
    pub fn check_valid_at(&self, at: OffsetDateTime) -> Result<(), PairingError> {
        if let Some(not_before) = self.not_before {
            if at < not_before {
                return Err(PairingError::NotYetValid { not_before, at });
            }
        }
        if at > self.expires_at {
            return Err(PairingError::Expired {
                expires_at: self.expires_at,
                at,
            });
        }
        Ok(())
    }
}

/// A wallet's consent that a device may sign weft changes: the exact signed text and the
/// normalised 65-byte signature. Serialises as `{"message": "...", "signature": "0x…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingCertificate {
    message: String,
    signature: Signature65,
}

impl PairingCertificate {
    /// Pairs the signed text with its signature. Nothing is checked until
    /// [`verify`](Self::verify).
    pub fn new(message: String, signature: Signature65) -> Self {
        Self { message, signature }
    }

    /// Pairs the signed text with a signature as pasted by the user (see
    /// [`Signature65`]'s `FromStr`: whitespace, quotes and `0x` are tolerated).
    ///
    /// Fails with [`PairingError::BadSignature`] if the text is not a usable signature.
    pub fn from_signature_text(message: String, signature: &str) -> Result<Self, PairingError> {
        let signature = signature.parse().map_err(PairingError::BadSignature)?;
        Ok(Self::new(message, signature))
    }

    /// Builds the message for `request` and signs it with weft's local wallet.
    ///
    /// Fails if the request is invalid or names another address than the wallet's.
    pub fn sign_with(request: &PairingRequest, wallet: &LocalWallet) -> Result<Self, PairingError> {
        if request.address != wallet.address() {
            return Err(PairingError::InvalidRequest(format!(
                "the request is for {}, but the local wallet is {}",
                request.address,
                wallet.address()
            )));
        }
        let message = request.to_message()?;
        let signature = wallet.sign_message(message.as_bytes());
        Ok(Self::new(message, signature))
    }

    /// The exact signed text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The normalised signature.
    pub fn signature(&self) -> &Signature65 {
        &self.signature
    }

    /// SHA-256 over a domain-separated encoding of the text and the normalised signature, so
    /// a high-S twin of a signature yields the same hash.
    pub fn cert_hash(&self) -> CertHash {
        let mut hasher = Sha256::new();
        hasher.update(b"weft/pairing-certificate/v1\0");
        hasher.update((self.message.len() as u64).to_be_bytes());
        hasher.update(self.message.as_bytes());
        hasher.update(self.signature.as_bytes());
        CertHash(hasher.finalize().into())
    }

    /// Verifies the certificate for `device` and checks it was in force at `at` (now for a
    /// fresh pairing; the causal time of a change when judging an old one).
    ///
    /// Fails with the first problem found; see [`PairingError`].
    pub fn verify(
        &self,
        policy: &VerifyPolicy,
        device: &DeviceId,
        at: OffsetDateTime,
    ) -> Result<VerifiedPairing, PairingError> {
        let verified = self.verify_ignoring_time(policy, device)?;
        verified.check_valid_at(at)?;
        Ok(verified)
    }

    /// Everything [`verify`](Self::verify) checks except the validity window; judge that later
    /// with [`VerifiedPairing::check_valid_at`] for each change.
    pub fn verify_ignoring_time(
        &self,
        policy: &VerifyPolicy,
        device: &DeviceId,
    ) -> Result<VerifiedPairing, PairingError> {
        let message = parse_canonical_siwe(&self.message)?;
        let allowed: Vec<&str> = policy.allowed_domains.iter().map(String::as_str).collect();
        let (expires_at, scope) = check_structure(&message, &allowed, device)?;

        let claimed = Address::from_bytes(message.address);
        let recovered = recover_address(self.message.as_bytes(), &self.signature)
            .map_err(PairingError::BadSignature)?;
        if recovered != claimed {
            return Err(PairingError::WrongAddress { claimed, recovered });
        }
        Ok(VerifiedPairing {
            address: claimed,
            device: *device,
            domain: message.domain.as_str().to_string(),
            chain_id: message.chain_id,
            nonce: message.nonce.clone(),
            issued_at: *message.issued_at.as_ref(),
            not_before: message.not_before.as_ref().map(|t| *t.as_ref()),
            expires_at,
            scope,
            cert_hash: self.cert_hash(),
        })
    }
}

/// The checks shared by building and verifying, in the order a user would want them
/// explained. Returns the expiration time and the granted scope.
fn check_structure(
    message: &siwe::Message,
    allowed_domains: &[&str],
    device: &DeviceId,
) -> Result<(OffsetDateTime, WorkspaceScope), PairingError> {
    for (field, stamp) in [
        ("issued-at time", Some(&message.issued_at)),
        ("expiration time", message.expiration_time.as_ref()),
        ("not-before time", message.not_before.as_ref()),
    ] {
        if let Some(stamp) = stamp {
            let value = stamp.to_string();
            if value.contains('.') {
                return Err(PairingError::BadTimestamp { field, value });
            }
        }
    }

    let domain = message.domain.as_str();
    if !allowed_domains
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(domain))
    {
        return Err(PairingError::DomainNotAllowed {
            domain: domain.to_string(),
            allowed: allowed_domains.join(", "),
        });
    }

    let statement = message
        .statement
        .as_deref()
        .ok_or_else(|| PairingError::BadStatement("it is missing".into()))?;
    if let Some((i, c)) = statement
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_graphic() || *c == ' '))
    {
        return Err(PairingError::BadStatement(format!(
            "it contains {c:?} at byte {i}; only plain printable ASCII is allowed"
        )));
    }

    let uri = message.uri.as_str();
    if uri != device.did_key() {
        return Err(PairingError::WrongDevice {
            expected: *device,
            found: uri.chars().take(120).collect(),
        });
    }

    let expires_at = *message
        .expiration_time
        .as_ref()
        .ok_or(PairingError::MissingExpiration)?
        .as_ref();

    let recap_uri = match message.resources.last() {
        Some(last) if last.as_str().starts_with(RECAP_URI_PREFIX) => last.as_str(),
        _ => return Err(PairingError::MissingRecap),
    };
    let recaps = message
        .resources
        .iter()
        .filter(|r| r.as_str().starts_with(RECAP_URI_PREFIX))
        .count();
    if recaps > 1 {
        return Err(PairingError::Malformed(
            "it has more than one ReCap resource".into(),
        ));
    }
    let recap = Recap::from_resource_uri(recap_uri).map_err(PairingError::BadRecap)?;
    let expected = recap.statement();
    if !statement.ends_with(&expected) {
        return Err(PairingError::RecapMismatch { expected });
    }
    let scope = WorkspaceScope::from_recap(&recap)?;
    Ok((expires_at, scope))
}
