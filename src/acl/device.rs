//! This device's signing identity and a replica's settings.

use crate::identity::{
    parse_canonical_siwe, Address, CertHash, DeviceId, DeviceKey, PairingCertificate,
    VerifiedPairing, VerifyPolicy,
};
use crate::model::Clock;

use super::refusal::Refusal;

/// How far in the future (seconds) a change or op may be dated before it waits.
pub const DEFAULT_MAX_CLOCK_SKEW: i64 = 300;

/// This device: its key and the certificate by which it signs for its wallet.
#[derive(Clone, Debug)]
pub struct DeviceIdentity {
    key: DeviceKey,
    certificate: PairingCertificate,
    pairing: VerifiedPairing,
}

impl DeviceIdentity {
    /// Pairs a device key with its certificate.
    ///
    /// Fails if the certificate does not verify for this device under `policy` (time is judged
    /// later, for each change).
    pub fn new(
        key: DeviceKey,
        certificate: PairingCertificate,
        policy: &VerifyPolicy,
    ) -> Result<Self, Refusal> {
        let pairing = verify_certificate(&certificate, policy)?;
        if pairing.device != key.id() {
            return Err(Refusal::CertificateNotValid {
                device: key.id(),
                why: format!("it certifies device {}", pairing.device),
            });
        }
        Ok(Self {
            key,
            certificate,
            pairing,
        })
    }

    /// The wallet this device signs for.
    pub fn address(&self) -> Address {
        self.pairing.address
    }

    /// This device's id.
    pub fn device(&self) -> DeviceId {
        self.pairing.device
    }

    /// The certificate's hash.
    pub fn cert_hash(&self) -> CertHash {
        self.pairing.cert_hash
    }

    /// The certificate.
    pub fn certificate(&self) -> &PairingCertificate {
        &self.certificate
    }

    pub(crate) fn pairing_ref(&self) -> &VerifiedPairing {
        &self.pairing
    }

    pub(crate) fn key_ref(&self) -> &DeviceKey {
        &self.key
    }
}

/// Verifies a certificate for the device its message names (ignoring time).
pub(crate) fn verify_certificate(
    certificate: &PairingCertificate,
    policy: &VerifyPolicy,
) -> Result<VerifiedPairing, Refusal> {
    let message = parse_canonical_siwe(certificate.message())
        .map_err(|e| Refusal::Unreadable(e.to_string()))?;
    let device: DeviceId = message
        .uri
        .as_str()
        .parse()
        .map_err(|e: crate::identity::DeviceIdError| Refusal::Unreadable(e.to_string()))?;
    certificate
        .verify_ignoring_time(policy, &device)
        .map_err(|e| Refusal::CertificateNotValid {
            device,
            why: e.to_string(),
        })
}

/// Settings of a replica.
#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    /// Which pairing certificates are accepted.
    pub policy: VerifyPolicy,
    /// The clock the workspace model stamps local edits with.
    pub clock: Clock,
    /// How far in the future (seconds) a change or op may be dated before it waits.
    pub max_clock_skew: i64,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        Self {
            policy: VerifyPolicy::default(),
            clock: Clock::System,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
        }
    }
}
