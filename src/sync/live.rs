//! Live sync through a relay room: the room protocol and the worker that speaks it.
//!
//! Frames (binary, versioned): `Hello{device, seqs}` when a peer (re)connects, `Want{seqs}` to ask
//! again, `Envelope{bytes}` and `AclOp{bytes}` carrying changes, `Presence{bytes}` for who is where.
//! `seqs` says, for each device, the highest sequence number the sender holds without a gap; any
//! peer that holds more answers with it — duplicates are harmless, the engine drops them. Every
//! envelope and op that arrives goes through the same store and engine as the bucket's, so the
//! relay is trusted with nothing.

use std::collections::{BTreeMap, HashMap};

use crate::crypto::Envelope;
use crate::identity::DeviceId;
use crate::store::{Replica, SharedTable, StoreError};

const MAGIC: &[u8; 4] = b"WFTR";
const VERSION: u8 = 1;
/// Most devices listed in a Hello or Want.
pub const MAX_DEVICES: usize = 4096;
/// Largest frame a peer sends (the relay enforces its own limit too).
pub const MAX_FRAME: usize = 1 << 20;

/// One message in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// I am here, and this is what I hold.
    Hello {
        device: DeviceId,
        seqs: BTreeMap<DeviceId, u64>,
    },
    /// Send me what I lack.
    Want { seqs: BTreeMap<DeviceId, u64> },
    /// A signed change.
    Envelope(Vec<u8>),
    /// A signed membership op.
    AclOp(Vec<u8>),
    /// Who is where (opaque to the room).
    Presence(Vec<u8>),
}

impl Frame {
    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        let seqs_into = |out: &mut Vec<u8>, seqs: &BTreeMap<DeviceId, u64>| {
            out.extend_from_slice(&(seqs.len().min(MAX_DEVICES) as u32).to_be_bytes());
            for (d, s) in seqs.iter().take(MAX_DEVICES) {
                out.extend_from_slice(d.as_bytes());
                out.extend_from_slice(&s.to_be_bytes());
            }
        };
        match self {
            Frame::Hello { device, seqs } => {
                out.push(1);
                out.extend_from_slice(device.as_bytes());
                seqs_into(&mut out, seqs);
            }
            Frame::Want { seqs } => {
                out.push(2);
                seqs_into(&mut out, seqs);
            }
            Frame::Envelope(b) => {
                out.push(3);
                out.extend_from_slice(b);
            }
            Frame::AclOp(b) => {
                out.push(4);
                out.extend_from_slice(b);
            }
            Frame::Presence(b) => {
                out.push(5);
                out.extend_from_slice(b);
            }
        }
        out
    }

    /// Reads a frame; never panics on bad input.
    pub fn decode(bytes: &[u8]) -> Result<Frame, String> {
        if bytes.len() > MAX_FRAME {
            return Err(format!("a frame of {} bytes is over the limit", bytes.len()));
        }
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or("not a weft room frame")?;
        let (&version, rest) = rest.split_first().ok_or("truncated frame")?;
        if version != VERSION {
            return Err(format!("room frame version {version}; this weft speaks {VERSION}"));
        }
        let (&kind, body) = rest.split_first().ok_or("truncated frame")?;
        let device_at = |b: &[u8]| -> Result<DeviceId, String> {
            let raw: &[u8; 33] = b
                .get(..33)
                .and_then(|s| s.try_into().ok())
                .ok_or("truncated device id")?;
            DeviceId::from_sec1_bytes(raw).map_err(|e| format!("bad device id: {e}"))
        };
        let seqs_from = |b: &[u8]| -> Result<BTreeMap<DeviceId, u64>, String> {
            let (n, mut rest) = b
                .split_first_chunk::<4>()
                .map(|(h, t)| (u32::from_be_bytes(*h) as usize, t))
                .ok_or("truncated frame")?;
            if n > MAX_DEVICES || rest.len() != n * 41 {
                return Err("malformed sequence list".into());
            }
            let mut seqs = BTreeMap::new();
            for _ in 0..n {
                let d = device_at(rest)?;
                let s = rest
                    .get(33..41)
                    .and_then(|s| <[u8; 8]>::try_from(s).ok())
                    .map(u64::from_be_bytes)
                    .ok_or("truncated sequence number")?;
                seqs.insert(d, s);
                rest = &rest[41..];
            }
            Ok(seqs)
        };
        match kind {
            1 => Ok(Frame::Hello {
                device: device_at(body)?,
                seqs: seqs_from(&body[33..])?,
            }),
            2 => Ok(Frame::Want {
                seqs: seqs_from(body)?,
            }),
            3 => Ok(Frame::Envelope(body.to_vec())),
            4 => Ok(Frame::AclOp(body.to_vec())),
            5 => Ok(Frame::Presence(body.to_vec())),
            k => Err(format!("unknown room frame kind {k}")),
        }
    }
}

/// Which envelopes this device holds, by author and sequence number, to answer Hello and Want.
#[derive(Debug, Default)]
pub struct Holdings {
    /// (device, seq) → row in the store.
    rows: BTreeMap<(DeviceId, u64), i64>,
    last_row: i64,
}

impl Holdings {
    /// Index the envelopes the store holds after the last look.
    pub fn update(&mut self, replica: &Replica) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let new = replica.inputs(SharedTable::Envelopes, self.last_row)?;
        for (row, bytes) in &new {
            self.last_row = self.last_row.max(*row);
            if let Ok(env) = Envelope::decode(bytes) {
                let h = env.header();
                self.rows.entry((h.device, h.seq)).or_insert(*row);
            }
        }
        Ok(new)
    }

    /// For each device, the highest seq held without a gap from 1.
    pub fn seqs(&self) -> BTreeMap<DeviceId, u64> {
        let mut out: BTreeMap<DeviceId, u64> = BTreeMap::new();
        for (device, seq) in self.rows.keys() {
            let next = out.get(device).copied().unwrap_or(0) + 1;
            if *seq == next {
                out.insert(*device, *seq);
            }
        }
        out
    }

    /// Rows of the envelopes a peer holding `theirs` lacks, in order.
    pub fn missing_for(&self, theirs: &BTreeMap<DeviceId, u64>) -> Vec<i64> {
        let have: HashMap<&DeviceId, u64> = theirs.iter().map(|(d, s)| (d, *s)).collect();
        self.rows
            .iter()
            .filter(|((d, s), _)| *s > have.get(d).copied().unwrap_or(0))
            .map(|(_, row)| *row)
            .collect()
    }
}
