//! Who a Loro peer id belongs to, and which sequence numbers each device has used.
//!
//! Loro peer ids are random per session and say nothing about who wrote a change, so an
//! envelope declares the peers whose changes it carries, and the binding is made from the
//! envelopes themselves: a peer belongs to the device whose envelope carries its first change
//! (counter 0). An envelope from any other device carrying changes of that peer is refused. If
//! two different envelopes carry overlapping changes of one peer (one Loro id, two contents —
//! only a copied peer id or a device signing two versions of its history does that), the peer is
//! *contested* and none of its changes are trusted, on every replica: "first come" would differ
//! from replica to replica.
//!
//! Only envelopes whose device signs for a member who may write at the membership heads it cites
//! count as claims, so outsiders and viewers cannot contest anyone's peer. Claims come in two
//! strengths: a *firm* claim is made by a member nobody has restricted since the heads it cites;
//! a *kept* claim by a member who has since been removed, demoted or revoked, for changes the
//! restricting op had seen (those changes stay valid). A kept claim never contests a firm one —
//! it is simply ignored where they overlap — because Loro ids can be copied, and "the remover had
//! seen these ids" must not let a removed member take over an active member's peer.
//!
//! Likewise a device that signs two different envelopes with one sequence number has
//! equivocated, and both are refused everywhere.

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
}

#[derive(Clone, Debug, Default)]
struct PeerClaims {
    /// Firm claims by start counter; they never overlap unless `contested`.
    firm: BTreeMap<i32, Vec<Claim>>,
    contested: bool,
    /// Kept claims (rare: only removed members' changes).
    kept: Vec<Claim>,
}

/// Whose a peer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerOwner {
    /// Nobody has claimed its first change yet.
    Unknown,
    /// This device.
    Device(DeviceId),
    /// Two envelopes claim the same changes.
    Contested,
}

/// The claims a replica has seen.
#[derive(Clone, Debug, Default)]
pub(crate) struct Claims {
    peers: HashMap<u64, PeerClaims>,
    seqs: HashMap<(DeviceId, u64), BTreeSet<EnvelopeId>>,
    /// Peers bound by applied snapshots (see [`super::snapshot`]): used only where no envelope
    /// has claimed the peer's first change.
    attested: HashMap<u64, (DeviceId, EnvelopeId)>,
}

impl Claims {
    /// Records that `envelope` by `device` carries changes `[start, end)` of `peer`. Returns
    /// whether this may have changed who owns the peer in a way that voids applied changes
    /// (the peer became contested).
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
        match strength {
            Strength::Kept => {
                let before = owner_of(pc);
                if !pc.kept.iter().any(|c| c.envelope == envelope) {
                    pc.kept.push(claim);
                }
                before != PeerOwner::Contested && owner_of(pc) == PeerOwner::Contested
            }
            Strength::Firm => {
                let mut newly_contested = false;
                if !pc.contested {
                    // Firm claims do not overlap each other, so only those starting inside the
                    // new range and the last one starting before it can overlap it.
                    let inside = pc.firm.range(start..end).flat_map(|(_, cs)| cs.iter());
                    let before = pc.firm.range(..start).next_back().into_iter();
                    let before = before.flat_map(|(_, cs)| cs.iter());
                    if inside.chain(before).any(|c| c.overlaps(&claim)) {
                        pc.contested = true;
                        newly_contested = true;
                    }
                }
                let slot = pc.firm.entry(start).or_default();
                if !slot.iter().any(|c| c.envelope == envelope) {
                    slot.push(claim);
                }
                newly_contested
            }
        }
    }

    /// Records that `device` used sequence number `seq` for `envelope`.
    pub(crate) fn claim_seq(&mut self, device: DeviceId, seq: u64, envelope: EnvelopeId) {
        self.seqs.entry((device, seq)).or_default().insert(envelope);
    }

    /// Forgets an envelope (a local change that was refused before it left).
    pub(crate) fn forget(&mut self, envelope: &EnvelopeId, device: DeviceId, seq: u64) {
        if let Some(set) = self.seqs.get_mut(&(device, seq)) {
            set.remove(envelope);
        }
        for pc in self.peers.values_mut() {
            for cs in pc.firm.values_mut() {
                cs.retain(|c| c.envelope != *envelope);
            }
            pc.firm.retain(|_, cs| !cs.is_empty());
            pc.kept.retain(|c| c.envelope != *envelope);
        }
    }

    /// Drops all peer claims (before they are recounted under a new membership).
    pub(crate) fn clear_peers(&mut self) {
        self.peers.clear();
    }

    pub(crate) fn owner(&self, peer: u64) -> PeerOwner {
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

    pub(crate) fn seq_reused(&self, device: DeviceId, seq: u64) -> bool {
        self.seqs.get(&(device, seq)).is_some_and(|s| s.len() > 1)
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
    // is a contest like any other.
    let firm: Vec<&Claim> = pc.firm.values().flatten().collect();
    let kept: Vec<&Claim> = pc
        .kept
        .iter()
        .filter(|k| !firm.iter().any(|f| f.overlaps(k)))
        .collect();
    if kept
        .iter()
        .enumerate()
        .any(|(i, a)| kept[i + 1..].iter().any(|b| a.overlaps(b)))
    {
        return PeerOwner::Contested;
    }
    match kept.iter().find(|k| k.start == 0) {
        Some(k) => PeerOwner::Device(k.device),
        None => PeerOwner::Unknown,
    }
}
