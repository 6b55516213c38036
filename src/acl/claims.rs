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
//! count as claims, so outsiders and viewers cannot contest anyone's peer.
//!
//! Likewise a device that signs two different envelopes with one sequence number has
//! equivocated, and both are refused everywhere.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::crypto::EnvelopeId;
use crate::identity::DeviceId;

#[derive(Clone, Debug)]
struct Claim {
    end: i32,
    device: DeviceId,
    envelope: EnvelopeId,
}

#[derive(Clone, Debug, Default)]
struct PeerClaims {
    /// By start counter.
    ranges: BTreeMap<i32, Vec<Claim>>,
    contested: bool,
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
}

impl Claims {
    /// Records that `envelope` by `device` carries changes `[start, end)` of `peer`. Returns
    /// whether this made the peer contested.
    pub(crate) fn claim_peer(
        &mut self,
        peer: u64,
        start: i32,
        end: i32,
        device: DeviceId,
        envelope: EnvelopeId,
    ) -> bool {
        let pc = self.peers.entry(peer).or_default();
        let mut newly_contested = false;
        if !pc.contested {
            // Existing claims do not overlap each other, so only those starting inside the new
            // range and the last one starting before it can overlap it.
            let inside = pc.ranges.range(start..end).flat_map(|(_, cs)| cs.iter());
            let before = pc.ranges.range(..start).next_back().into_iter();
            let before = before
                .flat_map(|(_, cs)| cs.iter())
                .filter(|c| c.end > start);
            if inside.chain(before).any(|c| c.envelope != envelope) {
                pc.contested = true;
                newly_contested = true;
            }
        }
        let slot = pc.ranges.entry(start).or_default();
        if !slot.iter().any(|c| c.envelope == envelope) {
            slot.push(Claim {
                end,
                device,
                envelope,
            });
        }
        newly_contested
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
            for cs in pc.ranges.values_mut() {
                cs.retain(|c| c.envelope != *envelope);
            }
            pc.ranges.retain(|_, cs| !cs.is_empty());
        }
    }

    /// Drops all peer claims (before they are recounted under a new membership).
    pub(crate) fn clear_peers(&mut self) {
        self.peers.clear();
    }

    pub(crate) fn owner(&self, peer: u64) -> PeerOwner {
        let Some(pc) = self.peers.get(&peer) else {
            return PeerOwner::Unknown;
        };
        if pc.contested {
            return PeerOwner::Contested;
        }
        match pc.ranges.get(&0).and_then(|cs| cs.first()) {
            Some(c) => PeerOwner::Device(c.device),
            None => PeerOwner::Unknown,
        }
    }

    pub(crate) fn seq_reused(&self, device: DeviceId, seq: u64) -> bool {
        self.seqs.get(&(device, seq)).is_some_and(|s| s.len() > 1)
    }
}
