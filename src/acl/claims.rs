//! Who a Loro peer id belongs to, and which of a device's envelopes stands when it signed two
//! contents for the same Loro changes.
//!
//! # Derived peers (header version 2)
//!
//! Every weft derives its Loro peer id from its device id and a fresh per-session salt
//! (`crypto::envelope::derive_peer`: the first 8 bytes of SHA-256 over a domain, the device id
//! and the salt) whenever it starts a session or rebuilds its document, and carries the salt in
//! the signed header. Every receiver checks it (an envelope whose salt does not derive its peer
//! is refused, `PeerNotDerived`). A peer so *proven derived* belongs to that device, whatever
//! arrives when: no other device can find a salt that derives it, so an envelope of any other
//! device carrying its changes is refused (`PeerOfAnotherDevice`) and never contests it. A
//! proof that arrives after someone else's old-format claim on the peer withdraws that claim.
//!
//! # Old-format claims (version 1, or version 2 without salts)
//!
//! For peers nobody has proven derived, the old rules stand: the binding is made from the
//! envelopes themselves, and a peer belongs to the device whose envelope carries its first
//! change (counter 0). An envelope from any other device carrying changes of that peer is
//! refused. If envelopes of two *different* devices carry overlapping changes of one such peer
//! (one Loro id, two contents), the peer is *contested* and none of its changes are trusted, on
//! every replica: "first come" would differ from replica to replica.
//!
//! Only envelopes whose device signs for a member who may write at the membership heads it cites
//! count as claims, so outsiders and viewers cannot contest anyone's peer, and an envelope that
//! does not decrypt claims nothing. Claims come in two strengths: a *firm* claim is made by a
//! member nobody has restricted since the heads it cites; a *kept* claim by a member who has
//! since been removed, demoted or revoked, for changes the restricting op had seen (those
//! changes stay valid). A kept claim never contests a firm one — it is simply ignored where
//! they overlap — because Loro ids can be copied, and "the remover had seen these ids" must not
//! let a removed member take over an active member's peer.
//!
//! # Sequence numbers and twins
//!
//! A sequence number only indexes the transport (a position in the device's bucket log, the
//! room's version vector); what a change *is* is its Loro ids. So a sequence number used twice
//! refuses nothing by itself. A second envelope of a device carrying *new* Loro ids is judged
//! like any change: if its member was removed or the device revoked, the restricting op had not
//! seen those ids, so it is void (strong remove). The hard case is a **twin**: two envelopes of
//! one device carrying some of the *same* Loro ids with different content (by version vector
//! the remover "had seen" both). Which one stands is decided by signed evidence, never by
//! arrival order:
//!
//! - Every version-2 envelope cites, in its signed header (`builds_on`), the envelopes that
//!   carried the Loro changes its update depends on.
//! - A twin is *built on* if an envelope of **another** device that makes a firm claim (its
//!   member may write and nobody restricted them since) cites it, directly or through a chain
//!   of citations.
//! - Among twins, the built-on one with the lowest envelope id stands and the others are
//!   refused (`TwinOfBuiltOn`); when none is built on, all of them are refused (`Twins`): the
//!   device spoiled only its own changes. Changes of others that build on a twin cite it, so
//!   the twin they build on is the one that stands, on every replica.
//!
//! So the seq-twin of a removed member or a stolen, revoked laptop leaves the original and
//! everything teammates built on it applied; a current member's equivocation voids at most the
//! equivocated changes nobody built on. Two twins built on by different honest members (only a
//! device that sent each twin to different members before any of them saw the other can cause
//! that) resolve to the lowest id, deterministically. A citation is only ever read between
//! twins, so a false one can at worst choose among a device's own twins.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::crypto::EnvelopeId;
use crate::identity::DeviceId;

/// How strongly an envelope claims its peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strength {
    /// Its author has not been restricted since the heads it cites.
    Firm,
    /// Its author has been restricted since, by ops that had seen it.
    Kept,
}

#[derive(Clone, Debug)]
struct Claim {
    start: i32,
    end: i32,
    device: DeviceId,
    envelope: EnvelopeId,
}

impl Claim {
    fn overlaps(&self, other: &Claim) -> bool {
        self.envelope != other.envelope && self.start < other.end && other.start < self.end
    }

    fn overlaps_range(&self, start: i32, end: i32) -> bool {
        self.start < end && start < self.end
    }
}

#[derive(Clone, Debug, Default)]
struct PeerClaims {
    /// Firm claims by start counter; claims of different devices never overlap unless
    /// `contested` (claims of one device overlap only as twins).
    firm: BTreeMap<i32, Vec<Claim>>,
    /// The longest firm claim, to find every claim overlapping a range.
    longest: i32,
    /// Firm claims of two different devices overlap.
    contested: bool,
    /// Kept claims (rare: only removed members' changes).
    kept: Vec<Claim>,
}

impl PeerClaims {
    fn firm_overlapping(&self, start: i32, end: i32) -> impl Iterator<Item = &Claim> {
        let from = start.saturating_sub(self.longest);
        self.firm
            .range(from..end.max(from))
            .flat_map(|(_, cs)| cs.iter())
            .filter(move |c| c.overlaps_range(start, end))
    }

    fn all_overlapping(&self, start: i32, end: i32) -> impl Iterator<Item = &Claim> {
        self.firm_overlapping(start, end).chain(
            self.kept
                .iter()
                .filter(move |c| c.overlaps_range(start, end)),
        )
    }
}

/// Whose a peer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerOwner {
    /// Nobody has claimed its first change yet.
    Unknown,
    /// This device.
    Device(DeviceId),
    /// Two envelopes of different devices claim the same changes.
    Contested,
}

/// The claims a replica has seen.
#[derive(Clone, Debug, Default)]
pub(crate) struct Claims {
    peers: HashMap<u64, PeerClaims>,
    /// Peers proven derived for a device by a version-2 header's salt.
    derived: HashMap<u64, DeviceId>,
    /// Peers bound by applied snapshots (see [`super::snapshot`]): used only where no envelope
    /// has claimed the peer's first change and nobody proved it derived.
    attested: HashMap<u64, (DeviceId, EnvelopeId)>,
    /// The devices whose envelopes declare each peer (to know whom a new proof concerns).
    declared: HashMap<u64, BTreeSet<DeviceId>>,
    /// Citations: an envelope → the envelopes that say they build on it.
    cited_by: HashMap<EnvelopeId, Vec<EnvelopeId>>,
    /// Envelopes that carry some of the same Loro changes as another envelope of their device.
    twinned: BTreeSet<EnvelopeId>,
}

impl Claims {
    /// Records that `envelope` by `device` carries changes `[start, end)` of `peer`. Returns
    /// whether this may have changed a verdict on applied changes (the peer became contested,
    /// or the envelope is a twin of another of its device's).
    pub(crate) fn claim_peer(
        &mut self,
        peer: u64,
        claim: (i32, i32, DeviceId, EnvelopeId),
        strength: Strength,
    ) -> bool {
        let (start, end, device, envelope) = claim;
        let claim = Claim {
            start,
            end,
            device,
            envelope,
        };
        let pc = self.peers.entry(peer).or_default();
        let twins: Vec<EnvelopeId> = pc
            .all_overlapping(start, end)
            .filter(|c| c.device == device && c.envelope != envelope)
            .map(|c| c.envelope)
            .collect();
        let foreign_overlap = pc
            .firm_overlapping(start, end)
            .any(|c| c.device != device && c.envelope != envelope);
        let mut changed = false;
        match strength {
            Strength::Kept => {
                let before = owner_of(pc);
                if !pc.kept.iter().any(|c| c.envelope == envelope) {
                    pc.kept.push(claim);
                }
                changed |= before != PeerOwner::Contested && owner_of(pc) == PeerOwner::Contested;
            }
            Strength::Firm => {
                if foreign_overlap && !pc.contested {
                    pc.contested = true;
                    changed = true;
                }
                pc.longest = pc.longest.max(end.saturating_sub(start));
                let slot = pc.firm.entry(start).or_default();
                if !slot.iter().any(|c| c.envelope == envelope) {
                    slot.push(claim);
                }
            }
        }
        if !twins.is_empty() {
            changed |= self.twinned.insert(envelope);
            self.twinned.extend(twins);
        }
        changed
    }

    /// Records that an envelope of `device` declares `peer`.
    pub(crate) fn declare(&mut self, peer: u64, device: DeviceId) {
        self.declared.entry(peer).or_default().insert(device);
    }

    /// Records that `device` proved `peer` derived from its id. Returns whether this may change
    /// verdicts (it is new, and an envelope of another device declared the peer).
    pub(crate) fn derive(&mut self, peer: u64, device: DeviceId) -> bool {
        if self.derived.contains_key(&peer) {
            return false;
        }
        self.derived.insert(peer, device);
        self.declared
            .get(&peer)
            .is_some_and(|ds| ds.iter().any(|d| *d != device))
    }

    /// Records that `envelope` says it builds on each of `cited`.
    pub(crate) fn cite(&mut self, envelope: EnvelopeId, cited: &[EnvelopeId]) {
        for c in cited {
            let citers = self.cited_by.entry(*c).or_default();
            if !citers.contains(&envelope) {
                citers.push(envelope);
            }
        }
    }

    /// The envelopes that say they build on `envelope`.
    pub(crate) fn citers(&self, envelope: &EnvelopeId) -> &[EnvelopeId] {
        self.cited_by.get(envelope).map_or(&[], Vec::as_slice)
    }

    /// Envelopes of `device` other than `envelope` that carry some of changes `[start, end)` of
    /// `peer` (its twins), lowest id first.
    pub(crate) fn twins_of(
        &self,
        peer: u64,
        envelope: &EnvelopeId,
        device: DeviceId,
        range: (i32, i32),
    ) -> Vec<EnvelopeId> {
        if !self.twinned.contains(envelope) {
            return Vec::new();
        }
        let Some(pc) = self.peers.get(&peer) else {
            return Vec::new();
        };
        let mut out: Vec<EnvelopeId> = pc
            .all_overlapping(range.0, range.1)
            .filter(|c| c.device == device && c.envelope != *envelope)
            .map(|c| c.envelope)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Every envelope that has a twin.
    pub(crate) fn twinned(&self) -> Vec<EnvelopeId> {
        self.twinned.iter().copied().collect()
    }

    /// The envelopes that carry change `counter` of `peer` (more than one only for twins or a
    /// contest).
    pub(crate) fn carriers(&self, peer: u64, counter: i32) -> Vec<EnvelopeId> {
        self.peers.get(&peer).map_or_else(Vec::new, |pc| {
            pc.all_overlapping(counter, counter.saturating_add(1))
                .map(|c| c.envelope)
                .collect()
        })
    }

    /// Forgets an envelope (a local change that was refused before it left), with the
    /// citations it made.
    pub(crate) fn forget(&mut self, envelope: &EnvelopeId, cited: &[EnvelopeId]) {
        for pc in self.peers.values_mut() {
            for cs in pc.firm.values_mut() {
                cs.retain(|c| c.envelope != *envelope);
            }
            pc.firm.retain(|_, cs| !cs.is_empty());
            pc.kept.retain(|c| c.envelope != *envelope);
        }
        for c in cited {
            if let Some(citers) = self.cited_by.get_mut(c) {
                citers.retain(|e| e != envelope);
            }
        }
        self.twinned.remove(envelope);
    }

    /// Drops all peer claims (before they are recounted under a new membership). Derivations
    /// and citations are facts of the envelopes themselves and stay.
    pub(crate) fn clear_peers(&mut self) {
        self.peers.clear();
        self.twinned.clear();
    }

    /// The device `peer` is proven derived for, if any.
    pub(crate) fn derived_owner(&self, peer: u64) -> Option<DeviceId> {
        self.derived.get(&peer).copied()
    }

    pub(crate) fn owner(&self, peer: u64) -> PeerOwner {
        if let Some(device) = self.derived.get(&peer) {
            return PeerOwner::Device(*device);
        }
        match self.peers.get(&peer).map_or(PeerOwner::Unknown, owner_of) {
            PeerOwner::Unknown => self
                .attested
                .get(&peer)
                .map_or(PeerOwner::Unknown, |(d, _)| PeerOwner::Device(*d)),
            known => known,
        }
    }

    /// Records that the applied snapshot `envelope` binds `peer` to `device` (the first
    /// snapshot to do so keeps it).
    pub(crate) fn attest(&mut self, peer: u64, device: DeviceId, envelope: EnvelopeId) {
        self.attested.entry(peer).or_insert((device, envelope));
    }

    /// Forgets what a snapshot attested (it is no longer applied).
    pub(crate) fn unattest(&mut self, envelope: &EnvelopeId) {
        self.attested.retain(|_, (_, e)| e != envelope);
    }
}

fn owner_of(pc: &PeerClaims) -> PeerOwner {
    if pc.contested {
        return PeerOwner::Contested;
    }
    if let Some(c) = pc.firm.get(&0).and_then(|cs| cs.first()) {
        return PeerOwner::Device(c.device);
    }
    // Kept claims count only where no firm claim overlaps them; among themselves, an overlap
    // of two devices' claims is a contest like any other (one device's are twins).
    let firm: Vec<&Claim> = pc.firm.values().flatten().collect();
    let kept: Vec<&Claim> = pc
        .kept
        .iter()
        .filter(|k| !firm.iter().any(|f| f.overlaps(k)))
        .collect();
    if kept.iter().enumerate().any(|(i, a)| {
        kept[i + 1..]
            .iter()
            .any(|b| a.device != b.device && a.overlaps(b))
    }) {
        return PeerOwner::Contested;
    }
    match kept.iter().find(|k| k.start == 0) {
        Some(k) => PeerOwner::Device(k.device),
        None => PeerOwner::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::DeviceKey;

    fn env(n: u8) -> EnvelopeId {
        EnvelopeId([n; 32])
    }

    #[test]
    fn one_devices_overlapping_claims_are_twins_not_a_contest() {
        let d = DeviceKey::generate().id();
        let mut c = Claims::default();
        assert!(!c.claim_peer(7, (0, 5, d, env(1)), Strength::Firm));
        assert!(c.claim_peer(7, (3, 9, d, env(2)), Strength::Firm));
        assert_eq!(c.owner(7), PeerOwner::Device(d));
        assert_eq!(c.twins_of(7, &env(2), d, (3, 9)), vec![env(1)]);
        assert_eq!(c.twins_of(7, &env(1), d, (0, 5)), vec![env(2)]);
        // A later, adjacent change is nobody's twin.
        assert!(!c.claim_peer(7, (9, 12, d, env(3)), Strength::Firm));
        assert!(c.twins_of(7, &env(3), d, (9, 12)).is_empty());
        assert_eq!(c.carriers(7, 4), vec![env(1), env(2)]);
    }

    #[test]
    fn a_derived_peer_is_its_devices_whatever_others_claimed_first() {
        let owner = DeviceKey::generate().id();
        let thief = DeviceKey::generate().id();
        let mut c = Claims::default();
        c.declare(7, thief);
        c.claim_peer(7, (0, 5, thief, env(1)), Strength::Firm);
        assert_eq!(c.owner(7), PeerOwner::Device(thief));
        assert!(c.claim_peer(7, (0, 5, owner, env(2)), Strength::Firm));
        assert_eq!(c.owner(7), PeerOwner::Contested);
        // The owner's proof settles it, and says the thief's claim must be judged again.
        assert!(c.derive(7, owner));
        assert_eq!(c.owner(7), PeerOwner::Device(owner));
        assert!(!c.derive(7, thief));
        assert_eq!(c.owner(7), PeerOwner::Device(owner));
    }
}
