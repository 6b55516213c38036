//! Releasing held envelopes that are not applied, each judged again only when what it waits for
//! may have changed.
//!
//! A pending envelope waits for the first thing its judgement stopped at: its time, membership
//! ops, the key of its epoch, someone claiming one of its Loro peers, or Loro changes the
//! shadow lacks. The last three kinds are indexed ([`Waits`]): within a release only the
//! document (and its shadow) grows, and between releases only arrivals add claims and the clock
//! moves, so an envelope that waits for a peer's changes is judged again when an applied
//! envelope brings them, one that waits for a claim when the peer is claimed, one dated in the
//! future when its time comes. Changes to the membership log or the keys go through a full
//! release, which judges everything not applied and ends only after a pass that applies
//! nothing.
//!
//! Before, every release judged every waiting envelope again after each pass that applied
//! anything, and every applied arrival released everything: a backlog of n envelopes from one
//! device took about n passes over n envelopes, and changes that arrived before the ones they
//! build on were judged again at every arrival.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use super::claims::PeerOwner;
use super::judge::{Status, Verdict};
use super::outcome::Missing;
use super::replica::Replica;
use crate::crypto::EnvelopeId;

/// Pending envelopes by what they wait for, for the kinds of waiting that end without the
/// membership log or the keys changing. An entry may be stale (its envelope was judged again
/// since); it is checked when it is taken.
#[derive(Default)]
pub(crate) struct Waits {
    /// Waiting for a peer's changes: by peer, by how many of its changes (the counter end) the
    /// shadow must hold.
    changes: HashMap<u64, BTreeMap<i32, Vec<EnvelopeId>>>,
    /// Waiting for someone to claim a peer's first change.
    owner: HashMap<u64, Vec<EnvelopeId>>,
    /// Dated in the future: by the time they may be judged.
    time: BTreeMap<i64, Vec<EnvelopeId>>,
}

impl Waits {
    /// The envelopes whose wait on `peer` is over once the shadow holds `have` of its changes.
    fn changes_in(&mut self, peer: u64, have: i32, out: &mut Vec<EnvelopeId>) {
        let Some(waiting) = self.changes.get_mut(&peer) else {
            return;
        };
        while let Some(entry) = waiting.first_entry() {
            if *entry.key() > have {
                break;
            }
            out.extend(entry.remove());
        }
        if waiting.is_empty() {
            self.changes.remove(&peer);
        }
    }
}

type Ready = BinaryHeap<Reverse<(i64, EnvelopeId)>>;

impl Replica {
    /// Judges every envelope that is not applied (pending ones, and quarantined ones when
    /// `include_quarantined`), oldest first, until no more can be applied.
    pub(crate) fn release(&mut self, now: i64, include_quarantined: bool) {
        loop {
            // Every pending envelope is judged (and indexed) again in this pass.
            self.waits = Waits::default();
            let ready: Ready = self
                .unsettled
                .iter()
                .filter_map(|id| self.held.get(id).map(|h| (id, h)))
                .filter(|(_, h)| match &h.status {
                    Status::Applied => false,
                    Status::Pending(_) => true,
                    Status::Quarantined(_) => include_quarantined,
                })
                .map(|(id, h)| Reverse((h.env.header().time, *id)))
                .collect();
            if !self.work(ready, now) {
                break;
            }
        }
    }

    /// After an envelope arrived and was applied: judges the pending envelopes whose wait may
    /// be over (the shadow holds the changes they build on, their peer was claimed, their time
    /// has come), and whatever those release in turn.
    pub(crate) fn release_waiting(&mut self, now: i64) {
        let mut woken = Vec::new();
        let have = self.shadow.oplog_vv();
        let peers: Vec<u64> = self.waits.changes.keys().copied().collect();
        for peer in peers {
            let got = have.get(&peer).copied().unwrap_or(0);
            self.waits.changes_in(peer, got, &mut woken);
        }
        let claimed: Vec<u64> = self
            .waits
            .owner
            .keys()
            .copied()
            .filter(|p| self.claims.owner(*p) != PeerOwner::Unknown)
            .collect();
        for peer in claimed {
            woken.extend(self.waits.owner.remove(&peer).unwrap_or_default());
        }
        while let Some(entry) = self.waits.time.first_entry() {
            if *entry.key() > now {
                break;
            }
            woken.extend(entry.remove());
        }
        let mut ready = Ready::new();
        self.push_pending(&mut ready, woken);
        self.work(ready, now);
    }

    /// Judges `ready`, oldest first, and what each applied envelope wakes. Returns whether any
    /// was applied.
    fn work(&mut self, mut ready: Ready, now: i64) -> bool {
        let mut progress = false;
        let mut woken = Vec::new();
        while let Some(Reverse((_, id))) = ready.pop() {
            match self.judge(&id, now) {
                Verdict::Apply { in_shadow } => {
                    self.apply(&id, in_shadow, false);
                    if self
                        .held
                        .get(&id)
                        .is_some_and(|h| h.status == Status::Applied)
                    {
                        progress = true;
                        self.wake_after(&id, &mut woken);
                        self.push_pending(&mut ready, woken.drain(..));
                    }
                }
                Verdict::Pending(m) => self.set_pending(&id, m),
                Verdict::Refuse(r) => self.set_status(&id, Status::Quarantined(r)),
            }
        }
        progress
    }

    /// Queues the envelopes among `ids` that are still pending.
    fn push_pending(&self, ready: &mut Ready, ids: impl IntoIterator<Item = EnvelopeId>) {
        for id in ids {
            if let Some(h) = self.held.get(&id) {
                if matches!(h.status, Status::Pending(_)) {
                    ready.push(Reverse((h.env.header().time, id)));
                }
            }
        }
    }

    /// Records that a held envelope waits for `missing`, and indexes it by what it waits for.
    pub(crate) fn set_pending(&mut self, id: &EnvelopeId, missing: Missing) {
        self.index_wait(id, &missing);
        self.set_status(id, Status::Pending(missing));
    }

    /// Indexes a pending envelope by the first thing its judgement stopped at, if that can
    /// change without the membership log or the keys changing (those release everything).
    fn index_wait(&mut self, id: &EnvelopeId, missing: &Missing) {
        if let Some(until) = missing.until {
            self.waits.time.entry(until).or_default().push(*id);
            return;
        }
        if !missing.acl_ops.is_empty() || missing.epoch.is_some() || missing.changes.is_empty() {
            return;
        }
        // Judged in this order: a peer nobody has claimed, then changes the shadow lacks.
        let Some(h) = self.held.get(id) else {
            return;
        };
        if h.blob().is_some_and(|b| !b.snapshot) {
            let unclaimed = h
                .env
                .header()
                .peers
                .iter()
                .find(|p| self.claims.owner(**p) == PeerOwner::Unknown);
            if let Some(peer) = unclaimed {
                self.waits.owner.entry(*peer).or_default().push(*id);
                return;
            }
        }
        if let Some((peer, end)) = self.first_change_lacking(id) {
            self.waits
                .changes
                .entry(peer)
                .or_default()
                .entry(end)
                .or_default()
                .push(*id);
        }
    }

    /// The first Loro change (peer, counter end the shadow must reach) that a held envelope's
    /// update builds on and the shadow lacks, if any.
    fn first_change_lacking(&self, id: &EnvelopeId) -> Option<(u64, i32)> {
        let blob = self.held.get(id)?.blob()?;
        if blob.snapshot {
            return None;
        }
        let have = self.shadow.oplog_vv();
        let dep = blob
            .deps
            .iter()
            .find(|d| !have.includes_id(*d))
            .map(|d| (d.peer, d.counter.saturating_add(1)));
        dep.or_else(|| {
            blob.start
                .iter()
                .find(|(peer, start)| have.get(peer).copied().unwrap_or(0) < **start)
                .map(|(peer, start)| (*peer, *start))
        })
    }

    /// Wakes the envelopes waiting for changes of the peers an applied envelope wrote (of every
    /// peer, for a snapshot).
    fn wake_after(&mut self, id: &EnvelopeId, out: &mut Vec<EnvelopeId>) {
        let Some(blob) = self.held.get(id).and_then(|h| h.blob()) else {
            return;
        };
        let peers: Vec<u64> = if blob.snapshot {
            self.waits.changes.keys().copied().collect()
        } else {
            blob.end.keys().copied().collect()
        };
        let have = self.shadow.oplog_vv();
        for peer in peers {
            let got = have.get(&peer).copied().unwrap_or(0);
            self.waits.changes_in(peer, got, out);
        }
    }
}
