//! Admin snapshots: the whole document in one envelope, so a new device starts from it instead
//! of replaying every change.
//!
//! A snapshot is an ordinary envelope of an admin's (or the owner's) device whose payload is a
//! Loro snapshot, so every replica judges it by the same rules as any change: it is valid only
//! if its author may write snapshots at the membership heads it cites (policy: admin), and it is
//! withdrawn, like any change, if a concurrent removal voids its author. Replicas that already
//! hold the changes it contains apply it as a no-op; a replica that starts from it applies the
//! changes after it on top.
//!
//! Loro peer ids are bound to devices by the envelope that carries their first change (see
//! [`super::claims`]). A device starting from a snapshot never sees those envelopes, so the
//! snapshot carries the bindings its author had made, and the author's signature vouches for
//! them: a peer is *attested* to a device by an applied snapshot. An attestation only answers
//! for peers whose first change nobody has claimed; a claim always wins over it.
//!
//! Payload: `WFTSNAP1` ‖ count (u32 BE) ‖ count × (peer u64 BE ‖ device, 33 bytes) ‖ Loro
//! snapshot. A bare Loro snapshot (no bindings) is read as a snapshot attesting nothing.

use std::collections::BTreeMap;

use loro::ExportMode;
use time::OffsetDateTime;

use super::claims::PeerOwner;
use super::judge::{Blob, Status};
use super::replica::{unix, LocalError, Replica};
use crate::crypto::Envelope;
use crate::identity::DeviceId;

const MAGIC: &[u8; 8] = b"WFTSNAP1";
const DEVICE_LEN: usize = 33;
/// More bindings than this in one snapshot is not a snapshot weft wrote.
const MAX_BINDINGS: usize = 1 << 20;

/// The payload of a snapshot: the bindings, then the Loro snapshot.
pub(crate) fn wrap(bindings: &[(u64, DeviceId)], loro: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + bindings.len() * (8 + DEVICE_LEN) + loro.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(bindings.len() as u32).to_be_bytes());
    for (peer, device) in bindings {
        out.extend_from_slice(&peer.to_be_bytes());
        out.extend_from_slice(device.as_bytes());
    }
    out.extend_from_slice(loro);
    out
}

/// Reads a snapshot payload: `None` if it is not one (no magic), an error if it is a damaged
/// one, otherwise the bindings and the Loro snapshot.
#[allow(clippy::type_complexity)]
pub(crate) fn unwrap(payload: &[u8]) -> Option<Result<(Vec<(u64, DeviceId)>, &[u8]), String>> {
    let rest = payload.strip_prefix(MAGIC.as_slice())?;
    Some(read_bindings(rest))
}

#[allow(clippy::type_complexity)]
fn read_bindings(rest: &[u8]) -> Result<(Vec<(u64, DeviceId)>, &[u8]), String> {
    let (count, mut rest) = rest
        .split_first_chunk::<4>()
        .map(|(c, r)| (u32::from_be_bytes(*c) as usize, r))
        .ok_or("a truncated snapshot")?;
    if count > MAX_BINDINGS || count * (8 + DEVICE_LEN) > rest.len() {
        return Err(format!("a snapshot claiming {count} peer bindings"));
    }
    let mut bindings = Vec::with_capacity(count);
    for _ in 0..count {
        let (peer, tail) = rest
            .split_first_chunk::<8>()
            .ok_or("a truncated snapshot")?;
        let (device, tail) = tail
            .split_at_checked(DEVICE_LEN)
            .ok_or("a truncated snapshot")?;
        let device = DeviceId::from_sec1_bytes(device)
            .map_err(|e| format!("a snapshot binding names no device: {e}"))?;
        bindings.push((u64::from_be_bytes(*peer), device));
        rest = tail;
    }
    Ok((bindings, rest))
}

impl Replica {
    /// Seals the whole document, as this device holds it, into one snapshot envelope (after
    /// sealing any unsent local edits into the outbox). Only an admin or the owner may: others
    /// get [`LocalError::NotAllowed`] and nothing is kept.
    pub fn seal_snapshot(&mut self, now: OffsetDateTime) -> Result<Envelope, LocalError> {
        let now = unix(now);
        self.seal_unsent(now);
        let doc = self.ws.loro();
        let loro = doc
            .export(ExportMode::Snapshot)
            .map_err(|e| LocalError::Export(e.to_string()))?;
        let mut bindings = Vec::new();
        for peer in doc.oplog_vv().keys() {
            if let PeerOwner::Device(device) = self.claims.owner(*peer) {
                bindings.push((*peer, device));
            }
        }
        bindings.sort_by_key(|(p, _)| *p);
        let mut blob = Blob::read(&loro).map_err(|e| LocalError::Export(e.to_string()))?;
        blob.attested = bindings.clone();
        let env = self.seal_payload(now, wrap(&bindings, &loro), blob, Vec::new());
        self.transitions.clear();
        env
    }

    /// For each device, the highest sequence number up to which an envelope it signed with
    /// each number is applied here: what a snapshot sealed now contains for sure. (A refused
    /// twin at a number whose other envelope is applied does not stop it: a sequence number
    /// only indexes the transport, see [`super::claims`].)
    pub fn applied_through(&self) -> BTreeMap<DeviceId, u64> {
        let mut seqs: BTreeMap<DeviceId, Vec<(u64, bool)>> = BTreeMap::new();
        for h in self.held.values() {
            let header = h.env.header();
            seqs.entry(header.device)
                .or_default()
                .push((header.seq, h.status == Status::Applied));
        }
        let mut out = BTreeMap::new();
        for (device, mut list) in seqs {
            // Applied ones first among envelopes with one number.
            list.sort_unstable_by_key(|(seq, applied)| (*seq, !*applied));
            let mut through = 0;
            for (seq, applied) in list {
                if seq == through + 1 && applied {
                    through = seq;
                } else if seq > through {
                    break;
                }
            }
            if through > 0 {
                out.insert(device, through);
            }
        }
        out
    }

    /// Whether the envelope with this id is held and applied.
    pub fn is_applied(&self, id: &crate::crypto::EnvelopeId) -> bool {
        self.held
            .get(id)
            .is_some_and(|h| h.status == Status::Applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::DeviceKey;

    #[test]
    fn bindings_round_trip_and_every_truncation_is_an_error_not_a_panic() {
        let a = DeviceKey::generate().id();
        let b = DeviceKey::generate().id();
        let bindings = vec![(7u64, a), (u64::MAX, b)];
        let payload = wrap(&bindings, b"loro bytes");
        let Some(Ok((read, loro))) = unwrap(&payload) else {
            panic!("reads back")
        };
        assert_eq!((read, loro), (bindings.clone(), &b"loro bytes"[..]));
        assert!(unwrap(b"not a snapshot").is_none());
        let header = MAGIC.len() + 4 + 2 * (8 + DEVICE_LEN);
        for cut in MAGIC.len()..header {
            assert!(
                matches!(unwrap(&payload[..cut]), Some(Err(_))),
                "cut at {cut}"
            );
        }
        // A count far beyond the bytes that follow is refused before anything is allocated.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(unwrap(&huge), Some(Err(_))));
        // A binding naming no valid device key.
        let mut bad = wrap(&bindings, b"x");
        bad[MAGIC.len() + 4 + 8] = 0x09;
        assert!(matches!(unwrap(&bad), Some(Err(_))));
    }
}
