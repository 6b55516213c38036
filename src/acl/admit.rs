//! Admission: whether a membership op whose parents are all present may enter the log at all
//! (rule 10 of [`super::log`]).
//!
//! The check is a pure function of the op and the ops in its causal past, so every replica that
//! holds those ops decides the same, whatever else it holds or will receive. It is an upper bound
//! of what resolution allows: it reads every op in the past as if it were valid and takes the
//! highest role a wallet was ever given there, so an op that resolution could find valid is
//! never turned away; an op it refuses could never be valid, wherever it is judged. It costs one
//! pass over the op's past, so junk is refused cheaply and never becomes a head.

use std::collections::BTreeMap;

use super::log::MembershipLog;
use super::op::{AclOp, AclOpKind};
use super::refusal::Refusal;
use super::role::Role;
use super::state::check_cert_time;
use crate::identity::{Address, CertHash, DeviceId, VerifiedPairing};

/// What the ops in a causal past say, read as if every one of them were valid.
#[derive(Default)]
struct Past<'a> {
    /// Every wallet each device was certified for, with the certificates published for it.
    bindings: BTreeMap<DeviceId, BTreeMap<Address, BTreeMap<CertHash, &'a VerifiedPairing>>>,
    /// The highest role each wallet was ever given.
    granted: BTreeMap<Address, Role>,
}

impl<'a> Past<'a> {
    fn read(log: &'a MembershipLog, parents: &[crate::crypto::AclOpId]) -> Option<Self> {
        let within = log.past_of(parents)?;
        let mut past = Past::default();
        for &i in log.order() {
            if !within.contains(i) {
                continue;
            }
            let e = &log.entries[i];
            match (e.op.kind(), e.pairing.as_ref()) {
                (AclOpKind::Genesis { .. }, Some(p)) => {
                    past.bind(p);
                    past.grant(p.address, Role::Owner);
                }
                (AclOpKind::DeviceCertificate { .. }, Some(p)) => past.bind(p),
                (
                    AclOpKind::Add { member, role }
                    | AclOpKind::ChangeRole { member, role }
                    | AclOpKind::Invite { member, role, .. },
                    _,
                ) => past.grant(*member, *role),
                _ => {}
            }
        }
        Some(past)
    }

    fn bind(&mut self, p: &'a VerifiedPairing) {
        self.bindings
            .entry(p.device)
            .or_default()
            .entry(p.address)
            .or_default()
            .insert(p.cert_hash, p);
    }

    fn grant(&mut self, address: Address, role: Role) {
        let r = self.granted.entry(address).or_insert(role);
        *r = (*r).max(role);
    }

    fn role(&self, address: &Address) -> Option<Role> {
        self.granted.get(address).copied()
    }
}

/// Whether `op` (structure and signature already checked, parents present) may enter the log:
/// signed by a device certified, at its parents, for a wallet that was given a role there, with
/// a certificate in force at the op's time, for something that role could ever do. A device's
/// certificate is published only by the device itself.
///
/// Fails with the reason that names what is wrong; `Unreadable` if a parent is missing.
pub(crate) fn admit(
    log: &MembershipLog,
    op: &AclOp,
    pairing: Option<&VerifiedPairing>,
) -> Result<(), Refusal> {
    admit_over(log, op, pairing, &op.body().parents)
}

/// [`admit`], reading the past of `heads` instead of the op's parents (for an op that cites
/// refused ops: their own past counts, they do not).
pub(crate) fn admit_over(
    log: &MembershipLog,
    op: &AclOp,
    pairing: Option<&VerifiedPairing>,
    heads: &[crate::crypto::AclOpId],
) -> Result<(), Refusal> {
    let body = op.body();
    let past = Past::read(log, heads)
        .ok_or_else(|| Refusal::Unreadable("an op it cites is missing".into()))?;
    let (address, role) = match (op.kind(), pairing) {
        (AclOpKind::Genesis { .. }, _) => return Err(Refusal::SecondGenesis),
        (AclOpKind::DeviceCertificate { .. }, Some(p)) => {
            if p.device != body.author {
                return Err(Refusal::CertificateNotSelfPublished {
                    device: p.device,
                    author: body.author,
                });
            }
            if body.cert_hash != p.cert_hash {
                return Err(Refusal::CertificateNotValid {
                    device: p.device,
                    why: "the op names another certificate than the one it publishes".into(),
                });
            }
            check_cert_time(p, body.time)?;
            past.role(&p.address)
                .ok_or(Refusal::NotAMember(p.address))?;
            return match past.bindings.get(&p.device) {
                Some(bound) if !bound.contains_key(&p.address) => {
                    Err(Refusal::DeviceOfAnotherWallet {
                        device: p.device,
                        bound_to: *bound.keys().next().unwrap_or(&p.address),
                        claimed_for: p.address,
                    })
                }
                _ => Ok(()),
            };
        }
        (AclOpKind::DeviceCertificate { .. }, None) => {
            return Err(Refusal::Unreadable("its certificate is missing".into()))
        }
        _ => signer(&past, &body.author, &body.cert_hash, body.time)?,
    };
    let needs_admin = |what: &str| {
        if role >= Role::Admin {
            Ok(())
        } else {
            Err(Refusal::RoleTooLow {
                address,
                role,
                needed: Role::Admin,
                what: what.into(),
            })
        }
    };
    let grantable = |new: Role| {
        if role > new && new != Role::Owner {
            Ok(())
        } else {
            Err(Refusal::CannotGrant {
                actor: address,
                actor_role: role,
                role: new,
            })
        }
    };
    match op.kind() {
        AclOpKind::Add { role: new, .. } => {
            needs_admin("adding members")?;
            grantable(*new)
        }
        AclOpKind::Invite { role: new, .. } => {
            needs_admin("inviting members")?;
            grantable(*new)
        }
        AclOpKind::ChangeRole { role: new, .. } => {
            needs_admin("changing roles")?;
            grantable(*new)
        }
        AclOpKind::Remove { .. } => needs_admin("removing members"),
        AclOpKind::RotateKey { .. } => needs_admin("rotating the workspace key"),
        AclOpKind::RevokeDevice { device } => {
            let own = past
                .bindings
                .get(device)
                .is_some_and(|b| b.contains_key(&address));
            if own {
                Ok(())
            } else {
                needs_admin("revoking another member's device")
            }
        }
        AclOpKind::ShareKeys { .. } => Ok(()),
        AclOpKind::Genesis { .. } | AclOpKind::DeviceCertificate { .. } => Ok(()),
    }
}

/// The wallet `device` signs for with `cert` at `time` in `past`, and the highest role that
/// wallet was given there (the device may be certified for several wallets by a device that
/// equivocated: the highest role among them counts, resolution settles which holds).
fn signer(
    past: &Past,
    device: &DeviceId,
    cert: &CertHash,
    time: i64,
) -> Result<(Address, Role), Refusal> {
    let bound = past
        .bindings
        .get(device)
        .ok_or(Refusal::UnknownDevice(*device))?;
    let mut found: Option<&VerifiedPairing> = None;
    let mut best: Option<(Address, Role)> = None;
    for (address, certs) in bound {
        let Some(p) = certs.get(cert) else {
            continue;
        };
        found = Some(*p);
        if let Some(role) = past.role(address) {
            if best.is_none_or(|(_, r)| role > r) {
                best = Some((*address, role));
            }
        }
    }
    let p = found.ok_or(Refusal::UnknownCertificate {
        device: *device,
        cert: *cert,
    })?;
    check_cert_time(p, time)?;
    best.ok_or(Refusal::NotAMember(p.address))
}
