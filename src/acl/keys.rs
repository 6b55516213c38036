//! Epoch keys on a replica: the keyring, learning keys from the log, decrypting held
//! envelopes, rotating, inviting, sharing, and the key duties a replica takes on by itself.
//!
//! # Rules
//!
//! 1. **Every workspace is encrypted from its creation.** The genesis is followed by a
//!    rotation to epoch 1 whose key is wrapped for the owner's device. An envelope with epoch 0
//!    (plaintext) is refused.
//! 2. **The current epoch** is the one started by the valid `RotateKey` with the highest epoch
//!    number; between two with the same number (concurrent rotations), the one with the smaller
//!    op id. A rotation must be authored by an admin or the owner and start an epoch above the
//!    current one in its causal past (by at most 1,024); like every op, it is void if its author
//!    was concurrently removed. Writers always seal under the current epoch they know.
//! 3. **Which key opens an envelope.** An envelope sealed under epoch N is opened with the key
//!    of a `RotateKey` to epoch N among the membership ops it cites (valid or not: its author
//!    may have rotated before being voided, and the keys stay readable). If there is none, it
//!    is refused for good; if this device lacks a key of such a rotation, the envelope waits
//!    (pending on the epoch); if it holds them all and none opens it, it is refused for good.
//!    A key only counts once it matches the commitment (`check`) its rotation published, so a
//!    key that arrives by a share, an invite or the store cannot change what decrypts. An
//!    envelope under an older epoch than the current one at its cited ops is not refused:
//!    rotations can turn void under strong remove, so refusing would lose honest work, and a
//!    member who wants to leak can leak the plaintext anyway.
//! 4. **Keys reach devices** by a rotation's wrap (every device that may read when it is made:
//!    paired, not revoked, of a current member), the earlier keys sealed in each rotation, a
//!    share for one device (any member may share with a device of a current member), or an
//!    invite's lockbox (whoever holds the code). All keys stay in the keyring for good.
//! 5. **Rotation on removal.** Every valid `Remove` and `RevokeDevice` must be in the causal
//!    past of the current rotation. While one is not (it was just made, or a concurrent
//!    rotation that had not seen it won), its author's device rotates if it is an admin's or
//!    the owner's; if it is not (a member revoking their own device, or an author since removed),
//!    every admin's and the owner's device does. Every admin's and the owner's device also
//!    rotates when the log shows the current key given to a device that may not read for any
//!    other reason (an `Add` voided by strong remove after a rotation wrapped the key for the
//!    member's device, a share to a device concurrently removed). Each replica rotates at most
//!    once per current epoch; the new rotation wraps the key for the devices that may read.
//! 6. **Sharing with devices that lack keys.** Rotations, shares and the lists they carry
//!    publish which keys (epoch and commitment) they give to which device. A device that may
//!    read, and that the log does not show holding the key of some rotation that was
//!    authorised where it was made (valid, or voided only by a concurrent restriction, so
//!    honest writers may have used it), is given every key by a device that holds that key and
//!    is responsible for it: another device of its wallet, the device that gave its wallet its
//!    role, or the author of that rotation; if none of those holds it, the first device by id
//!    that does (or a device that holds it without the log showing it, from a lockbox). A
//!    share lists what it carries, so once it is in the log the sharer has nothing left to do.
//!
//! A leaked invite code gives read access to the keys its lockbox carries, until the next
//! rotation; never write access, which is bound to the invitee's address.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use super::judge::{Blob, Content, Status};
use super::op::AclOpKind;
use super::outcome::Effects;
use super::refusal::Refusal;
use super::replica::{unix, LocalError, Replica};
use super::role::Role;
use crate::crypto::epoch::{KeyCheck, KeyShare, Lockbox, PreviousKeys, WrappedKey};
use crate::crypto::{AclOpId, EnvelopeId, EpochKey, InviteSecret, WorkspaceId};
use crate::identity::{Address, DeviceId};

/// The epoch keys a replica holds, with what it has read from the log about keys.
pub(crate) struct Keyring {
    workspace: WorkspaceId,
    /// Keys by epoch and commitment.
    keys: BTreeMap<(u32, KeyCheck), EpochKey>,
    /// Log positions already scanned for key material.
    scanned: usize,
    /// Log positions of `RotateKey` ops, by epoch.
    rotations: BTreeMap<u32, Vec<usize>>,
    /// Rotations whose earlier keys have been opened.
    opened_previous: BTreeSet<usize>,
    /// Invite codes redeemed before their invite arrived.
    pending_invites: Vec<InviteSecret>,
    /// Whether keys were learned since the last report.
    learned: bool,
}

impl Keyring {
    pub(crate) fn new(workspace: WorkspaceId) -> Self {
        Self {
            workspace,
            keys: BTreeMap::new(),
            scanned: 0,
            rotations: BTreeMap::new(),
            opened_previous: BTreeSet::new(),
            pending_invites: Vec::new(),
            learned: false,
        }
    }

    /// Adds a key; returns whether it is new.
    fn insert(&mut self, epoch: u32, key: EpochKey) -> bool {
        let check = key.check(&self.workspace, epoch);
        if self.keys.contains_key(&(epoch, check)) {
            return false;
        }
        self.keys.insert((epoch, check), key);
        self.learned = true;
        true
    }

    fn get(&self, epoch: u32, check: &KeyCheck) -> Option<&EpochKey> {
        self.keys.get(&(epoch, *check))
    }

    fn all(&self) -> Vec<(u32, EpochKey)> {
        self.keys
            .iter()
            .map(|((epoch, _), key)| (*epoch, key.clone()))
            .collect()
    }

    pub(crate) fn take_learned(&mut self) -> bool {
        std::mem::take(&mut self.learned)
    }
}

/// What a replica has already published on its own initiative (rules 5 and 6), so it does not
/// repeat itself.
#[derive(Default)]
pub(crate) struct KeyDuties {
    /// Current rotations this device has rotated away from.
    rotated_after: BTreeSet<AclOpId>,
    /// Set while a duty is being carried out.
    busy: bool,
    /// Set while a batch of inputs is being read (a store replaying what it kept, a bucket
    /// pass): duties wait for the whole batch, so a device does not answer an op that a later
    /// op of the same batch already answers (a share it made itself last time).
    deferred: bool,
}

/// What [`Replica::redeem_invite`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redemption {
    /// The lockbox opened: the keys of these epochs are installed.
    Opened {
        /// The epochs whose keys it carried.
        epochs: Vec<u32>,
        /// Envelopes that could be decrypted and applied now.
        effects: Effects,
    },
    /// The invite has not arrived yet: the code is kept (in memory) and used when it does.
    Waiting,
}

impl Replica {
    /// The current key epoch (the one local changes are sealed under); 0 before the first
    /// rotation has arrived.
    pub fn current_epoch(&self) -> u32 {
        self.members().epoch.map_or(0, |e| e.epoch)
    }

    /// Whether this device holds the key of the current epoch, that is, whether it can send
    /// changes.
    pub fn has_current_key(&self) -> bool {
        self.current_key().is_some()
    }

    /// Every epoch key this device holds, ascending by epoch. Two keys may share an epoch
    /// (concurrent rotations). The store persists them sealed and gives them back with
    /// [`install_keys`](Self::install_keys) when it opens the workspace again.
    pub fn epoch_keys(&self) -> Vec<(u32, EpochKey)> {
        self.keyring.all()
    }

    /// The epoch keys this device holds that match the commitment of a rotation in the log,
    /// with that commitment, ascending: what a store keeps. A key that opens no rotation's
    /// commitment (from a share or lockbox nobody was entitled to make) is left out.
    pub fn committed_epoch_keys(&self) -> Vec<(u32, KeyCheck, EpochKey)> {
        let mut out: BTreeMap<(u32, KeyCheck), EpochKey> = BTreeMap::new();
        for e in &self.log.entries {
            if let AclOpKind::RotateKey { epoch, check, .. } = e.op.kind() {
                if let Some(key) = self.keyring.get(*epoch, check) {
                    out.insert((*epoch, *check), key.clone());
                }
            }
        }
        out.into_iter().map(|((e, c), k)| (e, c, k)).collect()
    }

    /// Installs keys this device held before (from the store). They are used only where they
    /// match a rotation's published commitment, so a wrong or stale key does no harm. Call it
    /// before or after replaying the log and the envelopes; envelopes waiting for these keys
    /// are decrypted and judged.
    pub fn install_keys(&mut self, keys: &[(u32, EpochKey)], now: OffsetDateTime) -> Effects {
        let now = unix(now);
        for (epoch, key) in keys {
            self.keyring.insert(*epoch, key.clone());
        }
        self.keys_changed(now);
        self.key_duties(now);
        self.take_effects(None)
    }

    /// Invites `member` with `role`: returns the op to publish and the one-time secret for the
    /// join code. The op adds the address like [`add_member`](Self::add_member) and carries a
    /// lockbox with every key this device holds (of rotations that were authorised), opened by
    /// the secret.
    ///
    /// Fails, publishing nothing, if the local user may not add that member with that role.
    pub fn invite(
        &mut self,
        member: Address,
        role: Role,
        now: OffsetDateTime,
    ) -> Result<(super::AclOp, InviteSecret), LocalError> {
        let secret = InviteSecret::generate();
        let lockbox = Lockbox::seal(&self.shareable_keys(), &secret, &self.workspace_id)
            .map_err(|e| LocalError::Export(e.to_string()))?;
        let op = self.issue(
            AclOpKind::Invite {
                id: secret.id(),
                member,
                role,
                lockbox,
            },
            now,
        )?;
        Ok((op, secret))
    }

    /// Opens the invite this code belongs to and installs the keys its lockbox carries, so a
    /// device joining from a join code reads everything written up to the invite (and, once
    /// its certificate is published, gets later keys by a share). If the invite has not
    /// arrived yet, the code is kept and used when it does.
    ///
    /// Fails if the invite is there but its lockbox does not open with this code.
    pub fn redeem_invite(
        &mut self,
        secret: &InviteSecret,
        now: OffsetDateTime,
    ) -> Result<Redemption, LocalError> {
        let now = unix(now);
        let id = secret.id();
        let lockboxes: Vec<Lockbox> = self
            .log
            .entries
            .iter()
            .filter_map(|e| match e.op.kind() {
                AclOpKind::Invite {
                    id: found, lockbox, ..
                } if *found == id => Some(lockbox.clone()),
                _ => None,
            })
            .collect();
        if lockboxes.is_empty() {
            if !self.keyring.pending_invites.contains(secret) {
                self.keyring.pending_invites.push(secret.clone());
            }
            return Ok(Redemption::Waiting);
        }
        let keys = lockboxes
            .iter()
            .find_map(|l| l.open(secret, &self.workspace_id).ok())
            .ok_or_else(|| {
                LocalError::Invite(format!(
                    "the lockbox of invite {id} does not open with this code"
                ))
            })?;
        let epochs: Vec<u32> = keys.iter().map(|(e, _)| *e).collect();
        for (epoch, key) in keys {
            self.keyring.insert(epoch, key);
        }
        self.keys_changed(now);
        self.key_duties(now);
        Ok(Redemption::Opened {
            epochs,
            effects: self.take_effects(None),
        })
    }

    /// Gives every key this device holds (of rotations that were authorised) to `device` (a
    /// paired, unrevoked device of a current member), in a `ShareKeys` op to publish. Replicas do this by themselves for the devices
    /// they are responsible for (see the rules above); this is for doing it by hand.
    ///
    /// Fails if the device may not read, or this device's user is not a member.
    pub fn share_keys(
        &mut self,
        device: DeviceId,
        now: OffsetDateTime,
    ) -> Result<super::AclOp, LocalError> {
        let share = KeyShare::seal(&self.shareable_keys(), &self.workspace_id, &device)
            .map_err(|e| LocalError::Export(e.to_string()))?;
        self.issue(AclOpKind::ShareKeys { device, share }, now)
    }

    /// Starts a new key epoch now, wrapped for every device that may read (for example after a
    /// device was lost). Removals and revocations do this by themselves.
    ///
    /// Fails if the local user is not an admin or the owner.
    pub fn rotate_keys(&mut self, now: OffsetDateTime) -> Result<super::AclOp, LocalError> {
        let op = self.rotate(unix(now))?;
        self.transitions.clear();
        self.rebuilt = false;
        Ok(op)
    }

    /// Devices that may read but that the log does not show holding the current epoch's key
    /// (not wrapped by the current rotation, not carried by a rotation or share given to them
    /// since). A device that joined from an invite is listed too until someone shares with it:
    /// the log cannot see what a lockbox gave it.
    pub fn devices_awaiting_keys(&self) -> Vec<DeviceId> {
        let Some((epoch, check)) = self.current_rotation_key() else {
            return Vec::new();
        };
        let given = self.keys_given();
        self.members()
            .reading_devices()
            .into_iter()
            .filter(|d| !given.get(d).is_some_and(|g| g.contains(&(epoch, check))))
            .collect()
    }

    /// The epoch and commitment of the current rotation.
    fn current_rotation_key(&self) -> Option<(u32, KeyCheck)> {
        let current = self.members().epoch?;
        match self.log.get(&current.rotation)?.kind() {
            AclOpKind::RotateKey { epoch, check, .. } => Some((*epoch, *check)),
            _ => None,
        }
    }

    /// Which keys the log shows each device was given: by a rotation's wrap (that key and the
    /// earlier keys the rotation carries) or by a share, counting only plausible ops (an
    /// outsider's op claiming to give keys must not stop a real share, nor force a rotation).
    fn keys_given(&self) -> BTreeMap<DeviceId, BTreeSet<(u32, KeyCheck)>> {
        let mut given: BTreeMap<DeviceId, BTreeSet<(u32, KeyCheck)>> = BTreeMap::new();
        for (i, e) in self.log.entries.iter().enumerate() {
            if !self.plausible(i) {
                continue;
            }
            match e.op.kind() {
                AclOpKind::RotateKey {
                    epoch,
                    check,
                    wraps,
                    previous,
                } => {
                    for (d, _) in wraps {
                        let g = given.entry(*d).or_default();
                        g.insert((*epoch, *check));
                        g.extend(previous.index().iter().copied());
                    }
                }
                AclOpKind::ShareKeys { device, share } => {
                    given
                        .entry(*device)
                        .or_default()
                        .extend(share.index().iter().copied());
                }
                _ => {}
            }
        }
        given
    }

    /// The current epoch and its key, if this device holds it.
    pub(crate) fn current_key(&self) -> Option<(u32, EpochKey)> {
        let current = self.members().epoch?;
        let op = self.log.get(&current.rotation)?;
        match op.kind() {
            AclOpKind::RotateKey { epoch, check, .. } => {
                Some((*epoch, self.keyring.get(*epoch, check)?.clone()))
            }
            _ => None,
        }
    }

    /// Why a local change cannot be sealed when the current key is missing: the device may
    /// not sign at all (then the edits are undone), or it only lacks the key.
    pub(crate) fn why_no_key(&self, now: i64) -> LocalError {
        if let Err(r) = self
            .members()
            .signer(&self.me.device(), &self.me.cert_hash(), now)
        {
            return LocalError::NotAllowed(r);
        }
        LocalError::NoKey {
            epoch: self.current_epoch(),
        }
    }

    /// Reads key material for this device from ops that entered the log since the last call,
    /// then opens earlier-key lists of rotations whose key it holds, until nothing new opens.
    /// Returns whether any key was learned.
    pub(crate) fn learn_keys(&mut self) -> bool {
        let ws = self.workspace_id;
        let me = self.me.device();
        let mut learned = false;
        while self.keyring.scanned < self.log.entries.len() {
            let i = self.keyring.scanned;
            self.keyring.scanned += 1;
            let mut found: Vec<(u32, EpochKey)> = Vec::new();
            match self.log.entries[i].op.kind() {
                AclOpKind::RotateKey {
                    epoch,
                    check,
                    wraps,
                    ..
                } => {
                    self.keyring.rotations.entry(*epoch).or_default().push(i);
                    if let Ok(at) = wraps.binary_search_by(|(d, _)| d.cmp(&me)) {
                        if let Ok(key) = wraps[at].1.open(&ws, *epoch, self.me.key_ref()) {
                            // A wrap that does not match its own commitment is useless.
                            if key.check(&ws, *epoch) == *check {
                                found.push((*epoch, key));
                            }
                        }
                    }
                }
                AclOpKind::ShareKeys { device, share } if *device == me => {
                    found.extend(share.open(&ws, self.me.key_ref()).unwrap_or_default());
                }
                AclOpKind::Invite { id, lockbox, .. } => {
                    let pending = &mut self.keyring.pending_invites;
                    if let Some(at) = pending.iter().position(|s| s.id() == *id) {
                        if let Ok(keys) = lockbox.open(&pending[at], &ws) {
                            pending.remove(at);
                            found.extend(keys);
                        }
                    }
                }
                _ => {}
            }
            for (epoch, key) in found {
                learned |= self.keyring.insert(epoch, key);
            }
        }
        loop {
            let mut opened: Vec<(usize, u32, PreviousKeys, EpochKey)> = Vec::new();
            for (epoch, positions) in &self.keyring.rotations {
                for &i in positions {
                    if self.keyring.opened_previous.contains(&i) {
                        continue;
                    }
                    if let AclOpKind::RotateKey {
                        check, previous, ..
                    } = self.log.entries[i].op.kind()
                    {
                        if let Some(key) = self.keyring.get(*epoch, check) {
                            opened.push((i, *epoch, previous.clone(), key.clone()));
                        }
                    }
                }
            }
            if opened.is_empty() {
                return learned;
            }
            for (i, epoch, previous, key) in opened {
                self.keyring.opened_previous.insert(i);
                for (e, k) in previous.open(&key, &ws, epoch).unwrap_or_default() {
                    learned |= self.keyring.insert(e, k);
                }
            }
        }
    }

    /// Tries to decrypt and read a held envelope that is still sealed (rule 3). Returns
    /// whether it opened; if it can never open, it is quarantined with the reason.
    pub(crate) fn try_unlock(&mut self, id: &EnvelopeId) -> bool {
        let Some(h) = self.held.get(id) else {
            return false;
        };
        if !matches!(h.content, Content::Sealed) || h.env.header().acl_heads.is_empty() {
            return false;
        }
        let Some(past) = self.log.past_of(&h.env.header().acl_heads) else {
            return false;
        };
        let epoch = h.env.header().epoch;
        let mut started = false;
        let mut lacking = false;
        let mut update = None;
        for &i in self.keyring.rotations.get(&epoch).into_iter().flatten() {
            if !past.contains(i) {
                continue;
            }
            let AclOpKind::RotateKey { check, .. } = self.log.entries[i].op.kind() else {
                continue;
            };
            started = true;
            match self.keyring.get(epoch, check) {
                None => lacking = true,
                Some(key) => {
                    if let Ok(plain) = h.env.open(key) {
                        update = Some(plain);
                        break;
                    }
                }
            }
        }
        let content = match update {
            Some(update) => match read_update(update, &h.env.header().peers) {
                Ok((update, blob)) => Content::Open { update, blob },
                Err(r) => Content::Broken(r),
            },
            None if !started => Content::Broken(Refusal::UnknownEpoch(epoch)),
            None if lacking => return false,
            None => Content::Broken(Refusal::CannotDecrypt { epoch }),
        };
        let opened = matches!(content, Content::Open { .. });
        if let Content::Broken(r) = &content {
            let r = r.clone();
            if let Some(h) = self.held.get_mut(id) {
                h.content = content;
            }
            self.set_status(id, Status::Quarantined(r));
            return false;
        }
        if let Some(h) = self.held.get_mut(id) {
            h.content = content;
        }
        opened
    }

    /// Tries every sealed envelope. Returns whether any opened.
    pub(crate) fn unlock_sealed(&mut self) -> bool {
        let sealed: Vec<EnvelopeId> = self
            .unsettled
            .iter()
            .filter(|id| {
                self.held
                    .get(id)
                    .is_some_and(|h| matches!(h.content, Content::Sealed))
            })
            .copied()
            .collect();
        let mut any = false;
        for id in sealed {
            any |= self.try_unlock(&id);
        }
        any
    }

    /// After keys arrived without the log changing: decrypt what they open and judge it.
    fn keys_changed(&mut self, now: i64) {
        self.learn_keys();
        if self.unlock_sealed() {
            self.recount_claims();
            self.settle_all(now);
        }
    }

    /// Holds key duties back until [`resume_duties`](Self::resume_duties): for reading a batch
    /// of inputs that belong together. Without it a device replaying its own store rotated or
    /// shared again on every open, before reaching the rotation or share it made last time.
    pub fn defer_duties(&mut self) {
        self.duties.deferred = true;
    }

    /// Ends [`defer_duties`](Self::defer_duties) and carries out the duties the batch left due
    /// (they go to the outbox).
    pub fn resume_duties(&mut self, now: OffsetDateTime) {
        if !std::mem::take(&mut self.duties.deferred) {
            return;
        }
        let now = unix(now);
        self.key_duties(now);
    }

    /// Signs a rotation to a new epoch, wrapped for every device that may read, and adds it to
    /// the log. The new key is in the keyring before the op is judged.
    pub(crate) fn rotate(&mut self, now: i64) -> Result<super::AclOp, LocalError> {
        let ws = self.workspace_id;
        let epoch = self.current_epoch().saturating_add(1);
        let key = EpochKey::generate();
        let readers = self.members().reading_devices();
        let wraps: Vec<(DeviceId, WrappedKey)> = readers
            .iter()
            .map(|d| (*d, WrappedKey::seal(&key, &ws, epoch, d)))
            .collect();
        let previous = PreviousKeys::seal(&self.shareable_keys(), &key, &ws, epoch)
            .map_err(|e| LocalError::Export(e.to_string()))?;
        let check = key.check(&ws, epoch);
        let op = self.append_own(
            AclOpKind::RotateKey {
                epoch,
                check,
                wraps,
                previous,
            },
            now,
        )?;
        self.keyring.insert(epoch, key);
        Ok(op)
    }

    /// Whether the op at log position `i` was authorised where it was made: valid, or voided
    /// only by a concurrent restriction (so honest devices may have acted on it).
    fn plausible(&self, i: usize) -> bool {
        self.resolution.is_valid_at(i)
            || matches!(
                self.resolution
                    .verdict(&self.log, &self.log.entries[i].op.id()),
                Some(Err(Refusal::RemovedConcurrently { .. }
                    | Refusal::DemotedConcurrently { .. }
                    | Refusal::DeviceRevokedConcurrently { .. }))
            )
    }

    /// The keys this device passes on (in rotations, shares and lockboxes): those of plausible
    /// rotations. Keys of rotations nobody was entitled to make stay here, unshared, so an
    /// outsider cannot fill every list with junk.
    fn shareable_keys(&self) -> Vec<(u32, EpochKey)> {
        let mut out = Vec::new();
        for (i, e) in self.log.entries.iter().enumerate() {
            if let AclOpKind::RotateKey { epoch, check, .. } = e.op.kind() {
                if self.plausible(i) {
                    if let Some(key) = self.keyring.get(*epoch, check) {
                        out.push((*epoch, key.clone()));
                    }
                }
            }
        }
        out
    }

    /// Publishes, into the outbox, the rotations and shares this device is responsible for
    /// (rules 5 and 6). Called after anything that may change the log or the keys.
    pub(crate) fn key_duties(&mut self, now: i64) {
        if self.duties.busy || self.duties.deferred {
            return;
        }
        self.duties.busy = true;
        if let Some(stale) = self.rotation_due(now) {
            self.duties.rotated_after.insert(stale);
            if let Ok(op) = self.rotate(now) {
                self.outbox.push(super::Outgoing::AclOp(op));
            }
        }
        for device in self.shares_due() {
            let Ok(share) = KeyShare::seal(&self.shareable_keys(), &self.workspace_id, &device)
            else {
                continue;
            };
            if let Ok(op) = self.append_own(AclOpKind::ShareKeys { device, share }, now) {
                self.outbox.push(super::Outgoing::AclOp(op));
            }
        }
        self.duties.busy = false;
    }

    /// The current rotation, if this device should rotate away from it now (rule 5): a valid
    /// removal or revocation is not in its causal past, and this device is responsible for it.
    fn rotation_due(&self, now: i64) -> Option<AclOpId> {
        let state = self.resolution.current();
        let current = state.epoch?;
        if self.duties.rotated_after.contains(&current.rotation) {
            return None;
        }
        let me = self.me.device();
        let (_, my_role) = state.signer(&me, &self.me.cert_hash(), now).ok()?;
        if my_role < Role::Admin {
            return None;
        }
        let pos = self.log.position(&current.rotation)?;
        let rotation_past = &self.log.entries[pos].past;
        let is_admin_device = |d: &DeviceId| {
            state.devices.get(d).is_some_and(|r| {
                r.revoked_by.is_none() && state.role(&r.address).is_some_and(|x| x >= Role::Admin)
            })
        };
        let mut due = false;
        // Devices that a restriction the rotation had not seen takes the right to read from.
        let mut restricted: BTreeSet<DeviceId> = BTreeSet::new();
        for &j in self.log.order() {
            if rotation_past.contains(j) || !self.resolution.is_valid_at(j) {
                continue;
            }
            let op = &self.log.entries[j].op;
            match op.kind() {
                AclOpKind::Remove { member } => restricted.extend(
                    state
                        .devices
                        .iter()
                        .filter(|(_, r)| r.address == *member)
                        .map(|(d, _)| *d),
                ),
                AclOpKind::RevokeDevice { device } => {
                    restricted.insert(*device);
                }
                _ => continue,
            }
            let author = op.body().author;
            if author == me || !is_admin_device(&author) {
                due = true;
            }
        }
        // Devices that were given the current key and may not read, with no such restriction
        // to explain it (an add that turned void, a share to a device concurrently removed):
        // every admin rotates.
        if !due {
            let readers: BTreeSet<DeviceId> = state.reading_devices().into_iter().collect();
            let key = self.current_rotation_key()?;
            due = self.keys_given().iter().any(|(d, given)| {
                given.contains(&key) && !readers.contains(d) && !restricted.contains(d)
            });
        }
        due.then_some(current.rotation)
    }

    /// Devices this device should share its keys with now (rule 6).
    fn shares_due(&self) -> Vec<DeviceId> {
        let state = self.resolution.current();
        let me = self.me.device();
        let my_address = self.me.address();
        let active = state
            .devices
            .get(&me)
            .is_some_and(|d| d.revoked_by.is_none() && d.address == my_address);
        if !active || state.role(&my_address).is_none() {
            return Vec::new();
        }
        // The keys that count: those of rotations that were authorised where they were made
        // (valid, or voided only by a concurrent restriction), with who made each.
        let mut rotations: BTreeMap<(u32, KeyCheck), BTreeSet<DeviceId>> = BTreeMap::new();
        for (i, e) in self.log.entries.iter().enumerate() {
            if let AclOpKind::RotateKey { epoch, check, .. } = e.op.kind() {
                if self.plausible(i) {
                    rotations
                        .entry((*epoch, *check))
                        .or_default()
                        .insert(e.op.body().author);
                }
            }
        }
        let given = self.keys_given();
        let readers = state.reading_devices();
        let empty = BTreeSet::new();
        let mut due = Vec::new();
        for d in &readers {
            if *d == me {
                continue;
            }
            let Some(record) = state.devices.get(d) else {
                continue;
            };
            let granted_by = state
                .members
                .get(&record.address)
                .and_then(|m| self.log.get(&m.since))
                .map(|op| op.body().author);
            let has = given.get(d).unwrap_or(&empty);
            let responsible = rotations.iter().any(|(k, authors)| {
                if has.contains(k) || self.keyring.get(k.0, &k.1).is_none() {
                    return false;
                }
                // Who else, by the log, holds this key and may read.
                let holders: Vec<&DeviceId> = readers
                    .iter()
                    .filter(|h| *h != d && given.get(*h).is_some_and(|g| g.contains(k)))
                    .collect();
                let primary: Vec<&&DeviceId> = holders
                    .iter()
                    .filter(|h| {
                        state.devices.get(**h).map(|r| r.address) == Some(record.address)
                            || granted_by.as_ref() == Some(**h)
                            || authors.contains(**h)
                    })
                    .collect();
                if !primary.is_empty() {
                    primary.iter().any(|h| ***h == me)
                } else {
                    // Nobody in particular: the first holder by id; if the log shows no
                    // holder, this device, which holds it anyway (from a lockbox).
                    holders.first().is_none_or(|h| **h == me)
                }
            });
            if responsible {
                due.push(*d);
            }
        }
        due
    }
}

/// Reads a decrypted update (or snapshot, see [`super::snapshot`]) and checks it carries exactly
/// the peers its header declares (a snapshot declares none). Returns the Loro bytes and their
/// facts.
fn read_update(payload: Vec<u8>, declared: &[u64]) -> Result<(Vec<u8>, Blob), Refusal> {
    let (update, attested) = match super::snapshot::unwrap(&payload) {
        None => (payload, Vec::new()),
        Some(Err(why)) => return Err(Refusal::BadPayload(why)),
        Some(Ok((bindings, loro))) => (loro.to_vec(), bindings),
    };
    let mut blob = Blob::read(&update)?;
    if !attested.is_empty() && !blob.snapshot {
        return Err(Refusal::BadPayload(
            "peer bindings come only with a whole-workspace snapshot".into(),
        ));
    }
    blob.attested = attested;
    let found = if blob.snapshot {
        Vec::new()
    } else {
        blob.peers()
    };
    if declared == found.as_slice() {
        Ok((update, blob))
    } else {
        Err(Refusal::UndeclaredPeers {
            declared: declared.to_vec(),
            found,
        })
    }
}
