//! Resolution: which membership ops are valid, and who holds which role, following the rules in
//! [`super::log`]. A pure function of the log's contents.

use std::cmp::Reverse;

use super::authorize::authorize;
use super::log::{MembershipLog, PositionSet};
use super::op::{AclOp, AclOpKind};
use super::refusal::Refusal;
use super::role::Role;
pub use super::state::{Certified, DeviceRecord, KeyEpoch, MemberState, Membership};
use crate::crypto::AclOpId;
use crate::identity::{Address, CertHash, DeviceId};

/// Passes over the log before resolution stops even if a pathological log keeps changing.
const MAX_PASSES: usize = 32;

/// What a valid restricting op does to its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Restriction {
    /// The address gets this role, or none.
    Address(Address, Option<Role>),
    /// The device is revoked.
    Device(DeviceId),
}

pub(crate) fn restriction_of(op: &AclOp) -> Option<Restriction> {
    match op.kind() {
        AclOpKind::Remove { member } => Some(Restriction::Address(*member, None)),
        AclOpKind::ChangeRole { member, role } => Some(Restriction::Address(*member, Some(*role))),
        AclOpKind::RevokeDevice { device } => Some(Restriction::Device(*device)),
        _ => None,
    }
}

/// The outcome of resolving a log.
#[derive(Clone, Debug)]
pub struct Resolution {
    verdicts: Vec<Result<(), Refusal>>,
    valid: Vec<bool>,
    /// Position of each op (by arrival) in resolution order.
    rank: Vec<usize>,
    current: MemberState,
}

impl Resolution {
    /// Resolves the whole log.
    pub fn compute(log: &MembershipLog) -> Self {
        let n = log.entries.len();
        let mut rank = vec![0; n];
        for (pos, &i) in log.order().iter().enumerate() {
            rank[i] = pos;
        }
        let mut r = Self {
            verdicts: vec![Ok(()); n],
            valid: vec![true; n],
            rank,
            current: MemberState::default(),
        };
        for _ in 0..MAX_PASSES {
            let mut changed = false;
            for &i in log.order() {
                let verdict = r.judge(log, i);
                if verdict.is_ok() != r.valid[i] {
                    r.valid[i] = verdict.is_ok();
                    changed = true;
                }
                r.verdicts[i] = verdict;
            }
            if !changed {
                break;
            }
        }
        r.current = r.replay(log, None, None);
        r
    }

    /// The ops an op or change made now cites: the valid ops that no other valid op descends
    /// from, at most `max` of them (returned ascending by id). Invalid ops are never cited, so
    /// ops that are void cannot crowd out the ones that count. Past `max` (only possible with
    /// that many concurrent valid ops), the heads that cover `needed` (what the citing device's
    /// authority and key rest on) come first, then the deepest; the next op, citing them, brings
    /// the count back down.
    pub(crate) fn valid_heads(
        &self,
        log: &MembershipLog,
        max: usize,
        needed: &[AclOpId],
    ) -> Vec<AclOpId> {
        let mut covered = PositionSet::default();
        let mut maximal = Vec::new();
        for &i in log.order().iter().rev() {
            if !self.is_valid_at(i) || covered.contains(i) {
                continue;
            }
            maximal.push(i);
            covered.union_with(&log.entries[i].past);
        }
        let mut chosen: Vec<usize> = Vec::new();
        if maximal.len() > max {
            for n in needed.iter().filter_map(|id| log.position(id)) {
                if chosen.iter().any(|&h| log.entries[h].past.contains(n)) {
                    continue;
                }
                if let Some(&h) = maximal.iter().find(|&&h| log.entries[h].past.contains(n)) {
                    chosen.push(h);
                }
            }
        }
        for h in maximal {
            if chosen.len() >= max {
                break;
            }
            if !chosen.contains(&h) {
                chosen.push(h);
            }
        }
        chosen.truncate(max);
        let mut heads: Vec<AclOpId> = chosen.iter().map(|&i| log.entries[i].op.id()).collect();
        heads.sort_unstable();
        heads
    }

    /// Whether the op at arrival position `i` is valid.
    pub(crate) fn is_valid_at(&self, i: usize) -> bool {
        self.valid.get(i).copied().unwrap_or(false)
    }

    /// The membership after every valid op.
    pub fn current(&self) -> &MemberState {
        &self.current
    }

    /// Whether an op is valid, and if not, why. `None` if the log does not hold it.
    pub fn verdict(&self, log: &MembershipLog, id: &AclOpId) -> Option<&Result<(), Refusal>> {
        log.position(id).map(|i| &self.verdicts[i])
    }

    /// The membership made by the valid ops among `heads` and their ancestors. `None` if the log
    /// lacks one of the heads.
    pub fn state_at(&self, log: &MembershipLog, heads: &[AclOpId]) -> Option<MemberState> {
        let past = log.past_of(heads)?;
        Some(self.replay(log, Some(&past), None))
    }

    /// Replays the valid ops within `within` (all if `None`), skipping `except`.
    fn replay(
        &self,
        log: &MembershipLog,
        within: Option<&PositionSet>,
        except: Option<usize>,
    ) -> MemberState {
        let mut state = MemberState::default();
        for &i in log.order() {
            if !self.valid[i] || Some(i) == except || within.is_some_and(|w| !w.contains(i)) {
                continue;
            }
            let e = &log.entries[i];
            state.apply(&e.op, e.pairing.as_ref());
        }
        state
    }

    /// The valid restricting ops not among `past` that target `address` or `device`.
    pub(crate) fn restrictions_outside(
        &self,
        log: &MembershipLog,
        past: &PositionSet,
        address: &Address,
        device: &DeviceId,
    ) -> Vec<(usize, Restriction)> {
        let mut out = Vec::new();
        for &j in log.order() {
            if !self.valid[j] || past.contains(j) {
                continue;
            }
            match restriction_of(&log.entries[j].op) {
                Some(r @ Restriction::Address(a, _)) if a == *address => out.push((j, r)),
                Some(r @ Restriction::Device(d)) if d == *device => out.push((j, r)),
                _ => {}
            }
        }
        out
    }

    fn judge(&self, log: &MembershipLog, i: usize) -> Result<(), Refusal> {
        let e = &log.entries[i];
        let before = self.replay(log, Some(&e.past), Some(i));
        let actor = authorize(&e.op, e.pairing.as_ref(), &before, i == 0)?;
        if i == 0 {
            return Ok(());
        }
        let concurrent = |j: usize| !e.past.contains(j) && !log.entries[j].past.contains(i);

        // Rule 3: a device is bound to one wallet for good. Between concurrent bindings of one
        // device to different wallets, the first in resolution order holds.
        if let (AclOpKind::DeviceCertificate { .. }, Some(p)) = (e.op.kind(), e.pairing.as_ref()) {
            for &j in log.order() {
                if self.rank[j] >= self.rank[i] {
                    break;
                }
                if !self.valid[j] || !concurrent(j) {
                    continue;
                }
                if let Some(q) = log.entries[j].pairing.as_ref() {
                    if q.device == p.device && q.address != p.address {
                        return Err(Refusal::DeviceOfAnotherWallet {
                            device: p.device,
                            bound_to: q.address,
                            claimed_for: p.address,
                        });
                    }
                }
            }
        }

        // Rule 6: among concurrent assignments to one address, the most restrictive wins.
        if let AclOpKind::Add { member, role }
        | AclOpKind::ChangeRole { member, role }
        | AclOpKind::Invite { member, role, .. } = e.op.kind()
        {
            for &j in log.order() {
                if j == i || !self.valid[j] || !concurrent(j) {
                    continue;
                }
                let lower = match log.entries[j].op.kind() {
                    AclOpKind::Remove { member: m } => m == member,
                    AclOpKind::Add { member: m, role: r }
                    | AclOpKind::ChangeRole { member: m, role: r }
                    | AclOpKind::Invite {
                        member: m, role: r, ..
                    } => m == member && r < role,
                    _ => false,
                };
                if lower {
                    return Err(Refusal::Superseded {
                        member: *member,
                        by: log.entries[j].op.id(),
                    });
                }
            }
        }

        // Rule 5: strong remove, with rule 7 for mutual restrictions.
        let own_restriction = restriction_of(&e.op);
        for (j, restriction) in
            self.restrictions_outside(log, &e.past, &actor.address, &actor.device)
        {
            if j == i || !concurrent(j) {
                continue;
            }
            let other = &log.entries[j];
            let refusal = match restriction {
                Restriction::Device(device) => Refusal::DeviceRevokedConcurrently {
                    device,
                    by: other.op.id(),
                },
                Restriction::Address(address, None) => Refusal::RemovedConcurrently {
                    address,
                    by: other.op.id(),
                },
                Restriction::Address(address, Some(lower)) => {
                    let mut demoted = before.clone();
                    if let Some(m) = demoted.members.get_mut(&address) {
                        m.role = m.role.min(lower);
                    }
                    match authorize(&e.op, e.pairing.as_ref(), &demoted, false) {
                        Ok(_) => continue,
                        Err(_) => Refusal::DemotedConcurrently {
                            address,
                            role: lower,
                            needed: actor.role,
                            what: e.op.kind().describe(),
                            by: other.op.id(),
                        },
                    }
                }
            };
            if let Some(mine) = own_restriction {
                if self.restricts_author_of(log, mine, j)
                    && self.seniority(log, i, &before)
                        > self.seniority(log, j, &self.before(log, j))
                {
                    continue;
                }
            }
            return Err(refusal);
        }
        Ok(())
    }

    fn before(&self, log: &MembershipLog, j: usize) -> MemberState {
        self.replay(log, Some(&log.entries[j].past), Some(j))
    }

    /// Whether `restriction` targets the author of op `j`.
    fn restricts_author_of(&self, log: &MembershipLog, restriction: Restriction, j: usize) -> bool {
        let other = &log.entries[j];
        match restriction {
            Restriction::Device(d) => d == other.op.body().author,
            Restriction::Address(a, _) => self
                .before(log, j)
                .devices
                .get(&other.op.body().author)
                .is_some_and(|d| d.address == a),
        }
    }

    /// Rule 7's order: higher role, earlier grant, earlier device, smaller id.
    fn seniority(
        &self,
        log: &MembershipLog,
        i: usize,
        before: &MemberState,
    ) -> (
        Option<Role>,
        Reverse<usize>,
        Reverse<usize>,
        Reverse<AclOpId>,
    ) {
        let op = &log.entries[i].op;
        let device = before.devices.get(&op.body().author);
        let member = device.and_then(|d| before.members.get(&d.address));
        let rank_of = |id: &AclOpId| log.position(id).map_or(usize::MAX, |p| self.rank[p]);
        (
            member.map(|m| m.role),
            Reverse(member.map_or(usize::MAX, |m| rank_of(&m.since))),
            Reverse(device.map_or(usize::MAX, |d| rank_of(&d.first_paired_by))),
            Reverse(op.id()),
        )
    }
}

/// Who may write a document change, judged at the membership heads it cites, then lowered by
/// any restriction the change's author did not know of and whose author had not seen the change
/// (strong remove for document changes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeAuthority {
    /// The wallet behind the device.
    pub address: Address,
    /// Its role at the cited heads.
    pub role_at_heads: Role,
    /// Its role once concurrent restrictions are applied.
    pub effective: Role,
    /// The restriction that lowered it, if any.
    pub lowered_by: Option<AclOpId>,
}

impl Resolution {
    /// The authority of a device signing with `cert` at `time` a change that cites `heads` and
    /// whose changes end at `end`. `at_heads` is [`state_at`](Self::state_at) of the heads.
    ///
    /// Fails if the device cannot sign for a member at the heads, or if a concurrent removal or
    /// revocation that had not seen the change voids it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn change_authority(
        &self,
        log: &MembershipLog,
        at_heads: &MemberState,
        past: &PositionSet,
        device: &DeviceId,
        cert: &CertHash,
        time: i64,
        end: &loro::VersionVector,
    ) -> Result<ChangeAuthority, Refusal> {
        let (address, role) = at_heads.signer(device, cert, time)?;
        let mut authority = ChangeAuthority {
            address,
            role_at_heads: role,
            effective: role,
            lowered_by: None,
        };
        for (j, restriction) in self.restrictions_outside(log, past, &address, device) {
            let op = &log.entries[j].op;
            if op.body().seen.includes(end) {
                continue;
            }
            match restriction {
                Restriction::Device(device) => {
                    return Err(Refusal::DeviceRevokedConcurrently {
                        device,
                        by: op.id(),
                    })
                }
                Restriction::Address(address, None) => {
                    return Err(Refusal::RemovedConcurrently {
                        address,
                        by: op.id(),
                    })
                }
                Restriction::Address(_, Some(lower)) if lower < authority.effective => {
                    authority.effective = lower;
                    authority.lowered_by = Some(op.id());
                }
                Restriction::Address(..) => {}
            }
        }
        Ok(authority)
    }
}
