//! The membership at one point of the log: members, roles, paired devices.

use std::collections::BTreeMap;

use super::op::{AclOp, AclOpKind};
use super::refusal::Refusal;
use super::role::Role;
use crate::crypto::AclOpId;
use crate::identity::{Address, CertHash, DeviceId, VerifiedPairing};

/// A member's standing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// Their role.
    pub role: Role,
    /// The op that gave them this role.
    pub since: AclOpId,
}

/// A published pairing certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certified {
    /// What the certificate establishes (wallet, device, validity window).
    pub pairing: VerifiedPairing,
    /// The op that published it.
    pub published_by: AclOpId,
    /// When it was published (the op's time, Unix seconds).
    pub published_at: i64,
}

/// A device that has been paired in the workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The wallet it signs for.
    pub address: Address,
    /// Its published certificates (a device renews by publishing a new one).
    pub certificates: BTreeMap<CertHash, Certified>,
    /// The op that first paired it.
    pub first_paired_by: AclOpId,
    /// The op that revoked it, if any.
    pub revoked_by: Option<AclOpId>,
}

/// The key epoch writers seal under, and the rotation that started it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyEpoch {
    /// The epoch number.
    pub epoch: u32,
    /// The `RotateKey` op that started it.
    pub rotation: AclOpId,
}

impl KeyEpoch {
    /// Whether `self` supersedes `other`: a higher epoch, or the same epoch started by the
    /// rotation with the smaller id (two concurrent rotations can pick the same number).
    pub fn supersedes(&self, other: &KeyEpoch) -> bool {
        (self.epoch, std::cmp::Reverse(self.rotation))
            > (other.epoch, std::cmp::Reverse(other.rotation))
    }
}

/// Who is a member, with which role, and which devices sign for them, at some point of the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberState {
    /// The owner.
    pub owner: Option<Address>,
    /// Members and their roles.
    pub members: BTreeMap<Address, Membership>,
    /// Paired devices, including revoked ones and those of former members.
    pub devices: BTreeMap<DeviceId, DeviceRecord>,
    /// The current key epoch: the valid rotation that supersedes all others.
    pub epoch: Option<KeyEpoch>,
}

impl MemberState {
    /// The role of an address, if it is a member.
    pub fn role(&self, address: &Address) -> Option<Role> {
        self.members.get(address).map(|m| m.role)
    }

    /// The devices that may read: paired, not revoked, of a current member (ascending).
    pub fn reading_devices(&self) -> Vec<DeviceId> {
        self.devices
            .iter()
            .filter(|(_, d)| d.revoked_by.is_none() && self.members.contains_key(&d.address))
            .map(|(id, _)| *id)
            .collect()
    }

    pub(crate) fn apply(&mut self, op: &AclOp, pairing: Option<&VerifiedPairing>) {
        let id = op.id();
        match op.kind() {
            AclOpKind::Genesis { .. } => {
                if let Some(p) = pairing {
                    self.owner = Some(p.address);
                    self.members.insert(
                        p.address,
                        Membership {
                            role: Role::Owner,
                            since: id,
                        },
                    );
                    self.certify(p, op);
                }
            }
            AclOpKind::Add { member, role }
            | AclOpKind::ChangeRole { member, role }
            | AclOpKind::Invite { member, role, .. } => {
                self.members.insert(
                    *member,
                    Membership {
                        role: *role,
                        since: id,
                    },
                );
            }
            AclOpKind::Remove { member } => {
                self.members.remove(member);
            }
            AclOpKind::RevokeDevice { device } => {
                if let Some(d) = self.devices.get_mut(device) {
                    d.revoked_by.get_or_insert(id);
                }
            }
            AclOpKind::DeviceCertificate { .. } => {
                if let Some(p) = pairing {
                    self.certify(p, op);
                }
            }
            AclOpKind::RotateKey { epoch, .. } => {
                let started = KeyEpoch {
                    epoch: *epoch,
                    rotation: id,
                };
                if self.epoch.is_none_or(|e| started.supersedes(&e)) {
                    self.epoch = Some(started);
                }
            }
            AclOpKind::ShareKeys { .. } => {}
        }
    }

    fn certify(&mut self, pairing: &VerifiedPairing, op: &AclOp) {
        let record = self
            .devices
            .entry(pairing.device)
            .or_insert_with(|| DeviceRecord {
                address: pairing.address,
                certificates: BTreeMap::new(),
                first_paired_by: op.id(),
                revoked_by: None,
            });
        if record.revoked_by.is_none() && record.address == pairing.address {
            record.certificates.insert(
                pairing.cert_hash,
                Certified {
                    pairing: pairing.clone(),
                    published_by: op.id(),
                    published_at: op.body().time,
                },
            );
        }
    }

    /// The wallet a device signs for with `cert` at `time`, and its role.
    ///
    /// Fails if the device is unknown or revoked, the certificate was never published or was not
    /// in force at `time`, or the wallet is not a member.
    pub fn signer(
        &self,
        device: &DeviceId,
        cert: &CertHash,
        time: i64,
    ) -> Result<(Address, Role), Refusal> {
        let record = self
            .devices
            .get(device)
            .ok_or(Refusal::UnknownDevice(*device))?;
        if record.revoked_by.is_some() {
            return Err(Refusal::DeviceRevoked(*device));
        }
        let certified = record
            .certificates
            .get(cert)
            .ok_or(Refusal::UnknownCertificate {
                device: *device,
                cert: *cert,
            })?;
        check_cert_time(&certified.pairing, time)?;
        let role = self
            .role(&record.address)
            .ok_or(Refusal::NotAMember(record.address))?;
        Ok((record.address, role))
    }
}

pub(crate) fn check_cert_time(pairing: &VerifiedPairing, time: i64) -> Result<(), Refusal> {
    let at = time::OffsetDateTime::from_unix_timestamp(time).map_err(|_| {
        Refusal::CertificateNotValid {
            device: pairing.device,
            why: format!("the time {time} is out of range"),
        }
    })?;
    pairing
        .check_valid_at(at)
        .map_err(|e| Refusal::CertificateNotValid {
            device: pairing.device,
            why: e.to_string(),
        })
}
