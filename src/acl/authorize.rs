//! Whether one membership op is allowed by the state before it (rules 1–4 of [`super::log`]).

use super::op::{AclOp, AclOpKind};
use super::refusal::Refusal;
use super::role::Role;
use super::state::{check_cert_time, MemberState};
use crate::identity::{Address, DeviceId, VerifiedPairing};

/// How far past the current epoch a rotation may jump. Honest rotations add one; the bound
/// keeps a rogue admin from exhausting the epoch numbers.
pub(crate) const MAX_EPOCH_STEP: u32 = 1024;

/// Who signed an op, as far as the state before it can tell.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Actor {
    pub(crate) address: Address,
    pub(crate) device: DeviceId,
    pub(crate) role: Role,
}

/// Checks `op` against the state made by the valid ops before it (rules 1–4).
pub(crate) fn authorize(
    op: &AclOp,
    pairing: Option<&VerifiedPairing>,
    state: &MemberState,
    is_first: bool,
) -> Result<Actor, Refusal> {
    let body = op.body();
    match (op.kind(), pairing) {
        (AclOpKind::Genesis { .. }, Some(p)) if is_first => {
            return Ok(Actor {
                address: p.address,
                device: p.device,
                role: Role::Owner,
            })
        }
        (AclOpKind::Genesis { .. }, _) => return Err(Refusal::SecondGenesis),
        (AclOpKind::DeviceCertificate { .. }, Some(p)) if p.device != body.author => {
            // Only the device itself may publish its certificate: anyone else's op naming it
            // would bind a device they do not hold.
            return Err(Refusal::CertificateNotSelfPublished {
                device: p.device,
                author: body.author,
            });
        }
        (AclOpKind::DeviceCertificate { .. }, Some(p)) if p.device == body.author => {
            // A device introducing itself: its own certificate is its authority.
            if body.cert_hash != p.cert_hash {
                return Err(Refusal::CertificateNotValid {
                    device: p.device,
                    why: "the op names another certificate than the one it publishes".into(),
                });
            }
            check_cert_time(p, body.time)?;
            check_binding(p, state)?;
            let role = state
                .role(&p.address)
                .ok_or(Refusal::NotAMember(p.address))?;
            return Ok(Actor {
                address: p.address,
                device: p.device,
                role,
            });
        }
        _ => {}
    }
    let (address, role) = state.signer(&body.author, &body.cert_hash, body.time)?;
    let actor = Actor {
        address,
        device: body.author,
        role,
    };
    check_action(&actor, op.kind(), pairing, state, body.time)?;
    Ok(actor)
}

/// Whether `actor` may do what `kind` does, in `state` (rules 3 and 4).
pub(crate) fn check_action(
    actor: &Actor,
    kind: &AclOpKind,
    pairing: Option<&VerifiedPairing>,
    state: &MemberState,
    time: i64,
) -> Result<(), Refusal> {
    let Actor { address, role, .. } = *actor;
    let needs_admin = |what: &str| {
        if role < Role::Admin {
            Err(Refusal::RoleTooLow {
                address,
                role,
                needed: Role::Admin,
                what: what.into(),
            })
        } else {
            Ok(())
        }
    };
    let below = |target: Address, target_role: Role| {
        if role > target_role {
            Ok(())
        } else {
            Err(Refusal::NotBelow {
                actor: address,
                actor_role: role,
                target,
                target_role,
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
    match kind {
        AclOpKind::Genesis { .. } => return Err(Refusal::SecondGenesis),
        AclOpKind::Add { member, role: new } => {
            needs_admin("adding members")?;
            grantable(*new)?;
            if state.members.contains_key(member) {
                return Err(Refusal::AlreadyMember(*member));
            }
        }
        AclOpKind::Invite {
            member, role: new, ..
        } => {
            needs_admin("inviting members")?;
            grantable(*new)?;
            if state.members.contains_key(member) {
                return Err(Refusal::AlreadyMember(*member));
            }
        }
        AclOpKind::ChangeRole { member, role: new } => {
            needs_admin("changing roles")?;
            let current = state.role(member).ok_or(Refusal::NoSuchMember(*member))?;
            below(*member, current)?;
            grantable(*new)?;
        }
        AclOpKind::Remove { member } => {
            needs_admin("removing members")?;
            let current = state.role(member).ok_or(Refusal::NoSuchMember(*member))?;
            below(*member, current)?;
        }
        AclOpKind::RevokeDevice { device } => {
            let record = state
                .devices
                .get(device)
                .ok_or(Refusal::NoSuchDevice(*device))?;
            if record.address != address {
                needs_admin("revoking another member's device")?;
                if let Some(owner_role) = state.role(&record.address) {
                    below(record.address, owner_role)?;
                }
            }
        }
        AclOpKind::DeviceCertificate { .. } => {
            let p = pairing.ok_or_else(|| Refusal::Unreadable("certificate missing".into()))?;
            if p.address != address {
                return Err(Refusal::CertificateForAnotherWallet {
                    actor: address,
                    owner: p.address,
                });
            }
            if p.device != actor.device {
                return Err(Refusal::CertificateNotSelfPublished {
                    device: p.device,
                    author: actor.device,
                });
            }
            check_cert_time(p, time)?;
            check_binding(p, state)?;
        }
        AclOpKind::RotateKey { epoch, .. } => {
            needs_admin("rotating the workspace key")?;
            let previous = state.epoch.map_or(0, |e| e.epoch);
            if *epoch <= previous || *epoch - previous > MAX_EPOCH_STEP {
                return Err(Refusal::EpochOutOfOrder {
                    epoch: *epoch,
                    previous,
                });
            }
        }
        AclOpKind::ShareKeys { device, .. } => {
            let record = state
                .devices
                .get(device)
                .ok_or(Refusal::NoSuchDevice(*device))?;
            if record.revoked_by.is_some() {
                return Err(Refusal::DeviceRevoked(*device));
            }
            if !state.members.contains_key(&record.address) {
                return Err(Refusal::NotAMember(record.address));
            }
        }
    }
    Ok(())
}

/// Whether the device of `p` may be certified in `state`: not revoked, and not bound to another
/// wallet (the first binding of a device holds for good).
fn check_binding(p: &VerifiedPairing, state: &MemberState) -> Result<(), Refusal> {
    match state.devices.get(&p.device) {
        Some(d) if d.revoked_by.is_some() => Err(Refusal::DeviceRevoked(p.device)),
        Some(d) if d.address != p.address => Err(Refusal::DeviceOfAnotherWallet {
            device: p.device,
            bound_to: d.address,
            claimed_for: p.address,
        }),
        _ => Ok(()),
    }
}
