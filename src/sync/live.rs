//! Live sync through a relay room: the room protocol and the worker that speaks it.
//!
//! Frames (binary, versioned): `Hello{device, seqs}` when a peer (re)connects, `Want{seqs}` to ask
//! again, `Envelope{bytes}` and `AclOp{bytes}` carrying changes, `Presence{bytes}` for who is where.
//! `seqs` says, for each device, the highest sequence number the sender holds without a gap; any
//! peer that holds more answers with it — duplicates are harmless, the engine drops them. Every
//! envelope and op that arrives goes through the same store and engine as the bucket's, so the
//! relay is trusted with nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use sha2::{Digest, Sha256};

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
            return Err(format!(
                "a frame of {} bytes is over the limit",
                bytes.len()
            ));
        }
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or("not a weft room frame")?;
        let (&version, rest) = rest.split_first().ok_or("truncated frame")?;
        if version != VERSION {
            return Err(format!(
                "room frame version {version}; this weft speaks {VERSION}"
            ));
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
    /// A frame's bytes as sent.
    pub fn seal(&self, frame: &Frame) -> Vec<u8> {
        self.key.seal(&self.id, b"frame", &frame.encode())
    }

    /// A received frame.
    pub fn open(&self, bytes: &[u8]) -> Result<Frame, String> {
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
    /// The LAN lane, when it runs: who is linked directly.
    pub lan: Option<super::lan::LanStatus>,
    /// There is a relay (else live sync runs over the LAN only).
    pub relay: bool,
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

/// The worker's ends of its channels.
struct Ends {
    pokes: tokio::sync::mpsc::UnboundedReceiver<Vec<Vec<u8>>>,
    views: tokio::sync::watch::Receiver<Here>,
    peers: Peers,
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
    use super::room::RoomEvent;
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
        (s.relay, s.lan) = (relay.is_some(), lan_now);
    }
    replica.defer_index(true);
    let mut held = Holdings::load(&replica)?;
    let mut out = Outbound::after(&replica)?;
    let Ends {
        mut pokes,
        mut views,
        peers,
    } = ends;
    let address = replica
        .engine()
        .map(|e| e.identity().address().to_checksum())
        .unwrap_or_default();
    let presence = |replica: &Replica, here: &Here| {
        let body = serde_json::to_vec(&PresenceBody {
            address: address.clone(),
            device: me.to_string(),
            view: here.view.clone(),
            item: here.caret.as_ref().map(|(i, _)| i.clone()),
            caret: here.caret.as_ref().map(|(_, c)| hex::encode(c)),
        })
        .unwrap_or_default();
        Frame::Presence(seal_presence(replica, &body).unwrap_or_default())
    };
    let mut repeat = tokio::time::interval(PRESENCE_EVERY);
    let mut tick = tokio::time::interval(LOCAL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // After forwarding what the writing process handed over, this worker's own engine reads those
    // rows back a moment later, one keystroke at a time: not on the way out (it would delay the
    // send), and not 250 ms later in a batch (a keystroke arriving then would wait behind it).
    let mut catch_up: Option<tokio::time::Instant> = None;
    loop {
        let catch_up_at = catch_up.unwrap_or_else(|| tokio::time::Instant::now() + LOCAL_EVERY);
        tokio::select! {
            _ = tokio::time::sleep_until(catch_up_at), if catch_up.is_some() => {
                catch_up = None;
                out.send_local(&mut replica, &mut held, me, &sealer, &conn.tx).await?;
                index_quietly(&mut replica);
            }
            ev = lane.next_event(&mut conn.rx, &mut via_lan) => {
                let Some(ev) = ev else { return Ok(()) };
                match ev {
                    RoomEvent::Connected => {
                        if !via_lan {
                            let mut s = lock(&status);
                            s.online = true;
                            s.offline = None;
                        }
                        let hello = Frame::Hello { device: me, seqs: held.seqs() };
                        let _ = conn.tx.send(sealer.seal(&hello)).await;
                        let here = presence(&replica, &views.borrow());
                        let _ = conn.tx.send(sealer.seal(&here)).await;
                    }
                    RoomEvent::Disconnected { reason, retry_in } => {
                        let mut s = lock(&status);
                        s.online = false;
                        s.offline = Some(format!("{reason}; retrying in {:.1}s", retry_in.as_secs_f32()));
                    }
                    RoomEvent::Frame(bytes) => {
                        if let Ok(Frame::Presence(sealed)) = sealer.open(&bytes) {
                            let body = open_presence(&replica, &sealed).unwrap_or_default();
                            if let Ok(p) = serde_json::from_slice::<PresenceBody>(&body) {
                                let mut view = p.view;
                                view.truncate(view.char_indices().nth(MAX_VIEW).map_or(view.len(), |(i, _)| i));
                                let caret = p
                                    .item
                                    .zip(p.caret.and_then(|c| hex::decode(c).ok()))
                                    .filter(|(i, c)| i.len() <= 64 && c.len() <= 256);
                                peers.lock().unwrap_or_else(|e| e.into_inner()).insert(
                                    p.device.clone(),
                                    Peer { address: p.address, device: p.device, view, caret, seen: std::time::Instant::now() },
                                );
                                changed();
                            }
                            continue;
                        }
                        let arrived = on_frame(&mut replica, &mut held, &sealer, &conn.tx, &bytes).await?;
                        if arrived {
                            lock(&status).received += 1;
                            changed();
                        }
                        // Indexed after the app was told, off the path of the change.
                        index_quietly(&mut replica);
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
                    out.direct.insert(Sha256::digest(&bytes).to_vec());
                    let _ = conn.tx.send(sealer.seal(&Frame::Envelope(bytes))).await;
                }
                if look {
                    out.send_local(&mut replica, &mut held, me, &sealer, &conn.tx).await?;
                } else {
                    catch_up.get_or_insert_with(|| tokio::time::Instant::now() + CATCH_UP_AFTER);
                }
            }
            r = views.changed() => {
                if r.is_err() { return Ok(()) }
                let here = presence(&replica, &views.borrow_and_update());
                let _ = conn.tx.send(sealer.seal(&here)).await;
            }
            _ = repeat.tick() => {
                let here = presence(&replica, &views.borrow());
                let _ = conn.tx.send(sealer.seal(&here)).await;
            }
            _ = tick.tick() => {
                out.send_local(&mut replica, &mut held, me, &sealer, &conn.tx).await?;
                index_quietly(&mut replica);
                lock(&status).lan = lane.refresh(&replica);
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
    async fn send_local(
        &mut self,
        replica: &mut Replica,
        held: &mut Holdings,
        me: DeviceId,
        sealer: &Sealer,
        tx: &tokio::sync::mpsc::Sender<Vec<u8>>,
    ) -> anyhow::Result<()> {
        // Send first: what this device wrote is already sealed and signed in the database, and
        // reading it back through the engine (below) is not needed to forward it.
        for (row, bytes) in replica.inputs(SharedTable::AclOps, self.op_mark)? {
            self.op_mark = row;
            let _ = tx.send(sealer.seal(&Frame::AclOp(bytes))).await;
        }
        // Its own mark: rows indexed while answering peers must still be sent.
        for (row, bytes) in replica.inputs(SharedTable::Envelopes, self.env_mark)? {
            self.env_mark = row;
            if self.direct.remove(Sha256::digest(&bytes).as_slice()) {
                continue;
            }
            let mine = Envelope::decode(&bytes).is_ok_and(|e| e.header().device == me);
            if mine {
                let _ = tx.send(sealer.seal(&Frame::Envelope(bytes))).await;
            }
        }
        replica.refresh()?;
        held.update(replica)?;
        Ok(())
    }
}

/// Handle one frame from the room. Returns whether the document may have changed.
async fn on_frame(
    replica: &mut Replica,
    held: &mut Holdings,
    sealer: &Sealer,
    tx: &tokio::sync::mpsc::Sender<Vec<u8>>,
    bytes: &[u8],
) -> anyhow::Result<bool> {
    use crate::acl::Outcome;
    let frame = match sealer.open(bytes) {
        Ok(f) => f,
        Err(why) => {
            // Kept in quarantine like any unreadable input; the connection stays.
            tracing::info!(%why, "unreadable frame from the room");
            replica.receive_envelope("relay", bytes)?;
            return Ok(true);
        }
    };
    match frame {
        Frame::Hello { seqs, .. } => {
            // Answer, and ask back: a peer that was here before us holds what we lack (its
            // membership ops included), and its own hello may have gone out before we joined.
            answer(replica, held, sealer, tx, &seqs).await?;
            let _ = tx
                .send(sealer.seal(&Frame::Want { seqs: held.seqs() }))
                .await;
            Ok(false)
        }
        Frame::Want { seqs } => {
            answer(replica, held, sealer, tx, &seqs).await?;
            Ok(false)
        }
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
        Frame::Presence(_) => Ok(false),
    }
}

async fn answer(
    replica: &mut Replica,
    held: &mut Holdings,
    sealer: &Sealer,
    tx: &tokio::sync::mpsc::Sender<Vec<u8>>,
    seqs: &BTreeMap<DeviceId, u64>,
) -> anyhow::Result<()> {
    for (_, op) in replica.inputs(SharedTable::AclOps, 0)? {
        let _ = tx.send(sealer.seal(&Frame::AclOp(op))).await;
    }
    held.update(replica)?;
    for row in held.missing_for(seqs) {
        if let Some(bytes) = replica.input_at(SharedTable::Envelopes, row)? {
            let _ = tx.send(sealer.seal(&Frame::Envelope(bytes))).await;
        }
    }
    Ok(())
}

const PRESENCE_AAD: &[u8] = b"weft/presence/v1";

/// Presence is sealed under the current epoch key too, so a removed member (who keeps the
/// carrier key) does not see where anyone is: epoch ‖ nonce ‖ ciphertext.
fn seal_presence(replica: &Replica, body: &[u8]) -> Option<Vec<u8>> {
    let engine = replica.engine()?;
    let epoch = engine.current_epoch();
    let keys = engine.epoch_keys();
    let (_, key) = keys.iter().find(|(e, _)| *e == epoch)?;
    let mut nonce = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let ct = key.seal_payload(&engine.workspace_id(), epoch, &nonce, body, PRESENCE_AAD)?;
    Some([&epoch.to_be_bytes()[..], &nonce, &ct].concat())
}

fn open_presence(replica: &Replica, sealed: &[u8]) -> Option<Vec<u8>> {
    let engine = replica.engine()?;
    let (epoch, rest) = sealed.split_first_chunk::<4>()?;
    let epoch = u32::from_be_bytes(*epoch);
    let (nonce, ct) = rest.split_at_checked(24)?;
    let keys = engine.epoch_keys();
    let (_, key) = keys.iter().find(|(e, _)| *e == epoch)?;
    key.open_payload(&engine.workspace_id(), epoch, nonce, ct, PRESENCE_AAD)
}
