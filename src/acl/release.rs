//! Releasing held envelopes that are not applied, in time order, each judged again only when
//! something it waits for may have changed.
//!
//! Within one release the membership log, the keys and the peer claims do not change; only the
//! document (and its shadow) grows as envelopes are applied. So an envelope that waits for Loro
//! changes the shadow lacks is parked on the first of them and judged again once an applied
//! envelope brings it, instead of judging every waiting envelope again after every pass (which
//! made releasing a backlog of n envelopes from one device cost about n passes over n envelopes).
//! Whatever becomes valid for another reason is still found: a release ends only after a full
//! pass over everything not applied that applies nothing, as before.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use super::judge::{Status, Verdict};
use super::replica::Replica;
use crate::crypto::EnvelopeId;

/// Envelopes waiting for a peer's changes: by peer, by how many of that peer's changes (the
/// counter end) the shadow must hold.
#[derive(Default)]
struct Parked(HashMap<u64, BTreeMap<i32, Vec<EnvelopeId>>>);

impl Parked {
    fn park(&mut self, (peer, end): (u64, i32), id: EnvelopeId) {
        self.0
            .entry(peer)
            .or_default()
            .entry(end)
            .or_default()
            .push(id);
    }

    /// The envelopes whose wait on `peer` is over now that the shadow holds `have` of its
    /// changes.
    fn wake(&mut self, peer: u64, have: i32, out: &mut Vec<EnvelopeId>) {
        let Some(waiting) = self.0.get_mut(&peer) else {
            return;
        };
        while let Some(entry) = waiting.first_entry() {
            if *entry.key() > have {
                break;
            }
            out.extend(entry.remove());
        }
    }
}

impl Replica {
    /// Judges every envelope that is not applied (pending ones, and quarantined ones when
    /// `include_quarantined`), oldest first, until no more can be applied.
    pub(crate) fn release(&mut self, now: i64, include_quarantined: bool) {
        loop {
            let mut ready: BinaryHeap<Reverse<(i64, EnvelopeId)>> = self
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
            let mut parked = Parked::default();
            let mut woken = Vec::new();
            let mut progress = false;
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
                            self.wake_after(&id, &mut parked, &mut woken);
                            for w in woken.drain(..) {
                                if let Some(h) = self.held.get(&w) {
                                    ready.push(Reverse((h.env.header().time, w)));
                                }
                            }
                        }
                    }
                    Verdict::Pending(m) => {
                        self.set_status(&id, Status::Pending(m));
                        if let Some(need) = self.first_change_lacking(&id) {
                            parked.park(need, id);
                        }
                    }
                    Verdict::Refuse(r) => self.set_status(&id, Status::Quarantined(r)),
                }
            }
            if !progress {
                break;
            }
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

    /// Wakes the envelopes parked on the peers an applied envelope wrote (on every peer, for
    /// a snapshot).
    fn wake_after(&self, id: &EnvelopeId, parked: &mut Parked, out: &mut Vec<EnvelopeId>) {
        let Some(blob) = self.held.get(id).and_then(|h| h.blob()) else {
            return;
        };
        let have = self.shadow.oplog_vv();
        let peers: Vec<u64> = if blob.snapshot {
            parked.0.keys().copied().collect()
        } else {
            blob.end.keys().copied().collect()
        };
        for peer in peers {
            parked.wake(peer, have.get(&peer).copied().unwrap_or(0), out);
        }
    }
}
