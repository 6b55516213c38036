//! Judging envelopes against the membership log and the policy, and keeping the document equal
//! to "every envelope that is valid, and nothing else".

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::rc::Rc;

use loro::{EncodedBlobMode, Frontiers, LoroDoc, VersionVector, ID};

use super::claims::{PeerOwner, Strength};
use super::inspect::Spans;
use super::log::PositionSet;
use super::outcome::Missing;
use super::policy::{self, Write, WriteSummary};
use super::refusal::Refusal;
use super::replica::Replica;
use super::resolve::{MemberState, Restriction};
use super::role::Role;
use crate::crypto::{AclOpId, Envelope, EnvelopeId};
use crate::identity::DeviceId;
use crate::model::Workspace;

/// How many envelopes down a new envelope's citations are searched for twins it may decide.
const TWIN_WALK: usize = 1024;
/// How many envelopes up a twin's citers are searched for one of another member's.
const BUILT_ON_WALK: usize = 4096;

/// The facts a Loro update states about itself, read once on arrival.
#[derive(Clone, Debug)]
pub(crate) struct Blob {
    pub(crate) snapshot: bool,
    pub(crate) start: VersionVector,
    pub(crate) end: VersionVector,
    /// Changes outside the update that it depends on.
    pub(crate) deps: Frontiers,
    /// For a snapshot: the peer bindings its author vouches for (see [`super::snapshot`]).
    pub(crate) attested: Vec<(u64, crate::identity::DeviceId)>,
}

impl Blob {
    /// Reads the update's metadata.
    ///
    /// Fails if it is not a Loro update or full snapshot.
    pub(crate) fn read(payload: &[u8]) -> Result<Self, Refusal> {
        let meta = LoroDoc::decode_import_blob_meta(payload, true)
            .map_err(|e| Refusal::BadPayload(e.to_string()))?;
        let snapshot = match meta.mode {
            EncodedBlobMode::Updates => false,
            EncodedBlobMode::Snapshot => true,
            other => {
                return Err(Refusal::BadPayload(format!(
                    "a {other:?} is not accepted (only updates and full snapshots are)"
                )))
            }
        };
        Ok(Self {
            snapshot,
            start: meta.partial_start_vv,
            end: meta.partial_end_vv,
            deps: meta.start_frontiers,
            attested: Vec::new(),
        })
    }

    pub(crate) fn peers(&self) -> Vec<u64> {
        self.end
            .keys()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

/// Where a held envelope stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Applied,
    Pending(Missing),
    Quarantined(Refusal),
}

/// What a held envelope's encrypted payload has turned out to be.
#[derive(Clone, Debug)]
pub(crate) enum Content {
    /// Not decrypted yet: its membership heads have not arrived, or this device does not hold
    /// the key of its epoch.
    Sealed,
    /// Decrypted and read: the Loro update and what it says about itself.
    Open { update: Vec<u8>, blob: Blob },
    /// It can never be used (it does not decrypt, or the update inside is unusable).
    Broken(Refusal),
}

/// An envelope that passed the structural checks (readable, this workspace, encrypted, signed
/// by the device it names).
#[derive(Clone, Debug)]
pub(crate) struct Held {
    pub(crate) env: Envelope,
    pub(crate) content: Content,
    pub(crate) summary: Option<WriteSummary>,
    pub(crate) status: Status,
}

impl Held {
    /// The update's facts, once decrypted.
    pub(crate) fn blob(&self) -> Option<&Blob> {
        match &self.content {
            Content::Open { blob, .. } => Some(blob),
            _ => None,
        }
    }

    /// The decrypted Loro update.
    pub(crate) fn update(&self) -> Option<&[u8]> {
        match &self.content {
            Content::Open { update, .. } => Some(update),
            _ => None,
        }
    }
}

/// The decision on one envelope.
pub(crate) enum Verdict {
    /// Valid; `in_shadow` says whether inspection already imported it into the shadow.
    Apply {
        in_shadow: bool,
    },
    Pending(Missing),
    Refuse(Refusal),
}

/// The membership at some heads, with the positions of the ops it is made of.
pub(crate) type HeadsState = Rc<(MemberState, PositionSet)>;

impl Replica {
    /// The membership at `heads`, cached until the log changes. `None` if an op is missing.
    pub(crate) fn heads_state(&mut self, heads: &[AclOpId]) -> Option<HeadsState> {
        if let Some(s) = self.heads_cache.get(heads) {
            return Some(s.clone());
        }
        let past = self.log.past_of(heads)?;
        let state = self.resolution.state_at(&self.log, heads)?;
        let entry = Rc::new((state, past));
        if self.heads_cache.len() > 64 {
            self.heads_cache.clear();
        }
        self.heads_cache.insert(heads.to_vec(), entry.clone());
        Some(entry)
    }

    /// How strongly an envelope claims its peers (see [`super::claims`]): not at all unless its
    /// device signs for a member at its cited heads (any role: a viewer writes its own profile)
    /// who was not removed by an op that had not seen it; firmly if nobody has restricted the member since those heads.
    pub(crate) fn claim_strength(&mut self, id: &EnvelopeId) -> Option<Strength> {
        let h = self.held.get(id)?;
        let blob = h.blob()?;
        if blob.snapshot {
            return None;
        }
        let header = h.env.header().clone();
        let end = blob.end.clone();
        let state = self.heads_state(&header.acl_heads)?;
        let authority = self
            .resolution
            .change_authority(
                &self.log,
                &state.0,
                &state.1,
                &header.device,
                &header.cert_hash,
                header.time,
                &end,
            )
            .ok()
            .filter(|a| a.effective >= Role::Viewer)?;
        let restricted = self
            .resolution
            .restrictions_outside(&self.log, &state.1, &authority.address, &header.device)
            .into_iter()
            .any(|(_, r)| match r {
                Restriction::Address(_, Some(role)) => role < authority.role_at_heads,
                Restriction::Address(_, None) | Restriction::Device(_) => true,
            });
        Some(if restricted {
            Strength::Kept
        } else {
            Strength::Firm
        })
    }

    /// Registers an envelope's peer claims, if it makes any. Returns whether a peer became
    /// contested.
    pub(crate) fn claim_peers(&mut self, id: &EnvelopeId) -> bool {
        let Some(strength) = self.claim_strength(id) else {
            return false;
        };
        let Some(h) = self.held.get(id) else {
            return false;
        };
        let Some(blob) = h.blob() else {
            return false;
        };
        let device = h.env.header().device;
        let mut contested = false;
        for (peer, end) in blob.end.iter() {
            let start = blob.start.get(peer).copied().unwrap_or(0);
            contested |= self
                .claims
                .claim_peer(*peer, (start, *end, device, *id), strength);
        }
        contested
    }

    /// Recounts every peer claim (after the membership changed).
    pub(crate) fn recount_claims(&mut self) {
        self.claims.clear_peers();
        let ids: Vec<EnvelopeId> = self.held.keys().copied().collect();
        for id in ids {
            self.claim_peers(&id);
        }
    }

    /// Judges a held envelope. May import it into the shadow to inspect it.
    pub(crate) fn judge(&mut self, id: &EnvelopeId, now: i64) -> Verdict {
        let Some(h) = self.held.get(id) else {
            return Verdict::Refuse(Refusal::Unreadable("not held".into()));
        };
        let header = h.env.header().clone();
        if header.time > now.saturating_add(self.config.max_clock_skew) {
            return Verdict::Pending(Missing {
                until: Some(header.time - self.config.max_clock_skew),
                ..Missing::default()
            });
        }
        // A peer proven derived for another device is never this one's, whoever it signs for
        // and whatever it cites: say so before anything else.
        for peer in &header.peers {
            match self.claims.derived_owner(*peer) {
                Some(owner) if owner != header.device => {
                    return Verdict::Refuse(Refusal::PeerOfAnotherDevice {
                        peer: *peer,
                        owner,
                        device: header.device,
                    })
                }
                _ => {}
            }
        }
        let absent: Vec<AclOpId> = header
            .acl_heads
            .iter()
            .filter(|h| !self.log.contains(h))
            .copied()
            .collect();
        if !absent.is_empty() || header.acl_heads.is_empty() {
            return Verdict::Pending(Missing {
                acl_ops: absent,
                ..Missing::default()
            });
        }
        if header.time < self.log.max_time(&header.acl_heads) {
            return Verdict::Refuse(Refusal::DatedBeforeItsPast);
        }
        let blob = match &self.held[id].content {
            Content::Open { blob, .. } => blob.clone(),
            Content::Sealed => {
                return Verdict::Pending(Missing {
                    epoch: Some(header.epoch),
                    ..Missing::default()
                })
            }
            Content::Broken(r) => return Verdict::Refuse(r.clone()),
        };
        let end = blob.end.clone();
        let Some(state) = self.heads_state(&header.acl_heads) else {
            return Verdict::Pending(Missing::default());
        };
        let authority = match self.resolution.change_authority(
            &self.log,
            &state.0,
            &state.1,
            &header.device,
            &header.cert_hash,
            header.time,
            &end,
        ) {
            Ok(a) => a,
            Err(r) => return Verdict::Refuse(r),
        };
        // Viewers write nothing but their own profile, so a viewer's change is read like any
        // other and refused below, after inspection, unless that is all it writes.
        if !blob.snapshot {
            for peer in &header.peers {
                match self.claims.owner(*peer) {
                    PeerOwner::Contested => {
                        return Verdict::Refuse(Refusal::PeerContested { peer: *peer })
                    }
                    PeerOwner::Device(owner) if owner != header.device => {
                        return Verdict::Refuse(Refusal::PeerOfAnotherDevice {
                            peer: *peer,
                            owner,
                            device: header.device,
                        })
                    }
                    PeerOwner::Device(_) => {}
                    PeerOwner::Unknown => {
                        return Verdict::Pending(Missing {
                            changes: vec![ID::new(*peer, 0)],
                            ..Missing::default()
                        })
                    }
                }
            }
            if let Some(r) = self.twin_refusal(id, header.device, &blob) {
                return Verdict::Refuse(r);
            }
            let missing = self.missing_changes(&blob);
            if !missing.is_empty() {
                return Verdict::Pending(Missing {
                    changes: missing,
                    ..Missing::default()
                });
            }
        }
        let mut in_shadow = false;
        if self.held[id].summary.is_none() {
            match self.inspect(id, &authority.address) {
                Ok(summary) => {
                    // A snapshot is read without importing it (see `inspect`).
                    in_shadow = !blob.snapshot;
                    if let Some(h) = self.held.get_mut(id) {
                        h.summary = Some(summary);
                    }
                }
                Err(r) => return Verdict::Refuse(r),
            }
        }
        let summary = self.held[id].summary.clone().unwrap_or_default();
        match policy::check(&summary, &authority) {
            Ok(()) => Verdict::Apply { in_shadow },
            Err(r) => {
                if in_shadow {
                    self.refork_shadow();
                }
                Verdict::Refuse(r)
            }
        }
    }

    /// Why `id` must give way to a twin (another envelope of its device carrying some of the
    /// same Loro changes), if it must: see [`super::claims`] for the rule.
    pub(crate) fn twin_refusal(
        &mut self,
        id: &EnvelopeId,
        device: DeviceId,
        blob: &Blob,
    ) -> Option<Refusal> {
        if blob.snapshot {
            return None;
        }
        for (peer, end) in blob.end.iter() {
            let start = blob.start.get(peer).copied().unwrap_or(0);
            let twins = self.claims.twins_of(*peer, id, device, (start, *end));
            let Some(first) = twins.first().copied() else {
                continue;
            };
            let mut group = twins;
            group.push(*id);
            group.sort_unstable();
            let winner = group.into_iter().find(|e| self.built_on(e, device));
            match winner {
                Some(w) if w == *id => {}
                Some(w) => {
                    return Some(Refusal::TwinOfBuiltOn {
                        device,
                        peer: *peer,
                        of: w,
                    })
                }
                None => {
                    return Some(Refusal::Twins {
                        device,
                        peer: *peer,
                        of: first,
                    })
                }
            }
        }
        None
    }

    /// Whether an envelope of another device than `device` that makes a firm claim cites
    /// `envelope`, directly or through a chain of citations (nearest citers first, at most
    /// [`BUILT_ON_WALK`] of them).
    fn built_on(&mut self, envelope: &EnvelopeId, device: DeviceId) -> bool {
        let mut seen: HashSet<EnvelopeId> = HashSet::new();
        let mut queue = VecDeque::from([*envelope]);
        while let Some(x) = queue.pop_front() {
            let citers = self.claims.citers(&x).to_vec();
            for c in citers {
                if seen.len() >= BUILT_ON_WALK || !seen.insert(c) {
                    continue;
                }
                let Some(h) = self.held.get(&c) else {
                    continue;
                };
                if h.env.header().device != device
                    && self.claim_strength(&c) == Some(Strength::Firm)
                {
                    return true;
                }
                queue.push_back(c);
            }
        }
        false
    }

    /// Whether the citations of `citer`, which just arrived, changed the verdict on a twin it
    /// builds on: one applied must now give way, or one refused as a twin may now stand. Only
    /// twins within [`TWIN_WALK`] envelopes down its citations are looked at (twins are rare,
    /// and what changes builds on is recent).
    pub(crate) fn twin_verdicts_changed(&mut self, citer: &EnvelopeId) -> bool {
        let twinned = self.claims.twinned();
        if twinned.is_empty() {
            return false;
        }
        let mut reached = Vec::new();
        let mut seen: HashSet<EnvelopeId> = HashSet::new();
        let mut queue = vec![*citer];
        while let Some(x) = queue.pop() {
            let Some(h) = self.held.get(&x) else {
                continue;
            };
            for c in &h.env.header().builds_on {
                if seen.len() >= TWIN_WALK || !seen.insert(*c) {
                    continue;
                }
                if twinned.binary_search(c).is_ok() {
                    reached.push(*c);
                }
                queue.push(*c);
            }
        }
        for id in reached {
            let Some(h) = self.held.get(&id) else {
                continue;
            };
            let Some(blob) = h.blob().cloned() else {
                continue;
            };
            let device = h.env.header().device;
            let applied = h.status == Status::Applied;
            let refused_as_twin = matches!(
                h.status,
                Status::Quarantined(Refusal::Twins { .. } | Refusal::TwinOfBuiltOn { .. })
            );
            let refused = self.twin_refusal(&id, device, &blob).is_some();
            if (applied && refused) || (refused_as_twin && !refused) {
                return true;
            }
        }
        false
    }

    /// The first change of each peer the update builds on that the shadow lacks.
    fn missing_changes(&self, blob: &Blob) -> Vec<ID> {
        let have = self.shadow.oplog_vv();
        let mut missing: Vec<ID> = blob
            .deps
            .iter()
            .filter(|d| !have.includes_id(*d))
            .map(|d| ID::new(d.peer, have.get(&d.peer).copied().unwrap_or(0)))
            .collect();
        for (peer, start) in blob.start.iter() {
            let got = have.get(peer).copied().unwrap_or(0);
            if *start > got {
                missing.push(ID::new(*peer, got));
            }
        }
        missing.sort();
        missing.dedup();
        missing
    }

    /// Imports the envelope into the shadow and reads what it writes.
    fn inspect(
        &mut self,
        id: &EnvelopeId,
        signer: &crate::identity::Address,
    ) -> Result<WriteSummary, Refusal> {
        let h = &self.held[id];
        let (Some(blob), Some(update)) = (h.blob(), h.update()) else {
            return Err(Refusal::Unreadable("not decrypted".into()));
        };
        if blob.snapshot {
            return Ok(WriteSummary {
                writes: [Write::Snapshot].into_iter().collect(),
            });
        }
        let status = self.shadow.import(update);
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                self.refork_shadow();
                return Err(Refusal::BadPayload(e.to_string()));
            }
        };
        if status.pending.is_some() {
            self.refork_shadow();
            return Err(Refusal::BadPayload(
                "its changes have gaps (they depend on history it does not declare)".into(),
            ));
        }
        let causal = self.shadow.frontiers_to_vv(&blob.deps).unwrap_or_default();
        let spans = Spans::between(&blob.start, &blob.end);
        Ok(self
            .inspector
            .inspect(&self.shadow, &spans, &causal, signer))
    }

    pub(crate) fn refork_shadow(&mut self) {
        self.shadow = self.ws.loro().fork();
    }

    /// Applies a judged-valid envelope to the document and the shadow.
    pub(crate) fn apply(&mut self, id: &EnvelopeId, in_shadow: bool, in_doc: bool) {
        let Some(payload) = self
            .held
            .get(id)
            .and_then(|h| h.update())
            .map(<[u8]>::to_vec)
        else {
            return;
        };
        if !in_doc {
            if let Err(e) = self.ws.loro().import(&payload) {
                // Inspection imported the same bytes into the shadow, so this cannot happen
                // unless the document is damaged; keep the envelope out and say why.
                self.set_status(id, Status::Quarantined(Refusal::BadPayload(e.to_string())));
                self.refork_shadow();
                return;
            }
        }
        if !in_shadow {
            // Only fails on bytes the document just accepted; the shadow is re-forked if so.
            if self.shadow.import(&payload).is_err() {
                self.refork_shadow();
            }
        }
        self.set_status(id, Status::Applied);
        if let Some(blob) = self.held.get(id).and_then(Held::blob) {
            for (peer, device) in &blob.attested {
                self.claims.attest(*peer, *device, *id);
            }
        }
    }

    pub(crate) fn set_status(&mut self, id: &EnvelopeId, status: Status) {
        let Some(h) = self.held.get_mut(id) else {
            return;
        };
        let was = h.status == Status::Applied;
        let is = status == Status::Applied;
        h.status = status;
        if is {
            self.unsettled.remove(id);
        } else {
            self.unsettled.insert(*id);
        }
        if was != is {
            self.transitions.push((*id, is));
        }
        if was && !is {
            self.claims.unattest(id);
        }
    }

    /// After the membership log changed: re-resolve, recount claims, withdraw what became void
    /// (by rebuilding the document) and release what became valid.
    pub(crate) fn reconcile(&mut self, now: i64) {
        self.resolution = super::resolve::Resolution::compute(&self.log);
        self.heads_cache.clear();
        // New ops may carry keys for this device, and cited heads may have arrived.
        self.learn_keys();
        self.unlock_sealed();
        self.recount_claims();
        self.settle_all(now);
    }

    /// Judges every held envelope again: if one that is applied is now void, rebuilds the
    /// document; otherwise applies whatever became valid.
    pub(crate) fn settle_all(&mut self, now: i64) {
        let applied: Vec<EnvelopeId> = self
            .held
            .iter()
            .filter(|(_, h)| h.status == Status::Applied)
            .map(|(id, _)| *id)
            .collect();
        let mut void = false;
        for id in applied {
            if !matches!(self.judge(&id, now), Verdict::Apply { .. }) {
                void = true;
                break;
            }
        }
        if void {
            self.rebuild(now);
        } else {
            self.release(now, true);
        }
    }

    /// Rebuilds the document from scratch out of the envelopes that are valid now. Local
    /// changes not yet sealed are sealed first (into the outbox); the document gets a new Loro
    /// peer id, derived from a fresh salt, so new local changes never reuse ids of withdrawn
    /// ones.
    pub(crate) fn rebuild(&mut self, now: i64) {
        self.seal_unsent(now);
        self.rebuilt = true;
        let doc = LoroDoc::new();
        let ws = Workspace::open_replica(doc, &self.me.address().to_checksum(), self.config.clock);
        self.ws = ws;
        self.shadow = LoroDoc::new();
        self.derive_local_peer();
        self.sent = 0;
        let ids: Vec<EnvelopeId> = self.held.keys().copied().collect();
        for id in ids {
            if self.held[&id].status == Status::Applied {
                self.set_status(&id, Status::Pending(Missing::default()));
            }
        }
        self.release(now, true);
    }
}
