//! Live sync through a relay room: the room protocol and the worker that speaks it.
//!
//! Frames (binary, versioned): `Hello{device, ops, seqs}` when a peer (re)connects, `Want{device,
//! ops, seqs}` to ask again, `Envelope{bytes}` and `AclOp{bytes}` carrying changes,
//! `Presence{bytes}` (signed, sealed under the current epoch key) for who is where, and `Part`s of
//! a frame too large to send whole. `seqs` says, for each device, the highest sequence number the
//! sender holds without a gap, `ops` what membership log it holds; any peer that holds more answers
//! — paced under the relay's limits, a bounded amount per ask; the asker asks again for the rest.
//! Every envelope and op that arrives goes through the same store and engine as the bucket's, so
//! the relay is trusted with nothing; frames that do not open are counted and sampled, not kept.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use sha2::{Digest, Sha256};

use crate::crypto::{Envelope, EpochKey, WorkspaceId};
use crate::identity::{DeviceId, DeviceKey};
use crate::store::{Replica, SharedTable, StoreError};

const MAGIC: &[u8; 4] = b"WFTR";
/// The first room format: `Hello`, `Want`, `Envelope`, `AclOp`, unsigned `Presence`. Envelopes
/// and ops are still sent in it (their layout did not change), so an older weft in the room
/// still receives changes live.
const VERSION_1: u8 = 1;
/// This format: `Hello` and `Want` name the asker and what membership it holds, large frames
/// travel in parts, presence is signed. An older weft refuses these frames ("room frame version
/// 2; this weft speaks 1").
const VERSION: u8 = 2;
/// Most devices listed in a Hello or Want.
pub const MAX_DEVICES: usize = 4096;
/// Largest frame a peer sends in one piece (the relay's default limit; it enforces its own).
pub const MAX_FRAME: usize = 1 << 20;
/// Largest frame once its parts are put together: the largest input a store keeps, and room
/// for the frame's own header.
pub const MAX_MESSAGE: usize = (16 << 20) + 4096;
/// Bytes of a frame carried by one part.
pub const PART_BYTES: usize = 512 << 10;
/// Most parts one frame is split into.
pub const MAX_PARTS: u16 = 64;
/// What sealing adds to a frame (marker, nonce, tag).
const SEAL_OVERHEAD: usize = 4 + 24 + 16;

/// What a peer's membership log holds: how many ops, and a digest of their ids. A peer whose
/// log matches is not sent the ops again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpsHeld {
    pub count: u64,
    pub digest: [u8; 32],
}

impl OpsHeld {
    /// What `engine`'s log holds.
    pub fn of(engine: &crate::acl::Replica) -> Self {
        let mut ids: Vec<[u8; 32]> = engine.log().ops().map(|o| *o.id().as_bytes()).collect();
        ids.sort_unstable();
        let mut h = Sha256::new();
        for id in &ids {
            h.update(id);
        }
        OpsHeld {
            count: ids.len() as u64,
            digest: h.finalize().into(),
        }
    }
}

/// This device's [`OpsHeld`], worked out again only when its membership log grew (the log only
/// ever gains ops): every Hello and Want, a stranger's included, is compared with it.
#[derive(Default)]
struct MyOps {
    len: Option<usize>,
    held: Option<OpsHeld>,
}

impl MyOps {
    fn of(&mut self, replica: &Replica) -> Option<OpsHeld> {
        let engine = replica.engine()?;
        let len = engine.log().len();
        if self.len != Some(len) {
            self.len = Some(len);
            self.held = Some(OpsHeld::of(engine));
        }
        self.held
    }
}

/// One message in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// I am here, and this is what I hold (`ops` is `None` from an older weft).
    Hello {
        device: DeviceId,
        seqs: BTreeMap<DeviceId, u64>,
        ops: Option<OpsHeld>,
    },
    /// Send me what I lack (`device` and `ops` are `None` from an older weft).
    Want {
        device: Option<DeviceId>,
        seqs: BTreeMap<DeviceId, u64>,
        ops: Option<OpsHeld>,
    },
    /// A signed change.
    Envelope(Vec<u8>),
    /// A signed membership op.
    AclOp(Vec<u8>),
    /// Who is where: signed by the device, sealed under the current epoch key.
    Presence(Vec<u8>),
    /// Presence from an older weft (unsigned): ignored.
    UnsignedPresence(Vec<u8>),
    /// One part of a frame too large to send whole.
    Part {
        id: [u8; 16],
        index: u16,
        total: u16,
        bytes: Vec<u8>,
    },
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A later format: kept out of the way, never misjudged.
    #[error("written by a newer weft (room frame version {0}; this weft speaks up to {VERSION}): upgrade weft")]
    Newer(u8),
    /// Not a frame of this workspace, or damaged.
    #[error("{0}")]
    Bad(String),
}

impl From<&str> for FrameError {
    fn from(s: &str) -> Self {
        FrameError::Bad(s.to_string())
    }
}

impl From<String> for FrameError {
    fn from(s: String) -> Self {
        FrameError::Bad(s)
    }
}

impl Frame {
    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(MAGIC);
        let seqs_into = |out: &mut Vec<u8>, seqs: &BTreeMap<DeviceId, u64>| {
            out.extend_from_slice(&(seqs.len().min(MAX_DEVICES) as u32).to_be_bytes());
            for (d, s) in seqs.iter().take(MAX_DEVICES) {
                out.extend_from_slice(d.as_bytes());
                out.extend_from_slice(&s.to_be_bytes());
            }
        };
        let ops_into = |out: &mut Vec<u8>, ops: &Option<OpsHeld>| {
            let ops = ops.unwrap_or(OpsHeld {
                count: u64::MAX,
                digest: [0; 32],
            });
            out.extend_from_slice(&ops.count.to_be_bytes());
            out.extend_from_slice(&ops.digest);
        };
        match self {
            Frame::Hello { device, seqs, ops } => {
                out.extend_from_slice(&[VERSION, 1]);
                out.extend_from_slice(device.as_bytes());
                ops_into(&mut out, ops);
                seqs_into(&mut out, seqs);
            }
            Frame::Want { device, seqs, ops } => {
                out.extend_from_slice(&[VERSION, 2]);
                out.push(u8::from(device.is_some()));
                if let Some(d) = device {
                    out.extend_from_slice(d.as_bytes());
                }
                ops_into(&mut out, ops);
                seqs_into(&mut out, seqs);
            }
            Frame::Envelope(b) => {
                out.extend_from_slice(&[VERSION_1, 3]);
                out.extend_from_slice(b);
            }
            Frame::AclOp(b) => {
                out.extend_from_slice(&[VERSION_1, 4]);
                out.extend_from_slice(b);
            }
            Frame::UnsignedPresence(b) => {
                out.extend_from_slice(&[VERSION_1, 5]);
                out.extend_from_slice(b);
            }
            Frame::Part {
                id,
                index,
                total,
                bytes,
            } => {
                out.extend_from_slice(&[VERSION, 6]);
                out.extend_from_slice(id);
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(&total.to_be_bytes());
                out.extend_from_slice(bytes);
            }
            Frame::Presence(b) => {
                out.extend_from_slice(&[VERSION, 7]);
                out.extend_from_slice(b);
            }
        }
        out
    }

    /// Reads a frame; never panics on bad input.
    pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        if bytes.len() > MAX_MESSAGE {
            return Err(format!("a frame of {} bytes is over the limit", bytes.len()).into());
        }
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or("not a weft room frame")?;
        let (&version, rest) = rest.split_first().ok_or("truncated frame")?;
        if version > VERSION {
            return Err(FrameError::Newer(version));
        }
        if version == 0 {
            return Err("room frame version 0 does not exist".into());
        }
        let (&kind, body) = rest.split_first().ok_or("truncated frame")?;
        let device_at = |b: &[u8]| -> Result<DeviceId, FrameError> {
            let raw: &[u8; 33] = b
                .get(..33)
                .and_then(|s| s.try_into().ok())
                .ok_or("truncated device id")?;
            DeviceId::from_sec1_bytes(raw).map_err(|e| format!("bad device id: {e}").into())
        };
        let seqs_from = |b: &[u8]| -> Result<BTreeMap<DeviceId, u64>, FrameError> {
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
        let ops_from = |b: &[u8]| -> Result<(Option<OpsHeld>, usize), FrameError> {
            let count = b
                .get(..8)
                .and_then(|s| <[u8; 8]>::try_from(s).ok())
                .map(u64::from_be_bytes)
                .ok_or("truncated membership digest")?;
            let digest: [u8; 32] = b
                .get(8..40)
                .and_then(|s| s.try_into().ok())
                .ok_or("truncated membership digest")?;
            let ops = (count != u64::MAX).then_some(OpsHeld { count, digest });
            Ok((ops, 40))
        };
        match (version, kind) {
            (VERSION_1, 1) => Ok(Frame::Hello {
                device: device_at(body)?,
                seqs: seqs_from(&body[33..])?,
                ops: None,
            }),
            (VERSION_1, 2) => Ok(Frame::Want {
                device: None,
                seqs: seqs_from(body)?,
                ops: None,
            }),
            (VERSION_1, 5) => Ok(Frame::UnsignedPresence(body.to_vec())),
            (_, 3) => Ok(Frame::Envelope(body.to_vec())),
            (_, 4) => Ok(Frame::AclOp(body.to_vec())),
            (VERSION, 1) => {
                let device = device_at(body)?;
                let (ops, n) = ops_from(&body[33..])?;
                Ok(Frame::Hello {
                    device,
                    seqs: seqs_from(&body[33 + n..])?,
                    ops,
                })
            }
            (VERSION, 2) => {
                let (&named, rest) = body.split_first().ok_or("truncated frame")?;
                let (device, rest) = match named {
                    0 => (None, rest),
                    1 => (Some(device_at(rest)?), &rest[33..]),
                    _ => return Err("malformed want".into()),
                };
                let (ops, n) = ops_from(rest)?;
                Ok(Frame::Want {
                    device,
                    seqs: seqs_from(&rest[n..])?,
                    ops,
                })
            }
            (VERSION, 6) => {
                let id: [u8; 16] = body
                    .get(..16)
                    .and_then(|s| s.try_into().ok())
                    .ok_or("truncated part")?;
                let num = |at: usize| {
                    body.get(at..at + 2)
                        .and_then(|s| <[u8; 2]>::try_from(s).ok())
                        .map(u16::from_be_bytes)
                        .ok_or("truncated part")
                };
                let (index, total) = (num(16)?, num(18)?);
                if total == 0 || total > MAX_PARTS || index >= total {
                    return Err(format!("part {index} of {total} is not a valid part").into());
                }
                Ok(Frame::Part {
                    id,
                    index,
                    total,
                    bytes: body[20..].to_vec(),
                })
            }
            (VERSION, 7) => Ok(Frame::Presence(body.to_vec())),
            (v, k) => Err(format!("unknown room frame kind {k} (version {v})").into()),
        }
    }
}

/// Frames put back together from their parts, bounded: a few at a time, so many bytes in all,
/// for so long; a sender that never finishes only wastes its own slot.
#[derive(Debug, Default)]
pub struct Reassembly {
    partial: HashMap<[u8; 16], Partial>,
    bytes: usize,
}

#[derive(Debug)]
struct Partial {
    total: u16,
    parts: BTreeMap<u16, Vec<u8>>,
    size: usize,
    started: std::time::Instant,
}

/// Frames being put together at once.
const MAX_PARTIAL: usize = 8;
/// Bytes held for frames being put together.
const MAX_PARTIAL_BYTES: usize = 48 << 20;
/// How long a frame's parts wait for the rest.
const PARTIAL_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl Reassembly {
    /// Take a part; returns the whole frame's bytes once every part is here.
    pub fn add(
        &mut self,
        id: [u8; 16],
        index: u16,
        total: u16,
        bytes: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, String> {
        let now = std::time::Instant::now();
        let expired: Vec<[u8; 16]> = self
            .partial
            .iter()
            .filter(|(_, p)| now.duration_since(p.started) > PARTIAL_TTL)
            .map(|(id, _)| *id)
            .collect();
        for old in expired {
            self.remove(&old);
        }
        if bytes.len() > PART_BYTES {
            return Err(format!("a part of {} bytes is over the limit", bytes.len()));
        }
        if !self.partial.contains_key(&id) {
            while self.partial.len() >= MAX_PARTIAL || self.bytes + bytes.len() > MAX_PARTIAL_BYTES
            {
                let Some(oldest) = self
                    .partial
                    .iter()
                    .min_by_key(|(_, p)| p.started)
                    .map(|(id, _)| *id)
                else {
                    break;
                };
                self.remove(&oldest);
            }
            self.partial.insert(
                id,
                Partial {
                    total,
                    parts: BTreeMap::new(),
                    size: 0,
                    started: now,
                },
            );
        }
        let Some(p) = self.partial.get_mut(&id) else {
            return Ok(None);
        };
        if p.total != total {
            self.remove(&id);
            return Err("parts of one frame disagree on how many there are".into());
        }
        if p.parts.contains_key(&index) {
            return Ok(None);
        }
        if p.size + bytes.len() > MAX_MESSAGE || self.bytes + bytes.len() > MAX_PARTIAL_BYTES {
            self.remove(&id);
            return Err("a frame in parts is over the limit".into());
        }
        p.size += bytes.len();
        self.bytes += bytes.len();
        p.parts.insert(index, bytes);
        if p.parts.len() < usize::from(p.total) {
            return Ok(None);
        }
        let done = self.partial.remove(&id).map(|p| {
            self.bytes -= p.size;
            p.parts.into_values().flatten().collect()
        });
        Ok(done)
    }

    /// Bytes held for frames not yet whole.
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    fn remove(&mut self, id: &[u8; 16]) {
        if let Some(p) = self.partial.remove(id) {
            self.bytes -= p.size;
        }
    }
}

/// Which envelopes this device holds, by author and sequence number, to answer Hello and Want.
#[derive(Debug, Default)]
pub struct Holdings {
    /// (device, seq) → row in the store.
    rows: BTreeMap<(DeviceId, u64), i64>,
    last_row: i64,
    /// What the snapshot this device started from holds: envelopes up to these seqs count as
    /// held (so peers do not send them again), though there are no rows for them.
    floor: BTreeMap<DeviceId, u64>,
}

impl Holdings {
    /// Everything the store holds, the snapshot it started from included.
    pub fn load(replica: &Replica) -> Result<Self, StoreError> {
        let mut held = Self::default();
        let covers: BTreeMap<String, u64> = replica
            .sync_value("snapshot.covers")?
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default();
        for (device, seq) in covers {
            if let Some(device) = hex::decode(device)
                .ok()
                .and_then(|b| DeviceId::from_sec1_bytes(&b).ok())
            {
                held.floor.insert(device, seq);
            }
        }
        held.update(replica)?;
        Ok(held)
    }

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
        let mut out = self.floor.clone();
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

/// Seals frames for the room and opens them (see [`super::seal`]): the relay sees ciphertext.
#[derive(Clone, Debug)]
pub struct Sealer {
    pub key: super::seal::CarrierKey,
    pub id: crate::crypto::WorkspaceId,
}

impl Sealer {
    /// A frame's bytes as sent (whole, whatever its size: see [`pieces`](Self::pieces)).
    pub fn seal(&self, frame: &Frame) -> Vec<u8> {
        self.key.seal(&self.id, b"frame", &frame.encode())
    }

    /// A frame as sent: whole when it fits the relay's frame limit, otherwise in parts of
    /// [`PART_BYTES`] that the receiver puts together. Empty for a frame too large to send at
    /// all (larger than any input a store keeps).
    pub fn pieces(&self, frame: &Frame) -> Vec<Vec<u8>> {
        let bytes = frame.encode();
        if bytes.len() + SEAL_OVERHEAD <= MAX_FRAME {
            return vec![self.key.seal(&self.id, b"frame", &bytes)];
        }
        let total = bytes.len().div_ceil(PART_BYTES);
        let Ok(total) = u16::try_from(total) else {
            return Vec::new();
        };
        if total > MAX_PARTS {
            return Vec::new();
        }
        let mut id = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        bytes
            .chunks(PART_BYTES)
            .enumerate()
            .map(|(index, chunk)| {
                self.seal(&Frame::Part {
                    id,
                    index: index as u16,
                    total,
                    bytes: chunk.to_vec(),
                })
            })
            .collect()
    }

    /// A received frame.
    pub fn open(&self, bytes: &[u8]) -> Result<Frame, FrameError> {
        Frame::decode(&self.key.open(&self.id, b"frame", bytes)?)
    }
}

/// What starts a [`LiveWorker`], given what to call when something arrives.
pub type LiveStarter = Box<dyn FnOnce(Box<dyn Fn() + Send>) -> LiveWorker>;

/// Where the live connection stands, for the status bar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveStatus {
    /// Connected to the room.
    pub online: bool,
    /// Why not, and when the next attempt is.
    pub offline: Option<String>,
    /// The worker stopped for good (could not open the workspace, bad relay URL).
    pub stopped: Option<String>,
    /// Changes received live.
    pub received: u64,
    /// Frames from the room that were refused (unreadable, not this workspace's, damaged):
    /// counted, a few kept as samples in the quarantine.
    pub refused: u64,
    /// Frames sent to the room.
    pub sent: u64,
    /// Times sending waited to stay under the relay's rates (answers are paced).
    pub paced: u64,
    /// Times the connection was lost (or refused) since the worker started.
    pub disconnects: u64,
    /// The last reason the connection was lost.
    pub last_disconnect: Option<String>,
    /// Presence frames ignored (unsigned, not from a current member's device, an old epoch).
    pub presence_ignored: u64,
    /// Why the last one was.
    pub last_presence_ignored: Option<String>,
    /// Times this device asked again because something was still missing (changes waiting
    /// for an op or envelope, or a peer that holds more).
    pub asked_again: u64,
    /// The relay it is connected to (`ws://host:port`), when online.
    pub relay: Option<String>,
    /// How many relays the setting names (the worker fails over between them); 0: none, live
    /// sync runs over the LAN only.
    pub relays: usize,
    /// The LAN lane, when it runs: who is linked directly.
    pub lan: Option<super::lan::LanStatus>,
}

/// How long a peer's presence lasts without being refreshed.
pub const PRESENCE_TTL: std::time::Duration = std::time::Duration::from_secs(30);
/// How often this device repeats where it is.
const PRESENCE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// Longest place description kept from a peer.
const MAX_VIEW: usize = 200;

/// Who else is here and what they have open (from their presence frames).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Their wallet address.
    pub address: String,
    /// Their device.
    pub device: String,
    /// What they have open ("doc: Plan", "board: Sprint"…).
    pub view: String,
    /// The item their caret is in, and the caret (an encoded Loro cursor), when editing text.
    pub caret: Option<(String, Vec<u8>)>,
    /// When they last said so.
    pub seen: std::time::Instant,
}

type Peers = std::sync::Arc<std::sync::Mutex<BTreeMap<String, Peer>>>;

#[derive(serde::Serialize, serde::Deserialize)]
struct PresenceBody {
    #[serde(rename = "a")]
    address: String,
    #[serde(rename = "d")]
    device: String,
    #[serde(rename = "v")]
    view: String,
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    item: Option<String>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    caret: Option<String>,
}

/// What this device says about itself: what it has open, and its caret there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Here {
    /// What is open ("doc: Plan").
    pub view: String,
    /// The item and caret (an encoded Loro cursor) when a text is open.
    pub caret: Option<(String, Vec<u8>)>,
}

/// A live connection to the workspace's relay room on its own thread, with its own connection to
/// the database. Dropping it disconnects.
pub struct LiveWorker {
    status: std::sync::Arc<std::sync::Mutex<LiveStatus>>,
    poke: tokio::sync::mpsc::UnboundedSender<Vec<Vec<u8>>>,
    view: tokio::sync::watch::Sender<Here>,
    peers: Peers,
}

impl LiveWorker {
    /// Connect to `relay` for the workspace `open` opens; `changed` is called (from the worker's
    /// thread) whenever something arrived, so the UI can look at once.
    pub fn spawn<F>(open: F, relay: String, changed: Box<dyn Fn() + Send>) -> LiveWorker
    where
        F: FnOnce() -> anyhow::Result<Replica> + Send + 'static,
    {
        Self::spawn_lanes(open, Some(relay), None, changed)
    }

    /// Like [`spawn`](Self::spawn), through the relay if there is one and directly with
    /// teammates on the LAN if `lan` is given (see [`super::lan`]).
    pub fn spawn_lanes<F>(
        open: F,
        relay: Option<String>,
        lan: Option<super::lan::LanOptions>,
        changed: Box<dyn Fn() + Send>,
    ) -> LiveWorker
    where
        F: FnOnce() -> anyhow::Result<Replica> + Send + 'static,
    {
        let status = std::sync::Arc::new(std::sync::Mutex::new(LiveStatus::default()));
        let (poke, pokes) = tokio::sync::mpsc::unbounded_channel();
        let (view, views) = tokio::sync::watch::channel(Here::default());
        let peers: Peers = Default::default();
        let shared_peers = peers.clone();
        let shared = status.clone();
        let spawned = std::thread::Builder::new()
            .name("weft-live".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        lock(&shared).stopped = Some(format!("cannot start: {e}"));
                        return;
                    }
                };
                let ends = Ends {
                    pokes,
                    views,
                    peers: shared_peers,
                };
                if let Err(e) = rt.block_on(run(open, relay, lan, ends, shared.clone(), changed)) {
                    tracing::warn!(error = %e, "live sync stopped");
                    lock(&shared).stopped = Some(format!("{e:#}"));
                }
            });
        if let Err(e) = spawned {
            lock(&status).stopped = Some(format!("cannot start live sync: {e}"));
        }
        LiveWorker {
            status,
            poke,
            view,
            peers,
        }
    }

    /// Say what this device has open now (sent to the room when it changes).
    pub fn set_view(&self, view: &str) {
        self.set_here(Here {
            view: view.to_string(),
            caret: None,
        });
    }

    /// Say what this device has open and where its caret is (sent when it changes).
    pub fn set_here(&self, here: Here) {
        if *self.view.borrow() != here {
            let _ = self.view.send(here);
        }
    }

    /// Who else is in the room and what they have open, freshest first; entries older than
    /// [`PRESENCE_TTL`] are gone.
    pub fn peers(&self) -> Vec<Peer> {
        let mut map = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, p| p.seen.elapsed() < PRESENCE_TTL);
        let mut out: Vec<Peer> = map.values().cloned().collect();
        out.sort_by_key(|p| std::cmp::Reverse(p.seen));
        out
    }

    /// Send what was written locally now (after a local write).
    pub fn poke(&self) {
        let _ = self.poke.send(Vec::new());
    }

    /// Send these envelopes, just sealed by this process ([`Replica::take_sealed`]), at once:
    /// the worker forwards them without reading them back from the database.
    pub fn send_now(&self, envelopes: Vec<Vec<u8>>) {
        let _ = self.poke.send(envelopes);
    }

    /// Where the connection stands.
    pub fn status(&self) -> LiveStatus {
        lock(&self.status).clone()
    }
}

fn lock(s: &std::sync::Mutex<LiveStatus>) -> std::sync::MutexGuard<'_, LiveStatus> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// How often local writes are looked for when nothing pokes (another process may have written).
const LOCAL_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// How long after forwarding a handed-over envelope the worker reads it back.
const CATCH_UP_AFTER: std::time::Duration = std::time::Duration::from_millis(3);

/// The pace this device keeps in a room, for everything it sends: half the relay's default
/// rates and bursts (see `RelayLimits::DEFAULT`), so that the relay's pings and a peer's
/// slower clock never push it over.
pub const PACE_FRAMES_PER_SECOND: f64 = 100.0;
/// Frames sent at once before the rate applies.
pub const PACE_FRAME_BURST: f64 = 200.0;
/// Bytes per second sent on average.
pub const PACE_BYTES_PER_SECOND: f64 = (2u64 << 20) as f64;
/// Bytes sent at once before the rate applies (more than the largest piece).
pub const PACE_BYTE_BURST: f64 = (4u64 << 20) as f64;
/// Most items (membership ops and envelopes) one Hello or Want is answered with; the asker asks
/// again for the rest.
pub const MAX_PER_WANT: usize = 1000;
/// Most items answered to one asker within [`ASK_WINDOW`].
pub const MAX_PER_ASKER: usize = 3000;
/// The window of [`MAX_PER_ASKER`].
pub const ASK_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);
/// Hellos and Wants answered per second, whoever asks (answering reads the store); more are
/// ignored, and their askers ask again.
pub const ASKS_PER_SECOND: f64 = 20.0;
/// An answer sent to the room is not sent again, whoever asks, for this long.
const RESEND_AFTER: std::time::Duration = std::time::Duration::from_secs(2);
/// Answers waiting to be sent, in all.
const MAX_QUEUED: usize = 8192;
/// Askers remembered within the window; more are not answered until it passes.
const MAX_ASKERS: usize = 1024;
/// This device's own frames waiting to be sent (beyond, the oldest are left to Hello and the
/// bucket, as while offline).
const MAX_URGENT: usize = 4096;
/// When an answer stopped arriving for this long, ask for the rest.
const ASK_AGAIN_AFTER: std::time::Duration = std::time::Duration::from_millis(700);
/// Stop asking again when nothing arrived for this long after asking.
const ASK_GIVE_UP: std::time::Duration = std::time::Duration::from_secs(3);
/// How often refused input is written down.
const REFUSED_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The worker's ends of its channels.
struct Ends {
    pokes: tokio::sync::mpsc::UnboundedReceiver<Vec<Vec<u8>>>,
    views: tokio::sync::watch::Receiver<Here>,
    peers: Peers,
}

/// A token bucket for what this device sends (the relay holds it to the same kind of limit).
#[derive(Debug)]
struct Pace {
    frames: f64,
    bytes: f64,
    last: std::time::Instant,
    /// Frames per second and burst, bytes per second and burst.
    rates: (f64, f64, f64, f64),
}

impl Pace {
    fn full() -> Self {
        Pace {
            frames: PACE_FRAME_BURST,
            bytes: PACE_BYTE_BURST,
            last: std::time::Instant::now(),
            rates: (
                PACE_FRAMES_PER_SECOND,
                PACE_FRAME_BURST,
                PACE_BYTES_PER_SECOND,
                PACE_BYTE_BURST,
            ),
        }
    }

    /// Asks answered: [`ASKS_PER_SECOND`], in a burst of twice that.
    fn asks() -> Self {
        Pace {
            frames: 2.0 * ASKS_PER_SECOND,
            bytes: f64::MAX,
            last: std::time::Instant::now(),
            rates: (ASKS_PER_SECOND, 2.0 * ASKS_PER_SECOND, f64::MAX, f64::MAX),
        }
    }

    /// Take one frame of `len` bytes; otherwise how long until it can be taken.
    fn take(&mut self, len: usize) -> Option<std::time::Duration> {
        let (per_second, burst, bytes_per_second, byte_burst) = self.rates;
        let now = std::time::Instant::now();
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.frames = (self.frames + dt * per_second).min(burst);
        self.bytes = (self.bytes + dt * bytes_per_second).min(byte_burst);
        let len = len as f64;
        if self.frames >= 1.0 && self.bytes >= len {
            self.frames -= 1.0;
            self.bytes -= len;
            return None;
        }
        let wait = ((1.0 - self.frames).max(0.0) / per_second)
            .max((len - self.bytes).max(0.0) / bytes_per_second);
        Some(std::time::Duration::from_secs_f64(wait).max(std::time::Duration::from_millis(1)))
    }
}

/// An answer waiting to be sent: a row, read when its turn comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Answer {
    Op(i64),
    Env(i64),
}

/// Everything this worker sends, paced: its own frames first, then answers to peers.
struct Out {
    sealer: Sealer,
    pace: Pace,
    /// Sealed pieces of the frame being sent.
    ready: VecDeque<Vec<u8>>,
    urgent: VecDeque<Frame>,
    answers: VecDeque<Answer>,
    queued: HashSet<Answer>,
    /// Answers sent to the room within [`RESEND_AFTER`], and when: everyone in the room got
    /// them, so another ask (a flood of Hellos from made-up devices) does not send them again.
    sent_lately: HashMap<Answer, std::time::Instant>,
    /// Per asker: when its window started and how many items it was answered with since.
    askers: HashMap<Option<DeviceId>, (std::time::Instant, usize)>,
    /// Asks answered, as a token bucket (frames stand for asks).
    asks: Pace,
    /// When sending can go on (waiting for the pace or the connection's queue).
    wake: Option<std::time::Instant>,
    sent: u64,
    paced: u64,
}

impl Out {
    fn new(sealer: Sealer) -> Self {
        Out {
            sealer,
            pace: Pace::full(),
            ready: VecDeque::new(),
            urgent: VecDeque::new(),
            answers: VecDeque::new(),
            queued: HashSet::new(),
            sent_lately: HashMap::new(),
            askers: HashMap::new(),
            asks: Pace::asks(),
            wake: None,
            sent: 0,
            paced: 0,
        }
    }

    /// A new connection: nothing queued for the last one is sent on it (peers ask again).
    fn reset(&mut self) {
        self.pace = Pace::full();
        self.ready.clear();
        self.urgent.clear();
        self.answers.clear();
        self.queued.clear();
        self.sent_lately.clear();
        self.wake = None;
    }

    /// Send one of this device's own frames (a change, a hello, presence) before any answer.
    fn urgent(&mut self, frame: Frame) {
        if self.urgent.len() >= MAX_URGENT {
            self.urgent.pop_front();
            tracing::warn!(
                "the room is not taking frames fast enough; peers will ask for the rest"
            );
        }
        self.urgent.push_back(frame);
    }

    /// Queue an answer to a Hello or Want from `asker`: the membership ops it lacks (all of
    /// those this device accepted, unless its log matches ours) and the envelopes it lacks,
    /// at most [`MAX_PER_WANT`] now and [`MAX_PER_ASKER`] per [`ASK_WINDOW`]. Returns how many.
    fn answer(
        &mut self,
        replica: &Replica,
        held: &mut Holdings,
        asker: Option<DeviceId>,
        seqs: &BTreeMap<DeviceId, u64>,
        ops: Option<OpsHeld>,
        mine: Option<OpsHeld>,
    ) -> Result<usize, StoreError> {
        let now = std::time::Instant::now();
        self.askers
            .retain(|_, (since, _)| now.duration_since(*since) < ASK_WINDOW);
        if !self.askers.contains_key(&asker) && self.askers.len() >= MAX_ASKERS {
            return Ok(0);
        }
        // Answering reads the store: at most so many asks a second, whoever asks.
        if self.asks.take(1).is_some() {
            return Ok(0);
        }
        let used = self.askers.entry(asker).or_insert((now, 0)).1;
        let mut budget = MAX_PER_WANT
            .min(MAX_PER_ASKER.saturating_sub(used))
            .min(MAX_QUEUED.saturating_sub(self.answers.len()));
        if budget == 0 {
            return Ok(0);
        }
        let mut added = 0;
        self.sent_lately
            .retain(|_, at| now.duration_since(*at) < RESEND_AFTER);
        let mut push = |out: &mut Self, a: Answer| {
            if budget > 0 && !out.sent_lately.contains_key(&a) && out.queued.insert(a) {
                out.answers.push_back(a);
                budget -= 1;
                added += 1;
            }
        };
        if ops.is_none() || ops != mine {
            for (row, _) in replica.inputs(SharedTable::AclOps, 0)? {
                push(self, Answer::Op(row));
            }
        }
        held.update(replica)?;
        for row in held.missing_for(seqs) {
            push(self, Answer::Env(row));
        }
        if let Some(entry) = self.askers.get_mut(&asker) {
            entry.1 += added;
        }
        Ok(added)
    }

    /// Send what the pace allows now; sets `wake` when more is waiting.
    fn drain(
        &mut self,
        replica: &Replica,
        tx: &tokio::sync::mpsc::Sender<Vec<u8>>,
    ) -> Result<(), StoreError> {
        self.wake = None;
        loop {
            if self.ready.is_empty() {
                let frame = if let Some(f) = self.urgent.pop_front() {
                    f
                } else if let Some(a) = self.answers.pop_front() {
                    self.queued.remove(&a);
                    self.sent_lately.insert(a, std::time::Instant::now());
                    match load_answer(replica, a)? {
                        Some(f) => f,
                        None => continue,
                    }
                } else {
                    return Ok(());
                };
                let pieces = self.sealer.pieces(&frame);
                if pieces.is_empty() {
                    tracing::warn!("a frame too large to send was left out");
                }
                self.ready.extend(pieces);
                continue;
            }
            if tx.capacity() == 0 {
                self.wake = Some(std::time::Instant::now() + std::time::Duration::from_millis(5));
                return Ok(());
            }
            let len = self.ready.front().map_or(0, Vec::len);
            if let Some(wait) = self.pace.take(len) {
                self.paced += 1;
                self.wake = Some(std::time::Instant::now() + wait);
                return Ok(());
            }
            let Some(piece) = self.ready.pop_front() else {
                continue;
            };
            match tx.try_send(piece) {
                Ok(()) => self.sent += 1,
                Err(tokio::sync::mpsc::error::TrySendError::Full(piece)) => {
                    self.ready.push_front(piece);
                    self.wake =
                        Some(std::time::Instant::now() + std::time::Duration::from_millis(5));
                    return Ok(());
                }
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                    self.ready.clear();
                    return Ok(());
                }
            }
        }
    }
}

/// An answer's frame, if it is still one to send: only membership ops the engine accepted into
/// its log and envelopes it applied or holds pending are passed on, never what it refused.
fn load_answer(replica: &Replica, a: Answer) -> Result<Option<Frame>, StoreError> {
    use crate::acl::Outcome;
    let Some(engine) = replica.engine() else {
        return Ok(None);
    };
    Ok(match a {
        Answer::Op(row) => replica
            .input_at(SharedTable::AclOps, row)?
            .filter(|b| crate::acl::AclOp::decode(b).is_ok_and(|o| engine.log().contains(&o.id())))
            .map(Frame::AclOp),
        Answer::Env(row) => replica
            .input_at(SharedTable::Envelopes, row)?
            .filter(|b| {
                Envelope::decode(b).is_ok_and(|e| {
                    matches!(
                        engine.envelope_outcome(&e.id()),
                        Some(Outcome::Applied | Outcome::Pending(_))
                    )
                })
            })
            .map(Frame::Envelope),
    })
}

/// Refused frames from the room, counted and sampled, written down once a second.
#[derive(Default)]
struct Refused {
    samples: Vec<(String, Vec<u8>)>,
    more: u64,
    written: Option<std::time::Instant>,
}

impl Refused {
    fn note(&mut self, why: String, bytes: &[u8]) {
        if self.samples.len() < crate::store::REFUSED_SAMPLES_PER_HOUR as usize {
            self.samples
                .push((why, bytes[..bytes.len().min(512)].to_vec()));
        } else {
            self.more += 1;
        }
    }

    fn write_if_due(&mut self, replica: &mut Replica) -> Result<(), StoreError> {
        if self.samples.is_empty() && self.more == 0 {
            return Ok(());
        }
        if self.written.is_some_and(|t| t.elapsed() < REFUSED_EVERY) {
            return Ok(());
        }
        replica.record_refused("relay", &self.samples, self.more)?;
        self.samples.clear();
        self.more = 0;
        self.written = Some(std::time::Instant::now());
        Ok(())
    }
}

/// Asking peers again for the rest of an answer.
struct Ask {
    asked: std::time::Instant,
    arrived: Option<std::time::Instant>,
}

/// Asking again while something is still missing: changes that wait for an op or envelope this
/// device lacks, or a peer that said it holds more. An answer may have been lost, left out of a
/// busy peer's budget, or sent before this device was listening; without asking again, a change
/// could wait until the next bucket pass. Asks back off while nothing new arrives.
struct Need {
    next: std::time::Instant,
    every: std::time::Duration,
    /// A peer's Hello or Want showed it holds what this device lacks.
    peer_has_more: bool,
}

/// First wait before asking again for something missing; doubles up to [`NEED_MAX`].
const NEED_MIN: std::time::Duration = std::time::Duration::from_secs(1);
/// Longest wait between asks for something still missing.
const NEED_MAX: std::time::Duration = std::time::Duration::from_secs(30);
/// How soon to ask after a peer showed it holds more.
const NEED_SOON: std::time::Duration = std::time::Duration::from_millis(200);

impl Need {
    fn new() -> Self {
        Need {
            next: std::time::Instant::now() + NEED_MIN,
            every: NEED_MIN,
            peer_has_more: false,
        }
    }

    /// Something new arrived: ask again soon if something is still missing.
    fn progress(&mut self) {
        self.every = NEED_MIN;
        self.next = self.next.min(std::time::Instant::now() + NEED_MIN);
    }

    /// A peer said what it holds (`seqs`, `ops`): note whether it holds what this device
    /// (`mine`, `my_ops`) lacks.
    fn compare(
        &mut self,
        mine: &BTreeMap<DeviceId, u64>,
        my_ops: Option<OpsHeld>,
        seqs: &BTreeMap<DeviceId, u64>,
        ops: Option<OpsHeld>,
    ) {
        let more_changes = seqs.iter().any(|(d, s)| mine.get(d).is_none_or(|m| s > m));
        let other_ops = ops.is_some() && ops != my_ops;
        if more_changes || other_ops {
            self.peer_has_more = true;
            self.next = self.next.min(std::time::Instant::now() + NEED_SOON);
        }
    }

    /// Whether to ask now (`waiting`: changes here wait for something); if so, when to look
    /// again.
    fn due(&mut self, now: std::time::Instant, waiting: impl FnOnce() -> bool) -> bool {
        if now < self.next {
            return false;
        }
        if !(waiting() || std::mem::take(&mut self.peer_has_more)) {
            self.every = NEED_MIN;
            self.next = now + NEED_MIN;
            return false;
        }
        self.next = now + self.every;
        self.every = (self.every * 2).min(NEED_MAX);
        true
    }
}

impl Ask {
    fn now() -> Option<Self> {
        Some(Ask {
            asked: std::time::Instant::now(),
            arrived: None,
        })
    }
}

async fn run<F>(
    open: F,
    relay: Option<String>,
    lan: Option<super::lan::LanOptions>,
    ends: Ends,
    status: std::sync::Arc<std::sync::Mutex<LiveStatus>>,
    changed: Box<dyn Fn() + Send>,
) -> anyhow::Result<()>
where
    F: FnOnce() -> anyhow::Result<Replica>,
{
    use super::room::{self, RoomEvent};
    let mut replica = open()?;
    let engine = replica
        .engine()
        .ok_or_else(|| anyhow::anyhow!("this workspace is not shared"))?;
    let me = engine.identity().device();
    let id = engine.workspace_id();
    let key = super::share::carrier_key(&replica)?;
    let room = key.room(&id);
    let sealer = Sealer { key, id };
    let mut lane = super::lan::Lane::start(&replica, lan).await;
    let mut conn = lane.room(relay.as_deref(), &room)?;
    let mut via_lan = false;
    {
        let lan_now = lane.refresh(&replica);
        let mut s = lock(&status);
        s.relays = relay.as_deref().map_or(0, |r| room::split_relays(r).len());
        s.lan = lan_now;
    }
    replica.defer_index(true);
    let mut held = Holdings::load(&replica)?;
    let mut mine = Outbound::after(&replica)?;
    let mut out = Out::new(sealer.clone());
    let mut parts = Reassembly::default();
    let mut refused = Refused::default();
    let mut ask: Option<Ask> = None;
    let mut need = Need::new();
    let mut last_hello_want: Option<std::time::Instant> = None;
    let Ends {
        mut pokes,
        mut views,
        peers,
    } = ends;
    let presence = |replica: &Replica, here: &Here| {
        let engine = replica.engine()?;
        let body = serde_json::to_vec(&PresenceBody {
            address: engine.identity().address().to_checksum(),
            device: me.to_string(),
            view: here.view.clone(),
            item: here.caret.as_ref().map(|(i, _)| i.clone()),
            caret: here.caret.as_ref().map(|(_, c)| hex::encode(c)),
        })
        .ok()?;
        let (epoch, key) = engine.current_key()?;
        seal_presence(&id, epoch, &key, engine.identity().key_ref(), &body).map(Frame::Presence)
    };
    let mut my_ops = MyOps::default();
    let hello = |ops: Option<OpsHeld>, held: &Holdings| Frame::Hello {
        device: me,
        seqs: held.seqs(),
        ops,
    };
    let want = |ops: Option<OpsHeld>, held: &Holdings| Frame::Want {
        device: Some(me),
        seqs: held.seqs(),
        ops,
    };
    let mut repeat = tokio::time::interval(PRESENCE_EVERY);
    let mut tick = tokio::time::interval(LOCAL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // After forwarding what the writing process handed over, this worker's own engine reads those
    // rows back a moment later, one keystroke at a time: not on the way out (it would delay the
    // send), and not 250 ms later in a batch (a keystroke arriving then would wait behind it).
    let mut catch_up: Option<tokio::time::Instant> = None;
    loop {
        out.drain(&replica, &conn.tx)?;
        {
            let mut s = lock(&status);
            s.sent = out.sent;
            s.paced = out.paced;
        }
        let catch_up_at = catch_up.unwrap_or_else(|| tokio::time::Instant::now() + LOCAL_EVERY);
        let wake = out.wake.map_or_else(
            || tokio::time::Instant::now() + LOCAL_EVERY,
            tokio::time::Instant::from_std,
        );
        tokio::select! {
            _ = tokio::time::sleep_until(wake), if out.wake.is_some() => {}
            _ = tokio::time::sleep_until(catch_up_at), if catch_up.is_some() => {
                catch_up = None;
                mine.send_local(&mut replica, &mut held, me, &mut out)?;
                index_quietly(&mut replica);
            }
            ev = lane.next_event(&mut conn.rx, &mut via_lan) => {
                let Some(ev) = ev else { return Ok(()) };
                match ev {
                    RoomEvent::Connected => {
                        // A teammate linked on the LAN: greet it; the relay's queue stays.
                        if !via_lan {
                            let mut s = lock(&status);
                            s.online = true;
                            s.offline = None;
                            s.relay = conn.relay.borrow().clone();
                            drop(s);
                            out.reset();
                        }
                        // The app redraws its status bar on this, not on a timer.
                        changed();
                        held.update(&replica)?;
                        out.urgent(hello(my_ops.of(&replica), &held));
                        if let Some(p) = presence(&replica, &views.borrow()) {
                            out.urgent(p);
                        }
                        ask = Ask::now();
                    }
                    RoomEvent::Disconnected { reason, retry_in } => {
                        out.reset();
                        let mut s = lock(&status);
                        s.online = false;
                        s.relay = None;
                        s.disconnects += 1;
                        s.last_disconnect = Some(reason.clone());
                        s.offline = Some(format!("{reason}; retrying in {:.1}s", retry_in.as_secs_f32()));
                        drop(s);
                        changed();
                    }
                    RoomEvent::Frame(bytes) => {
                        let frame = match sealer.open(&bytes) {
                            Ok(Frame::Part { id, index, total, bytes: part }) => {
                                match parts.add(id, index, total, part) {
                                    Ok(Some(whole)) => match Frame::decode(&whole) {
                                        Ok(Frame::Part { .. }) => Err(FrameError::Bad("a part inside a part".into())),
                                        other => other,
                                    },
                                    Ok(None) => continue,
                                    Err(e) => Err(FrameError::Bad(e)),
                                }
                            }
                            other => other,
                        };
                        let frame = match frame {
                            Ok(f) => f,
                            Err(why) => {
                                // Counted, a few kept as samples; never kept whole, never
                                // passed on. The connection stays.
                                tracing::debug!(%why, "refused a frame from the room");
                                refused.note(why.to_string(), &bytes);
                                lock(&status).refused += 1;
                                continue;
                            }
                        };
                        match frame {
                            Frame::Presence(sealed) => {
                                let opened = replica
                                    .engine()
                                    .map(|e| open_presence(e, &sealed))
                                    .unwrap_or_else(|| Err("this workspace is not shared".into()));
                                match opened.and_then(|(device, address, body)| {
                                    let p = serde_json::from_slice::<PresenceBody>(&body)
                                        .map_err(|e| format!("unreadable presence: {e}"))?;
                                    if p.device != device.to_string() {
                                        return Err("presence names another device than its signer".into());
                                    }
                                    Ok((address, p))
                                }) {
                                    Ok((address, p)) => {
                                        let mut view = p.view;
                                        view.truncate(view.char_indices().nth(MAX_VIEW).map_or(view.len(), |(i, _)| i));
                                        let caret = p
                                            .item
                                            .zip(p.caret.and_then(|c| hex::decode(c).ok()))
                                            .filter(|(i, c)| i.len() <= 64 && c.len() <= 256);
                                        peers.lock().unwrap_or_else(|e| e.into_inner()).insert(
                                            p.device.clone(),
                                            Peer { address: address.to_checksum(), device: p.device, view, caret, seen: std::time::Instant::now() },
                                        );
                                        changed();
                                    }
                                    Err(why) => {
                                        tracing::debug!(%why, "presence ignored");
                                        let mut s = lock(&status);
                                        s.presence_ignored += 1;
                                        s.last_presence_ignored = Some(why);
                                    }
                                }
                            }
                            Frame::UnsignedPresence(_) => {
                                let mut s = lock(&status);
                                s.presence_ignored += 1;
                                s.last_presence_ignored = Some("unsigned presence (from an older weft)".into());
                            }
                            Frame::Hello { device, seqs, ops } => {
                                // Answer, and ask back: a peer that was here before us holds what
                                // we lack, and its own hello may have gone out before we joined.
                                let mine = my_ops.of(&replica);
                                out.answer(&replica, &mut held, Some(device), &seqs, ops, mine)?;
                                need.compare(&held.seqs(), mine, &seqs, ops);
                                // At most one such ask per NEED_SOON: a flood of Hellos (anyone
                                // with the carrier key can send them) is not answered Want for
                                // Hello; asking more is left to `need`.
                                if last_hello_want.is_none_or(|t| t.elapsed() >= NEED_SOON) {
                                    last_hello_want = Some(std::time::Instant::now());
                                    out.urgent(want(mine, &held));
                                    ask = Ask::now();
                                }
                            }
                            Frame::Want { device, seqs, ops } => {
                                let mine = my_ops.of(&replica);
                                out.answer(&replica, &mut held, device, &seqs, ops, mine)?;
                                need.compare(&held.seqs(), mine, &seqs, ops);
                            }
                            Frame::Envelope(_) | Frame::AclOp(_) => {
                                if let Some(a) = ask.as_mut() {
                                    a.arrived = Some(std::time::Instant::now());
                                }
                                let arrived = on_change(&mut replica, &mut held, frame)?;
                                if arrived {
                                    need.progress();
                                    lock(&status).received += 1;
                                    changed();
                                }
                                // Indexed after the app was told, off the path of the change.
                                index_quietly(&mut replica);
                            }
                            Frame::Part { .. } => {}
                        }
                    }
                }
            }
            p = pokes.recv() => {
                let Some(mut envelopes) = p else { return Ok(()) };
                let mut look = envelopes.is_empty();
                while let Ok(more) = pokes.try_recv() {
                    look |= more.is_empty();
                    envelopes.extend(more);
                }
                // Handed over by the writing process: forward them as they are; the database
                // is read for them later only to skip them.
                for bytes in envelopes {
                    mine.direct.insert(Sha256::digest(&bytes).to_vec());
                    out.urgent(Frame::Envelope(bytes));
                }
                // Sent at once, ahead of the other arms.
                out.drain(&replica, &conn.tx)?;
                if look {
                    mine.send_local(&mut replica, &mut held, me, &mut out)?;
                } else {
                    catch_up.get_or_insert_with(|| tokio::time::Instant::now() + CATCH_UP_AFTER);
                }
            }
            r = views.changed() => {
                if r.is_err() { return Ok(()) }
                if let Some(p) = presence(&replica, &views.borrow_and_update()) {
                    out.urgent(p);
                }
            }
            _ = repeat.tick() => {
                if let Some(p) = presence(&replica, &views.borrow()) {
                    out.urgent(p);
                }
            }
            _ = tick.tick() => {
                mine.send_local(&mut replica, &mut held, me, &mut out)?;
                index_quietly(&mut replica);
                lock(&status).lan = lane.refresh(&replica);
                refused.write_if_due(&mut replica)?;
                if let Some(a) = &ask {
                    match a.arrived {
                        Some(t) if t.elapsed() >= ASK_AGAIN_AFTER => {
                            held.update(&replica)?;
                            out.urgent(want(my_ops.of(&replica), &held));
                            ask = Ask::now();
                        }
                        None if a.asked.elapsed() >= ASK_GIVE_UP => ask = None,
                        _ => {}
                    }
                }
                let waiting = || replica.engine().is_some_and(|e| e.waiting_count() > 0);
                if ask.is_none()
                    && lock(&status).online
                    && need.due(std::time::Instant::now(), waiting)
                {
                    held.update(&replica)?;
                    out.urgent(want(my_ops.of(&replica), &held));
                    ask = Ask::now();
                    lock(&status).asked_again += 1;
                }
            }
        }
    }
}

/// Bring the search index up to date; it can always be made again, so a failure (another process
/// holding the database longer than the busy timeout) is logged and live sync goes on.
fn index_quietly(replica: &mut Replica) {
    if let Err(e) = replica.index_now() {
        tracing::warn!(error = %e, "the search index could not be updated; it will be on the next try");
    }
}

/// What this worker has sent of the rows this device wrote.
struct Outbound {
    /// Envelopes forwarded as the writing process handed them over (by hash), to skip when
    /// their rows are read.
    direct: HashSet<Vec<u8>>,
    op_mark: i64,
    env_mark: i64,
}

impl Outbound {
    /// Sending starts after what the database holds now (peers ask for older rows with Hello).
    fn after(replica: &Replica) -> Result<Self, StoreError> {
        Ok(Self {
            direct: HashSet::new(),
            op_mark: replica.last_input(SharedTable::AclOps)?,
            env_mark: replica.last_input(SharedTable::Envelopes)?,
        })
    }

    /// Send this device's envelopes and ops written since the last look (by this process or
    /// another on the same home).
    fn send_local(
        &mut self,
        replica: &mut Replica,
        held: &mut Holdings,
        me: DeviceId,
        out: &mut Out,
    ) -> anyhow::Result<()> {
        // Send first: what this device wrote is already sealed and signed in the database, and
        // reading it back through the engine (below) is not needed to forward it. Only this
        // device's own ops: what arrived from elsewhere is passed on in answers, if accepted.
        for (row, bytes) in replica.local_inputs(SharedTable::AclOps, self.op_mark)? {
            self.op_mark = row;
            out.urgent(Frame::AclOp(bytes));
        }
        self.op_mark = self.op_mark.max(replica.last_input(SharedTable::AclOps)?);
        // Its own mark: rows indexed while answering peers must still be sent.
        for (row, bytes) in replica.inputs(SharedTable::Envelopes, self.env_mark)? {
            self.env_mark = row;
            if self.direct.remove(Sha256::digest(&bytes).as_slice()) {
                continue;
            }
            let mine = Envelope::decode(&bytes).is_ok_and(|e| e.header().device == me);
            if mine {
                out.urgent(Frame::Envelope(bytes));
            }
        }
        replica.refresh()?;
        held.update(replica)?;
        Ok(())
    }
}

/// Take a change or membership op from the room. Returns whether the document may have changed.
fn on_change(replica: &mut Replica, held: &mut Holdings, frame: Frame) -> anyhow::Result<bool> {
    use crate::acl::Outcome;
    match frame {
        Frame::Envelope(env) => {
            let receipt = replica.receive_envelope("relay", &env)?;
            held.update(replica)?;
            Ok(!matches!(receipt.outcome, Outcome::Duplicate))
        }
        Frame::AclOp(op) => {
            let known = crate::acl::AclOp::decode(&op)
                .ok()
                .zip(replica.engine())
                .is_some_and(|(o, e)| e.log().contains(&o.id()));
            if known {
                return Ok(false);
            }
            replica.receive_acl_op("relay", &op)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

const PRESENCE_AAD: &[u8] = b"weft/presence/v2";

fn presence_message(workspace: &WorkspaceId, epoch: u32, body: &[u8]) -> Vec<u8> {
    [
        PRESENCE_AAD,
        workspace.as_bytes(),
        &epoch.to_be_bytes(),
        body,
    ]
    .concat()
}

/// Presence as sent: signed by the device key, sealed under the epoch key `key` of `epoch`
/// (so a removed member, who keeps the carrier key, does not see where anyone is):
/// epoch ‖ nonce ‖ sealed(device ‖ signature ‖ body).
pub fn seal_presence(
    workspace: &WorkspaceId,
    epoch: u32,
    key: &EpochKey,
    device: &DeviceKey,
    body: &[u8],
) -> Option<Vec<u8>> {
    use k256::ecdsa::signature::Signer;
    let sig: k256::ecdsa::Signature = device
        .signing_key()
        .sign(&presence_message(workspace, epoch, body));
    let plain = [
        device.id().as_bytes().as_slice(),
        sig.to_bytes().as_slice(),
        body,
    ]
    .concat();
    let mut nonce = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let ct = key.seal_payload(workspace, epoch, &nonce, &plain, PRESENCE_AAD)?;
    Some([&epoch.to_be_bytes()[..], &nonce, &ct].concat())
}

/// A presence frame as a device would send it, sealed for the room of `engine`'s workspace: what
/// it has open (`view`), signed by `device` for `address`, under the current epoch key, or under
/// a key of `epoch` that `engine` holds.
pub fn presence_frame(
    engine: &crate::acl::Replica,
    sealer: &Sealer,
    epoch: Option<u32>,
    device: &DeviceKey,
    address: &str,
    view: &str,
) -> Option<Vec<u8>> {
    let (epoch, key) = match epoch {
        None => engine.current_key()?,
        Some(e) => engine.epoch_keys().into_iter().find(|(k, _)| *k == e)?,
    };
    let key = &key;
    let body = serde_json::to_vec(&PresenceBody {
        address: address.to_string(),
        device: device.id().to_string(),
        view: view.to_string(),
        item: None,
        caret: None,
    })
    .ok()?;
    let sealed = seal_presence(&sealer.id, epoch, key, device, &body)?;
    Some(sealer.seal(&Frame::Presence(sealed)))
}

/// Open presence: only under the current epoch key, signed by a device the membership
/// certifies for a current member. Returns the device, its member's address and the body.
fn open_presence(
    engine: &crate::acl::Replica,
    sealed: &[u8],
) -> Result<(DeviceId, crate::identity::Address, Vec<u8>), String> {
    use k256::ecdsa::signature::Verifier;
    let (epoch, rest) = sealed
        .split_first_chunk::<4>()
        .ok_or("truncated presence")?;
    let epoch = u32::from_be_bytes(*epoch);
    let current = engine.current_epoch();
    if epoch != current {
        return Err(format!(
            "presence sealed under key epoch {epoch}, not the current epoch {current}"
        ));
    }
    let (nonce, ct) = rest.split_at_checked(24).ok_or("truncated presence")?;
    let (_, key) = engine
        .current_key()
        .ok_or("this device does not hold the current epoch key")?;
    let plain = key
        .open_payload(&engine.workspace_id(), epoch, nonce, ct, PRESENCE_AAD)
        .ok_or("presence that does not open with the current epoch key")?;
    let device_bytes: &[u8; 33] = plain
        .get(..33)
        .and_then(|b| b.try_into().ok())
        .ok_or("truncated presence")?;
    let device = DeviceId::from_sec1_bytes(device_bytes)
        .map_err(|e| format!("presence from a bad device id: {e}"))?;
    let sig = plain
        .get(33..97)
        .and_then(|b| k256::ecdsa::Signature::from_slice(b).ok())
        .ok_or("presence with a malformed signature")?;
    let body = &plain[97..];
    let members = engine.members();
    let record = members.devices.get(&device).ok_or_else(|| {
        format!("presence from {device}, not a device of this workspace's members")
    })?;
    if record.revoked_by.is_some() || record.certificates.is_empty() {
        return Err(format!(
            "presence from {device}, a revoked or uncertified device"
        ));
    }
    if members.role(&record.address).is_none() {
        return Err(format!(
            "presence from {device}, whose wallet {} is not a member",
            record.address.to_checksum()
        ));
    }
    device
        .verifying_key()
        .verify(&presence_message(&engine.workspace_id(), epoch, body), &sig)
        .map_err(|_| format!("presence whose signature is not {device}'s"))?;
    Ok((device, record.address, body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> DeviceId {
        DeviceKey::generate().id()
    }

    #[test]
    fn every_frame_reads_back_as_written() {
        let d = device();
        let seqs: BTreeMap<DeviceId, u64> = [(d, 7), (device(), 1)].into_iter().collect();
        let ops = Some(OpsHeld {
            count: 3,
            digest: [9; 32],
        });
        for f in [
            Frame::Hello {
                device: d,
                seqs: seqs.clone(),
                ops,
            },
            Frame::Want {
                device: Some(d),
                seqs: seqs.clone(),
                ops: None,
            },
            Frame::Want {
                device: None,
                seqs: BTreeMap::new(),
                ops,
            },
            Frame::Envelope(vec![1, 2, 3]),
            Frame::AclOp(vec![4]),
            Frame::Presence(vec![5; 40]),
            Frame::UnsignedPresence(b"{}".to_vec()),
            Frame::Part {
                id: [3; 16],
                index: 1,
                total: 2,
                bytes: vec![6; 10],
            },
        ] {
            assert_eq!(Frame::decode(&f.encode()), Ok(f.clone()), "{f:?}");
        }
    }

    #[test]
    fn changes_keep_the_first_version_and_new_kinds_use_the_second() {
        assert_eq!(Frame::Envelope(vec![1]).encode()[4], VERSION_1);
        assert_eq!(Frame::AclOp(vec![1]).encode()[4], VERSION_1);
        let hello = Frame::Hello {
            device: device(),
            seqs: BTreeMap::new(),
            ops: None,
        };
        assert_eq!(hello.encode()[4], VERSION);
        // What the first version's Hello and Want looked like still reads.
        let d = device();
        let mut v1 = b"WFTR\x01\x01".to_vec();
        v1.extend_from_slice(d.as_bytes());
        v1.extend_from_slice(&0u32.to_be_bytes());
        assert!(matches!(
            Frame::decode(&v1),
            Ok(Frame::Hello { device, ops: None, .. }) if device == d
        ));
    }

    #[test]
    fn a_newer_frame_says_so_and_junk_never_panics() {
        let err = Frame::decode(b"WFTR\x03\x01whatever").unwrap_err();
        assert_eq!(err, FrameError::Newer(3));
        assert!(err.to_string().contains("newer weft"), "{err}");
        assert!(err.to_string().contains("upgrade"), "{err}");
        let whole = Frame::Hello {
            device: device(),
            seqs: [(device(), 3)].into_iter().collect(),
            ops: None,
        }
        .encode();
        for n in 0..whole.len() {
            assert!(Frame::decode(&whole[..n]).is_err(), "{n}");
        }
        let bad_part = Frame::Part {
            id: [0; 16],
            index: 2,
            total: 2,
            bytes: vec![],
        }
        .encode();
        assert!(Frame::decode(&bad_part).is_err(), "index past total");
    }

    #[test]
    fn a_frame_over_the_limit_travels_in_parts_and_is_put_together() {
        let sealer = Sealer {
            key: super::super::seal::CarrierKey::generate(),
            id: WorkspaceId([1; 32]),
        };
        let big = Frame::Envelope((0..(3 << 20)).map(|i| i as u8).collect());
        let pieces = sealer.pieces(&big);
        assert_eq!(pieces.len(), 7);
        assert!(pieces.iter().all(|p| p.len() <= MAX_FRAME));
        let mut parts = Reassembly::default();
        let mut whole = None;
        // Out of order, with a repeat.
        let mut order: Vec<usize> = (0..pieces.len()).rev().collect();
        order.insert(1, 6);
        for i in order {
            let Ok(Frame::Part {
                id,
                index,
                total,
                bytes,
            }) = sealer.open(&pieces[i])
            else {
                panic!("a part")
            };
            if let Some(w) = parts.add(id, index, total, bytes).unwrap() {
                whole = Some(w);
            }
        }
        assert_eq!(Frame::decode(&whole.unwrap()).unwrap(), big);
        assert_eq!(parts.held_bytes(), 0);
        // A small frame goes whole.
        assert_eq!(sealer.pieces(&Frame::AclOp(vec![1; 100])).len(), 1);
    }

    #[test]
    fn unfinished_frames_are_bounded() {
        let mut parts = Reassembly::default();
        for n in 0..100u8 {
            let r = parts.add([n; 16], 0, 64, vec![0; PART_BYTES]).unwrap();
            assert!(r.is_none());
            assert!(parts.partial.len() <= MAX_PARTIAL);
            assert!(parts.held_bytes() <= MAX_PARTIAL_BYTES);
        }
        assert!(parts.add([1; 16], 0, 2, vec![0; PART_BYTES + 1]).is_err());
        // Parts that disagree on the count drop the frame.
        parts.add([200; 16], 0, 3, vec![1]).unwrap();
        assert!(parts.add([200; 16], 1, 4, vec![1]).is_err());
        assert!(!parts.partial.contains_key(&[200; 16]));
    }

    #[test]
    fn a_device_asks_again_while_something_is_missing_backing_off() {
        let t0 = std::time::Instant::now();
        let mut need = Need::new();
        assert!(!need.due(t0, || true), "not before the first wait");
        let mut t = t0 + NEED_MIN;
        assert!(!need.due(t, || false), "nothing missing: no ask");
        t += NEED_MIN;
        assert!(need.due(t, || true), "changes waiting: ask");
        assert!(!need.due(t + NEED_MIN / 2, || true));
        // Backs off while nothing arrives: 1, 2, 4 … seconds, at most NEED_MAX.
        let mut gaps = Vec::new();
        let mut last = t;
        for _ in 0..8 {
            let mut at = last;
            while !need.due(at, || true) {
                at += std::time::Duration::from_millis(100);
            }
            gaps.push((at - last).as_secs());
            last = at;
        }
        assert_eq!(gaps, [1, 2, 4, 8, 16, 30, 30, 30]);
        // Something arrived: soon again.
        need.progress();
        assert!(need.due(std::time::Instant::now() + NEED_MIN, || true));
    }

    #[test]
    fn a_peer_that_holds_more_makes_a_device_ask_soon() {
        let me = device();
        let other = device();
        let mine: BTreeMap<DeviceId, u64> = [(me, 5)].into();
        let ops = Some(OpsHeld {
            count: 3,
            digest: [1; 32],
        });
        let later = std::time::Instant::now() + NEED_SOON + std::time::Duration::from_millis(100);
        for (seqs, their_ops, more) in [
            (BTreeMap::from([(me, 5)]), ops, false),
            (BTreeMap::from([(me, 4)]), ops, false),
            (BTreeMap::from([(me, 4)]), None, false),
            (BTreeMap::from([(me, 6)]), ops, true),
            (BTreeMap::from([(other, 1)]), ops, true),
            (
                BTreeMap::from([(me, 5)]),
                Some(OpsHeld {
                    count: 3,
                    digest: [2; 32],
                }),
                true,
            ),
        ] {
            let mut need = Need::new();
            need.compare(&mine, ops, &seqs, their_ops);
            assert_eq!(need.due(later, || false), more, "{seqs:?} {their_ops:?}");
        }
    }

    #[test]
    fn the_pace_allows_the_burst_then_the_rate() {
        let mut pace = Pace::full();
        let mut sent = 0;
        while pace.take(100).is_none() {
            sent += 1;
            assert!(sent <= PACE_FRAME_BURST as usize + 5, "{sent}");
        }
        assert!(sent >= PACE_FRAME_BURST as usize, "{sent}");
        let wait = pace.take(100).unwrap();
        assert!(wait <= std::time::Duration::from_millis(20), "{wait:?}");
        // A piece as large as the byte burst waits for bytes, not frames.
        let mut pace = Pace::full();
        assert!(pace.take(PACE_BYTE_BURST as usize).is_none());
        let wait = pace.take(1 << 20).unwrap();
        assert!(wait >= std::time::Duration::from_millis(400), "{wait:?}");
    }
}
