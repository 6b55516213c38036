//! Membership on a replica: receiving membership ops, issuing the local user's own (after
//! checking their role), answering "may I?", and listing members, quarantine and pending items.

use time::OffsetDateTime;

use super::admit::{admit, admit_over};
use super::authorize::{authorize, check_action, Actor};
use super::judge::Status;
use super::op::{AclOp, AclOpBody, AclOpKind, ContentVersion};
use super::outcome::{
    AclOutcome, AclReceipt, Missing, Outcome, PendingEntry, QuarantineEntry, QuarantinedItem,
};
use super::policy::{self, Write, WriteSummary};
use super::refusal::Refusal;
use super::replica::{unix, verify_certificate, LocalError, Replica};
use super::resolve::{ChangeAuthority, MemberState};
use super::role::Role;
use crate::crypto::{AclOpId, EnvelopeId};
use crate::identity::{Address, DeviceId, VerifiedPairing};
use crate::model::{CommentId, Workspace};

/// Something the user may want to do, for [`Replica::can`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create, rename, move or write in documents.
    EditDocs,
    /// Change boards, columns and cards.
    EditBoards,
    /// Move an item to the trash or restore it.
    Trash,
    /// Delete an item for good.
    Purge,
    /// Change workspace settings.
    EditSettings,
    /// Write a new comment.
    Comment,
    /// Edit a comment's text.
    EditComment(CommentId),
    /// Resolve or reopen a comment thread.
    ResolveComment(CommentId),
    /// Delete a comment.
    DeleteComment(CommentId),
    /// Set or clear one's own display name (any member, viewers included).
    SetOwnProfile,
    /// Add a member.
    AddMember {
        /// Who.
        member: Address,
        /// With which role.
        role: Role,
    },
    /// Change a member's role.
    ChangeRole {
        /// Who.
        member: Address,
        /// The new role.
        role: Role,
    },
    /// Remove a member.
    RemoveMember {
        /// Who.
        member: Address,
    },
    /// Revoke a device.
    RevokeDevice {
        /// Which.
        device: DeviceId,
    },
}

/// Most membership ops of one certified device that may wait for their parents or their time.
pub const MAX_WAITING_PER_DEVICE: usize = 1024;
/// Most membership ops that may wait in all.
pub const MAX_WAITING_OPS: usize = 4096;
/// Most waiting ops of one device that no op this replica holds certifies.
pub const MAX_WAITING_PER_UNKNOWN_DEVICE: usize = 16;
/// Most waiting ops of devices that no op this replica holds certifies, in all.
pub const MAX_WAITING_FROM_UNKNOWN: usize = 256;
/// Most refused membership ops kept (bytes and reason) for the quarantine list, in all.
pub const MAX_REFUSED_OPS_KEPT: usize = 1024;
/// Most refused membership ops kept per author device.
pub const MAX_REFUSED_OPS_KEPT_PER_DEVICE: usize = 8;

impl Replica {
    /// Receives a membership op.
    ///
    /// Unreadable, forged or foreign ops are quarantined and never enter the log. Ops whose
    /// parents have not arrived wait. Every other op enters the log, the log is resolved again
    /// (see the rules in [`super::log`]), envelopes it voids are withdrawn (the document is
    /// rebuilt) and envelopes it makes valid are released.
    pub fn receive_acl_op(&mut self, bytes: &[u8], now: OffsetDateTime) -> AclReceipt {
        let now = unix(now);
        let outcome = self.receive_acl_op_inner(bytes, now);
        AclReceipt {
            outcome,
            effects: self.take_effects(None),
        }
    }

    fn receive_acl_op_inner(&mut self, bytes: &[u8], now: i64) -> AclOutcome {
        let op = match AclOp::decode(bytes) {
            Ok(op) => op,
            Err(e) => {
                let r = Refusal::Unreadable(e.to_string());
                self.reject(bytes, QuarantinedItem::Unreadable, None, r.clone());
                return AclOutcome::Refused(r);
            }
        };
        let id = op.id();
        if self.log.contains(&id) || self.waiting_ops.contains_key(&id) {
            return AclOutcome::Duplicate;
        }
        if let Some(r) = self.already_rejected(QuarantinedItem::AclOp(id), bytes) {
            return AclOutcome::Refused(r);
        }
        let author = op.body().author;
        match self.check_op_structure(&op) {
            Ok(pairing) => {
                if let Err(r) = self.room_to_wait(&op) {
                    self.reject_op(bytes, id, author, r.clone());
                    return AclOutcome::Refused(r);
                }
                self.waiting_ops.insert(id, (op, pairing));
            }
            Err(r) => {
                self.reject_op(bytes, id, author, r.clone());
                return AclOutcome::Refused(r);
            }
        }
        let (inserted, refused) = self.admit_waiting_reporting(now);
        if inserted {
            self.reconcile(now);
            self.key_duties(now);
        }
        if let Some(verdict) = self.resolution.verdict(&self.log, &id) {
            return match verdict {
                Ok(()) => AclOutcome::Accepted,
                Err(r) => AclOutcome::Refused(r.clone()),
            };
        }
        if let Some((op, _)) = self.waiting_ops.get(&id) {
            return AclOutcome::Pending(self.op_missing(op, now));
        }
        if let Some((_, r)) = refused.into_iter().find(|(r, _)| *r == id) {
            return AclOutcome::Refused(r);
        }
        self.rejected
            .iter()
            .find(|r| r.item == QuarantinedItem::AclOp(id))
            .map(|r| AclOutcome::Refused(r.reason.clone()))
            .unwrap_or(AclOutcome::Refused(Refusal::Unreadable("dropped".into())))
    }

    /// Whether one more op by this op's author may wait for its parents or its time. Waiting
    /// ops are bounded per author and in all, with a tighter bound for authors that no op this
    /// replica holds certifies (junk from made-up keys cannot fill memory); an op over a bound
    /// is refused and taken again if it arrives after its parents.
    fn room_to_wait(&self, op: &AclOp) -> Result<(), Refusal> {
        let author = op.body().author;
        // Certified by an op in the log, or by its own certificate waiting with it (that
        // certificate itself waited as unknown, so made-up keys stay in the small pool).
        let introduced: std::collections::BTreeSet<DeviceId> = self
            .waiting_ops
            .values()
            .filter_map(|(o, p)| p.as_ref().filter(|p| p.device == o.body().author))
            .map(|p| p.device)
            .collect();
        let certified = |d: &DeviceId| {
            self.resolution.current().devices.contains_key(d) || introduced.contains(d)
        };
        let known = certified(&author);
        let (per_author, total) = if known {
            (MAX_WAITING_PER_DEVICE, MAX_WAITING_OPS)
        } else {
            (MAX_WAITING_PER_UNKNOWN_DEVICE, MAX_WAITING_FROM_UNKNOWN)
        };
        let mine = self
            .waiting_ops
            .values()
            .filter(|(o, _)| o.body().author == author)
            .count();
        if mine >= per_author {
            return Err(Refusal::TooManyWaiting {
                device: author,
                limit: per_author,
            });
        }
        let counted = if known {
            self.waiting_ops.len()
        } else {
            self.waiting_ops
                .values()
                .filter(|(o, _)| !certified(&o.body().author))
                .count()
        };
        if counted >= total {
            return Err(Refusal::TooManyWaiting {
                device: author,
                limit: total,
            });
        }
        Ok(())
    }

    /// A refused op still kept that was refused only at admission (well formed, signed, its
    /// parents in the log): an admissible op that cites it brings it into the log.
    fn vouchable(&self, id: &AclOpId) -> Option<(AclOp, Option<VerifiedPairing>)> {
        let positions = self.rejected_index.get(&QuarantinedItem::AclOp(*id))?;
        positions.iter().find_map(|&i| {
            let e = &self.rejected[i];
            if e.reason.is_permanent() || matches!(e.reason, Refusal::TooManyWaiting { .. }) {
                return None;
            }
            let op = AclOp::decode(&e.bytes).ok().filter(|op| op.id() == *id)?;
            op.verify_signature().ok()?;
            if op.body().parents.is_empty()
                || !op.body().parents.iter().all(|p| self.log.contains(p))
            {
                return None;
            }
            let pairing = match op.kind() {
                AclOpKind::Genesis { .. } => return None,
                AclOpKind::DeviceCertificate { certificate } => Some(
                    verify_certificate(certificate, &self.config.policy)
                        .ok()
                        .filter(|p| p.scope.covers(&self.workspace_id.to_string()))?,
                ),
                _ => None,
            };
            Some((op, pairing))
        })
    }

    /// Records a refused op, keeping at most a few per author and a bounded number in all
    /// (the refusal is returned to the caller either way; past the bound only its reason is).
    /// An op refused only for want of room to wait is not recorded: it is judged afresh when
    /// it arrives again.
    pub(crate) fn reject_op(
        &mut self,
        bytes: &[u8],
        id: AclOpId,
        author: DeviceId,
        reason: Refusal,
    ) {
        if matches!(reason, Refusal::TooManyWaiting { .. }) {
            return;
        }
        let mut ops = 0;
        let mut by_author = 0;
        for e in &self.rejected {
            if matches!(e.item, QuarantinedItem::AclOp(_)) {
                ops += 1;
                if e.device == Some(author) {
                    by_author += 1;
                }
            }
        }
        if ops < MAX_REFUSED_OPS_KEPT && by_author < MAX_REFUSED_OPS_KEPT_PER_DEVICE {
            self.reject(bytes, QuarantinedItem::AclOp(id), Some(author), reason);
        }
    }

    /// The membership ops a change or op made now cites: the valid ops no other valid op
    /// descends from (see rule 10 in [`super::log`]), at most as many as an op or envelope may
    /// cite.
    pub fn acl_heads(&self) -> Vec<AclOpId> {
        // What this device's changes rest on: the rotation of the key it seals under, its
        // certificate, its wallet's role.
        let state = self.resolution.current();
        let mut needed: Vec<AclOpId> = state.epoch.map(|e| e.rotation).into_iter().collect();
        if let Some(c) = state
            .devices
            .get(&self.me.device())
            .and_then(|d| d.certificates.get(&self.me.cert_hash()))
        {
            needed.push(c.published_by);
        }
        if let Some(m) = state.members.get(&self.me.address()) {
            needed.push(m.since);
        }
        self.resolution.valid_heads(
            &self.log,
            super::op::MAX_PARENTS.min(crate::crypto::envelope::MAX_ACL_HEADS),
            &needed,
        )
    }

    /// Checks what can be checked without the rest of the log: signature, shape, certificate.
    fn check_op_structure(&mut self, op: &AclOp) -> Result<Option<VerifiedPairing>, Refusal> {
        let author = op.body().author;
        let key = *self
            .keys
            .entry(author)
            .or_insert_with(|| author.verifying_key());
        op.verify_signature_with(&key)
            .map_err(|_| Refusal::BadSignature)?;
        if op.body().parents.is_empty() {
            return Err(match op.kind() {
                AclOpKind::Genesis { .. } => Refusal::SecondGenesis,
                _ => Refusal::Unreadable("it cites no earlier membership ops".into()),
            });
        }
        match op.kind() {
            AclOpKind::Genesis { .. } => Err(Refusal::SecondGenesis),
            AclOpKind::DeviceCertificate { certificate } => {
                let pairing = verify_certificate(certificate, &self.config.policy)?;
                if !pairing.scope.covers(&self.workspace_id.to_string()) {
                    return Err(Refusal::CertificateNotValid {
                        device: pairing.device,
                        why: "it does not cover this workspace".into(),
                    });
                }
                Ok(Some(pairing))
            }
            _ => Ok(None),
        }
    }

    fn op_missing(&self, op: &AclOp, now: i64) -> Missing {
        let body = op.body();
        Missing {
            acl_ops: body
                .parents
                .iter()
                .filter(|p| !self.log.contains(p))
                .copied()
                .collect(),
            changes: Vec::new(),
            until: (body.time > now + self.config.max_clock_skew)
                .then_some(body.time - self.config.max_clock_skew),
            epoch: None,
        }
    }

    /// Moves waiting ops whose parents are present and whose time has come into the log, if
    /// they are admissible ([`super::admit`]); refuses the others. Returns whether any entered.
    pub(crate) fn admit_waiting(&mut self, now: i64) -> bool {
        self.admit_waiting_reporting(now).0
    }

    /// [`admit_waiting`](Self::admit_waiting), also returning the ops refused on the way.
    fn admit_waiting_reporting(&mut self, now: i64) -> (bool, Vec<(AclOpId, Refusal)>) {
        let mut inserted = false;
        let mut refused = Vec::new();
        loop {
            let ready: Vec<AclOpId> = self
                .waiting_ops
                .iter()
                .filter(|(_, (op, _))| {
                    op.body()
                        .parents
                        .iter()
                        .all(|p| self.log.contains(p) || self.vouchable(p).is_some())
                        && op.body().time <= now + self.config.max_clock_skew
                })
                .map(|(id, _)| *id)
                .collect();
            if ready.is_empty() {
                return (inserted, refused);
            }
            for id in ready {
                let Some((op, pairing)) = self.waiting_ops.remove(&id) else {
                    continue;
                };
                // Ops it cites that were refused at admission: an op by an admissible author
                // vouches for them (an older weft cited every head, junk included), so they
                // enter the log with it, where resolution finds them void.
                let vouched: Vec<(AclOp, Option<VerifiedPairing>)> = op
                    .body()
                    .parents
                    .iter()
                    .filter(|p| !self.log.contains(p))
                    .filter_map(|p| self.vouchable(p))
                    .collect();
                let mut heads: Vec<AclOpId> = op
                    .body()
                    .parents
                    .iter()
                    .filter(|p| self.log.contains(p))
                    .copied()
                    .collect();
                let mut newest = self.log.max_time(&heads);
                for (v, _) in &vouched {
                    heads.extend(v.body().parents.iter().copied());
                    newest = newest.max(v.body().time);
                }
                let verdict = if op.body().time < newest {
                    Err(Refusal::DatedBeforeItsPast)
                } else {
                    admit_over(&self.log, &op, pairing.as_ref(), &heads)
                };
                if let Err(r) = verdict {
                    let author = op.body().author;
                    self.reject_op(&op.encode(), id, author, r.clone());
                    refused.push((id, r));
                    continue;
                }
                for (v, p) in vouched {
                    inserted |= self.log.insert(v, p);
                }
                inserted |= self.log.insert(op, pairing);
            }
        }
    }

    /// Lets time pass: admits membership ops and judges envelopes that were dated in the
    /// future and whose time has come.
    pub fn tick(&mut self, now: OffsetDateTime) -> super::outcome::Effects {
        let now = unix(now);
        if self.admit_waiting(now) {
            self.reconcile(now);
            self.key_duties(now);
        } else {
            self.release(now, false);
        }
        self.take_effects(None)
    }

    /// Signs and applies a membership op by this device, after checking the local user may,
    /// then carries out the key duties it causes (a rotation after a removal goes to the
    /// outbox).
    pub(crate) fn issue(
        &mut self,
        kind: AclOpKind,
        now: OffsetDateTime,
    ) -> Result<AclOp, LocalError> {
        let now = unix(now);
        let op = self.append_own(kind, now)?;
        self.key_duties(now);
        self.transitions.clear();
        self.rebuilt = false;
        Ok(op)
    }

    /// Signs a membership op by this device, checks it against the current membership, and
    /// adds it to the log.
    pub(crate) fn append_own(&mut self, kind: AclOpKind, now: i64) -> Result<AclOp, LocalError> {
        let heads = self.acl_heads();
        let body = AclOpBody {
            kind,
            author: self.me.device(),
            cert_hash: self.me.cert_hash(),
            time: now.max(self.log.max_time(&heads)),
            parents: heads,
            seen: ContentVersion::from_vv(&self.ws.loro().oplog_vv()),
        };
        let pairing = match &body.kind {
            AclOpKind::DeviceCertificate { .. } => Some(self.me.pairing_ref().clone()),
            _ => None,
        };
        let op =
            AclOp::sign(body, self.me.key_ref()).map_err(|e| LocalError::Export(e.to_string()))?;
        authorize(&op, pairing.as_ref(), self.resolution.current(), false)?;
        // What every other replica checks before letting it in (never stricter than the above
        // for the heads this device cites, but an op others would refuse is never published).
        admit(&self.log, &op, pairing.as_ref())?;
        self.log.insert(op.clone(), pairing);
        self.reconcile(now);
        Ok(op)
    }

    /// Adds `member` with `role`. Fails, without publishing anything, if the local user may not.
    pub fn add_member(
        &mut self,
        member: Address,
        role: Role,
        now: OffsetDateTime,
    ) -> Result<AclOp, LocalError> {
        self.issue(AclOpKind::Add { member, role }, now)
    }

    /// Changes `member`'s role. Fails if the local user may not.
    pub fn change_role(
        &mut self,
        member: Address,
        role: Role,
        now: OffsetDateTime,
    ) -> Result<AclOp, LocalError> {
        self.issue(AclOpKind::ChangeRole { member, role }, now)
    }

    /// Removes `member`. Their changes this replica has seen are kept; their changes it has not
    /// seen will be void everywhere. A rotation to a new key epoch, without the member's
    /// devices, follows in the outbox ([`take_outbox`](Self::take_outbox)); publish it after
    /// the removal. Fails if the local user may not.
    pub fn remove_member(
        &mut self,
        member: Address,
        now: OffsetDateTime,
    ) -> Result<AclOp, LocalError> {
        self.issue(AclOpKind::Remove { member }, now)
    }

    /// Revokes `device` for good. If the local user is an admin or the owner, a rotation to a
    /// new key epoch follows in the outbox; otherwise an admin's replica rotates when it sees
    /// the revocation. Fails if the local user may not.
    pub fn revoke_device(
        &mut self,
        device: DeviceId,
        now: OffsetDateTime,
    ) -> Result<AclOp, LocalError> {
        self.issue(AclOpKind::RevokeDevice { device }, now)
    }

    /// Publishes this device's pairing certificate so it may sign changes. Fails if the local
    /// wallet is not a member yet.
    pub fn publish_device_certificate(&mut self, now: OffsetDateTime) -> Result<AclOp, LocalError> {
        let certificate = self.me.certificate().clone();
        self.issue(AclOpKind::DeviceCertificate { certificate }, now)
    }

    /// The membership after every valid op this replica holds.
    pub fn members(&self) -> &MemberState {
        self.resolution.current()
    }

    /// The wallet whose device wrote the changes of Loro peer `peer`, as the peer claims bind
    /// it (the device whose envelope carried the peer's first change). `None` when nobody has
    /// claimed the peer yet, or two envelopes contest it.
    pub fn peer_author(&self, peer: u64) -> Option<Address> {
        match self.claims.owner(peer) {
            super::claims::PeerOwner::Device(device) => {
                self.members().devices.get(&device).map(|d| d.address)
            }
            _ => None,
        }
    }

    /// The local user's role, if they are a member.
    pub fn my_role(&self) -> Option<Role> {
        self.members().role(&self.me.address())
    }

    /// Whether `address` may do `action` now, and if not, why (for the UI to refuse an edit
    /// before it is made). For this device's own wallet it also checks that this device is
    /// paired and not revoked.
    pub fn can(&self, address: &Address, action: &Action) -> Result<(), Refusal> {
        let state = self.resolution.current();
        if *address == self.me.address() {
            match state.devices.get(&self.me.device()) {
                None => return Err(Refusal::UnknownDevice(self.me.device())),
                Some(d) if d.revoked_by.is_some() => {
                    return Err(Refusal::DeviceRevoked(self.me.device()))
                }
                Some(_) => {}
            }
        }
        let role = state.role(address).ok_or(Refusal::NotAMember(*address))?;
        let own = |c: &CommentId| {
            Workspace::comment_author_in(self.ws.loro(), c.as_str())
                .and_then(|a| a.parse::<Address>().ok())
                .as_ref()
                == Some(address)
        };
        let kind = match action {
            Action::AddMember { member, role } => Some(AclOpKind::Add {
                member: *member,
                role: *role,
            }),
            Action::ChangeRole { member, role } => Some(AclOpKind::ChangeRole {
                member: *member,
                role: *role,
            }),
            Action::RemoveMember { member } => Some(AclOpKind::Remove { member: *member }),
            Action::RevokeDevice { device } => Some(AclOpKind::RevokeDevice { device: *device }),
            _ => None,
        };
        if let Some(kind) = kind {
            let actor = Actor {
                address: *address,
                device: self.me.device(),
                role,
            };
            return check_action(&actor, &kind, None, state, i64::MAX);
        }
        let write = match action {
            Action::EditDocs => Write::Docs,
            Action::EditBoards => Write::Boards,
            Action::Trash => Write::Trash,
            Action::Purge => Write::Purge,
            Action::EditSettings => Write::Settings,
            Action::Comment => Write::NewComment {
                comment: String::new(),
                signed_as_author: true,
            },
            Action::EditComment(c) => Write::CommentText {
                comment: c.to_string(),
                own: own(c),
            },
            Action::ResolveComment(c) => Write::CommentResolved {
                comment: c.to_string(),
                own: own(c),
            },
            Action::DeleteComment(c) => Write::CommentDeleted {
                comment: c.to_string(),
                own: own(c),
            },
            Action::SetOwnProfile => Write::OwnProfile,
            // Membership actions returned above.
            _ => return Ok(()),
        };
        let authority = ChangeAuthority {
            address: *address,
            role_at_heads: role,
            effective: role,
            lowered_by: None,
        };
        policy::check(
            &WriteSummary {
                writes: [write].into_iter().collect(),
            },
            &authority,
        )
    }

    /// The wallet a device signs for, from any certificate this replica has seen.
    fn address_of(&self, device: &DeviceId) -> Option<Address> {
        if let Some(d) = self.resolution.current().devices.get(device) {
            return Some(d.address);
        }
        self.log.entries.iter().find_map(|e| {
            e.pairing
                .as_ref()
                .filter(|p| p.device == *device)
                .map(|p| p.address)
        })
    }

    /// The wallet a refused op's own certificate names, when the op is a device publishing
    /// its certificate (refused before it entered the log, so no other op names the wallet).
    fn self_certified_address(&self, bytes: &[u8]) -> Option<Address> {
        let op = AclOp::decode(bytes).ok()?;
        let AclOpKind::DeviceCertificate { certificate } = op.kind() else {
            return None;
        };
        verify_certificate(certificate, &self.config.policy)
            .ok()
            .filter(|p| p.device == op.body().author)
            .map(|p| p.address)
    }

    /// Everything refused, with reasons: unreadable or forged items, envelopes whose author may
    /// not write what they wrote, membership ops that have no effect, and changes waiting on a
    /// refused change (they apply only if it is released).
    pub fn quarantine(&self) -> Vec<QuarantineEntry> {
        let mut out: Vec<QuarantineEntry> = self
            .rejected
            .iter()
            .cloned()
            .map(|mut e| {
                e.address = e
                    .device
                    .and_then(|d| self.address_of(&d))
                    .or_else(|| self.self_certified_address(&e.bytes));
                e
            })
            .collect();
        for (id, h) in &self.held {
            if let Status::Quarantined(reason) = &h.status {
                let device = h.env.header().device;
                out.push(QuarantineEntry {
                    item: QuarantinedItem::Envelope(*id),
                    device: Some(device),
                    address: self.address_of(&device),
                    reason: reason.clone(),
                    may_be_released: !reason.is_permanent(),
                    bytes: h.env.encode(),
                });
            }
        }
        for id in &self.unsettled {
            let Some(h) = self.held.get(id) else {
                continue;
            };
            if let Status::Pending(m) = &h.status {
                if m.changes.is_empty() {
                    continue;
                }
                if let Some(on) = self.quarantined_holding(&m.changes).first() {
                    let device = h.env.header().device;
                    out.push(QuarantineEntry {
                        item: QuarantinedItem::Envelope(*id),
                        device: Some(device),
                        address: self.address_of(&device),
                        reason: Refusal::BuildsOnRefused { on: *on },
                        may_be_released: true,
                        bytes: h.env.encode(),
                    });
                }
            }
        }
        for op in self.log.ops() {
            if let Some(Err(reason)) = self.resolution.verdict(&self.log, &op.id()) {
                let device = op.body().author;
                out.push(QuarantineEntry {
                    item: QuarantinedItem::AclOp(op.id()),
                    device: Some(device),
                    address: self.address_of(&device),
                    reason: reason.clone(),
                    may_be_released: !reason.is_permanent(),
                    bytes: op.encode(),
                });
            }
        }
        out
    }

    /// How many envelopes and ops wait for something (cheaper than [`pending`](Self::pending)).
    pub fn waiting_count(&self) -> usize {
        self.waiting_ops.len()
            + self
                .held
                .values()
                .filter(|h| matches!(h.status, Status::Pending(_)))
                .count()
    }

    /// Envelopes and ops waiting for something, with what they wait for.
    pub fn pending(&self) -> Vec<PendingEntry> {
        let mut out: Vec<PendingEntry> = self
            .held
            .iter()
            .filter_map(|(id, h)| match &h.status {
                Status::Pending(m) => Some(PendingEntry {
                    item: QuarantinedItem::Envelope(*id),
                    device: h.env.header().device,
                    missing: m.clone(),
                    blocked_by: self.quarantined_holding(&m.changes),
                }),
                _ => None,
            })
            .collect();
        for (id, (op, _)) in &self.waiting_ops {
            out.push(PendingEntry {
                item: QuarantinedItem::AclOp(*id),
                device: op.body().author,
                blocked_by: Vec::new(),
                missing: {
                    let mut m = self.op_missing(op, i64::MAX / 2);
                    if m.acl_ops.is_empty() {
                        m.until = Some(op.body().time - self.config.max_clock_skew);
                    }
                    m
                },
            });
        }
        out
    }

    /// Quarantined envelopes that carry any of these changes: what a pending envelope is
    /// really stuck behind.
    fn quarantined_holding(&self, changes: &[loro::ID]) -> Vec<EnvelopeId> {
        // Only unsettled envelopes can be quarantined: no scan of everything applied.
        self.unsettled
            .iter()
            .filter_map(|id| self.held.get(id).map(|h| (id, h)))
            .filter(|(_, h)| matches!(h.status, Status::Quarantined(_)))
            .filter(|(_, h)| {
                h.blob().is_some_and(|blob| {
                    changes.iter().any(|c| {
                        let start = blob.start.get(&c.peer).copied().unwrap_or(0);
                        let end = blob.end.get(&c.peer).copied().unwrap_or(0);
                        start <= c.counter && c.counter < end
                    })
                })
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Where an envelope stands, if this replica holds it.
    pub fn envelope_outcome(&self, id: &EnvelopeId) -> Option<Outcome> {
        if let Some(h) = self.held.get(id) {
            return Some(match &h.status {
                Status::Applied => Outcome::Applied,
                Status::Pending(m) => Outcome::Pending(m.clone()),
                Status::Quarantined(r) => Outcome::Quarantined(r.clone()),
            });
        }
        self.rejected
            .iter()
            .find(|r| r.item == QuarantinedItem::Envelope(*id))
            .map(|r| Outcome::Quarantined(r.reason.clone()))
    }

    /// The ids of the applied envelopes, ascending (for convergence checks and the store).
    pub fn applied(&self) -> Vec<EnvelopeId> {
        self.held
            .iter()
            .filter(|(_, h)| h.status == Status::Applied)
            .map(|(id, _)| *id)
            .collect()
    }
}
