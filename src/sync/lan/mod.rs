//! The LAN lane: teammates on one network find each other with mDNS and sync over direct
//! WebSocket links, with no relay or bucket in the way.
//!
//! A [`LanHub`] is to the live worker what a relay room is: frames handed to [`LanHub::tx`] go to
//! every linked teammate, and [`LanHub::rx`] yields their frames (the same room protocol, sealed
//! with the carrier key by the worker). What it adds is who may link:
//!
//! - **Discovery** ([`discover`]): each hub announces `_weft._tcp.local.` under an opaque name
//!   only holders of the current epoch key can make or recognise ([`token`]), and browses for
//!   the names of its teammates.
//! - **The link**: a WebSocket listener on an OS-picked port. Before any frame, both ends prove
//!   they are paired, unrevoked devices of current members ([`handshake`]). A connection that
//!   does not gets a refusal with a reason in the close frame; the work per attempt is bounded
//!   (a handshake timeout, fixed message sizes, a cap on connections being checked) and nothing
//!   a stranger sends is stored.
//! - One link per pair: of two hubs that recognise each other, the one with the smaller salt
//!   dials; a second link to an already linked device is refused.
//!
//! [`LanHub::set_trust`] keeps the hub's view of the membership current: a device that stops
//! being trusted (removed member, revoked device) is cut off at once.

pub mod discover;
pub mod handshake;
pub mod token;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::crypto::WorkspaceId;
use crate::identity::{DeviceId, DeviceKey};
use crate::store::Replica;
use handshake::{Refusal, Role};
pub use token::LanSecret;

/// The DNS-SD service type weft announces.
pub const SERVICE: &str = "_weft._tcp.local.";
/// How long a connection may take to prove itself.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections being checked at once; more are closed unread.
pub const MAX_PENDING: usize = 16;
/// Largest message on a link: a room frame ([`super::live::MAX_FRAME`]) and its sealing.
pub const MAX_MESSAGE: usize = super::live::MAX_FRAME + 1024;
/// Frames waiting for one link before it is taken for too slow and dropped (it links again
/// and catches up with Hello).
const LINK_QUEUE: usize = 1024;
const SEND_QUEUE: usize = 256;
const EVENT_QUEUE: usize = 1024;
const PING_EVERY: Duration = Duration::from_secs(10);
const SILENCE: Duration = Duration::from_secs(30);
/// Refusals remembered for the status (newest last).
const REFUSALS_KEPT: usize = 32;

/// What a hub needs to know to link: who it is and whom it trusts.
#[derive(Clone)]
pub struct Trust {
    /// The workspace.
    pub workspace: WorkspaceId,
    /// This device's key (it signs the handshake).
    pub key: DeviceKey,
    /// The current epoch key; without it the hub neither announces nor links.
    pub secret: Option<LanSecret>,
    /// Devices that may link: paired, unrevoked, of current members.
    pub devices: BTreeSet<DeviceId>,
}

impl PartialEq for Trust {
    fn eq(&self, other: &Self) -> bool {
        self.workspace == other.workspace
            && self.key.id() == other.key.id()
            && self.secret == other.secret
            && self.devices == other.devices
    }
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("workspace", &self.workspace)
            .field("device", &self.key.id())
            .field("secret", &self.secret)
            .field("devices", &self.devices.len())
            .finish()
    }
}

impl Trust {
    /// What the workspace `replica` opens says now; `None` if it is not shared.
    pub fn of(replica: &Replica) -> Option<Trust> {
        let engine = replica.engine()?;
        let secret = engine
            .current_key()
            .map(|(epoch, key)| LanSecret::new(epoch, *key.as_bytes()));
        Some(Trust {
            workspace: engine.workspace_id(),
            key: engine.identity().key_ref().clone(),
            secret,
            devices: engine.members().reading_devices().into_iter().collect(),
        })
    }
}

/// How a hub runs.
#[derive(Debug, Clone)]
pub struct LanOptions {
    /// The address the link listener binds (port 0: the OS picks).
    pub bind: SocketAddr,
    /// Announce and browse with mDNS (off: only [`LanHub::dial`] and `dial` link).
    pub discover: bool,
    /// Teammates' link addresses to dial and keep dialing (where multicast does not pass).
    pub dial: Vec<SocketAddr>,
}

impl Default for LanOptions {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([0, 0, 0, 0], 0)),
            discover: true,
            dial: Vec::new(),
        }
    }
}

/// What happens on the LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LanEvent {
    /// A teammate's device is linked: say hello to it.
    Linked(DeviceId),
    /// A link ended.
    Unlinked { device: DeviceId, reason: String },
    /// A frame from a linked teammate, exactly as sent.
    Frame(Vec<u8>),
}

/// Where the lane stands, for the status bar and the members screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LanStatus {
    /// Devices linked directly now.
    pub linked: Vec<DeviceId>,
    /// The port the link listener is on.
    pub port: u16,
    /// Discovery could not start (no multicast here), and why.
    pub discovery_off: Option<String>,
    /// The latest refusals (of others by this device, or of this device by others).
    pub refusals: Vec<String>,
}

struct LinkEntry {
    id: u64,
    tx: mpsc::Sender<Vec<u8>>,
}

pub(crate) struct Shared {
    trust: Mutex<Trust>,
    links: Mutex<HashMap<DeviceId, LinkEntry>>,
    /// Addresses being dialed now (one attempt each at a time).
    dialing: Mutex<HashSet<SocketAddr>>,
    pending: Arc<Semaphore>,
    events: mpsc::Sender<LanEvent>,
    status: Mutex<LanStatus>,
    refusals: Mutex<VecDeque<String>>,
    next_id: std::sync::atomic::AtomicU64,
    trust_changed: tokio::sync::watch::Sender<()>,
    /// Announcements (by salt) being dialed or linked from here.
    salts_busy: Mutex<HashSet<[u8; token::SALT_LEN]>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn trust(&self) -> Trust {
        lock(&self.trust).clone()
    }

    fn refused(&self, who: &str, why: &str) {
        tracing::info!(%who, %why, "LAN link refused");
        let mut r = lock(&self.refusals);
        if r.len() == REFUSALS_KEPT {
            r.pop_front();
        }
        r.push_back(format!("{who}: {why}"));
    }

    fn linked(&self) -> Vec<DeviceId> {
        let mut v: Vec<DeviceId> = lock(&self.links).keys().copied().collect();
        v.sort();
        v
    }
}

/// Direct links to teammates on the LAN. Dropping it closes every link and stops announcing.
pub struct LanHub {
    /// Frames to send to every linked teammate.
    pub tx: mpsc::Sender<Vec<u8>>,
    /// Linked, unlinked, frames.
    pub rx: mpsc::Receiver<LanEvent>,
    shared: Arc<Shared>,
    port: u16,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl LanHub {
    /// Listen for links and (with `options.discover`) announce and browse. Must be called
    /// within a tokio runtime.
    ///
    /// Fails if the listener cannot bind. A network without multicast is not an error: the
    /// hub then links only by [`dial`](Self::dial) and says why in [`LanStatus::discovery_off`].
    pub async fn start(trust: Trust, options: LanOptions) -> std::io::Result<LanHub> {
        let listener = tokio::net::TcpListener::bind(options.bind).await?;
        let port = listener.local_addr()?.port();
        let (tx, frames) = mpsc::channel(SEND_QUEUE);
        let (events, rx) = mpsc::channel(EVENT_QUEUE);
        let (trust_changed, _) = tokio::sync::watch::channel(());
        let shared = Arc::new(Shared {
            trust: Mutex::new(trust),
            links: Mutex::new(HashMap::new()),
            dialing: Mutex::new(HashSet::new()),
            pending: Arc::new(Semaphore::new(MAX_PENDING)),
            events,
            status: Mutex::new(LanStatus {
                port,
                ..LanStatus::default()
            }),
            refusals: Mutex::new(VecDeque::new()),
            next_id: std::sync::atomic::AtomicU64::new(1),
            trust_changed,
            salts_busy: Mutex::new(HashSet::new()),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let s = shared.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = serve(listener, s.clone()) => {}
                () = fan_out(frames, s.clone()) => {}
                () = discover::run(s.clone(), port, options.discover) => {}
                () = keep_dialing(s.clone(), options.dial) => {}
                _ = stopped => {}
            }
            // Closing every link: their senders go with the map.
            lock(&s.links).clear();
        });
        Ok(LanHub {
            tx,
            rx,
            shared,
            port,
            _stop: stop,
        })
    }

    /// The port links are accepted on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whom to trust now (after the membership changed). Links to devices no longer trusted
    /// are cut at once; with no current key, all are.
    pub fn set_trust(&self, trust: Trust) {
        {
            let mut t = lock(&self.shared.trust);
            if *t == trust {
                return;
            }
            *t = trust.clone();
        }
        let keep = |d: &DeviceId| trust.secret.is_some() && trust.devices.contains(d);
        lock(&self.shared.links).retain(|d, _| keep(d));
        let _ = self.shared.trust_changed.send(());
    }

    /// Link to a hub at `addr` (discovery does this by itself).
    pub fn dial(&self, addr: SocketAddr) {
        let shared = self.shared.clone();
        tokio::spawn(async move {
            dial(shared, addr).await;
        });
    }

    /// Where the lane stands.
    pub fn status(&self) -> LanStatus {
        let mut s = lock(&self.shared.status).clone();
        s.linked = self.shared.linked();
        s.refusals = lock(&self.shared.refusals).iter().cloned().collect();
        s
    }
}

type Ws<S> = WebSocketStream<S>;

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_frame_size(Some(MAX_MESSAGE))
        .max_message_size(Some(MAX_MESSAGE))
}

/// Accept connections; each gets [`HANDSHAKE_TIMEOUT`] to prove itself, and at most
/// [`MAX_PENDING`] are being checked at once.
async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: wait, do not spin.
                tracing::warn!(error = %e, "LAN listener could not accept");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let Ok(permit) = shared.pending.clone().try_acquire_owned() else {
            shared.refused(&peer.to_string(), &Refusal::Busy.to_string());
            drop(stream);
            continue;
        };
        let s = shared.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let checked = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
                let mut ws = tokio_tungstenite::accept_async_with_config(stream, Some(ws_config()))
                    .await
                    .map_err(|e| (None, Refusal::Ended(short(&e.to_string()))))?;
                match listen_handshake(&mut ws, &s).await {
                    Ok(device) => Ok((ws, device)),
                    Err(r) => Err((Some(ws), r)),
                }
            })
            .await;
            drop(permit);
            match checked {
                Ok(Ok((ws, device))) => run_link(ws, device, s).await,
                Ok(Err((ws, why))) => {
                    s.refused(&peer.to_string(), &why.to_string());
                    if let Some(ws) = ws {
                        refuse(ws, &why).await;
                    }
                }
                Err(_) => s.refused(&peer.to_string(), &Refusal::Timeout.to_string()),
            }
        });
    }
}

fn short(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Another device's words, fit to show: no control characters, at most a close frame's length.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(123).collect()
}

/// Close with the reason.
async fn refuse<S>(mut ws: Ws<S>, why: &Refusal)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    close_with(&mut ws, &why.to_string()).await;
}

/// Send a close frame with `reason` and wait (a second at most) for the other end's answer, so
/// it reads the reason before the connection goes.
async fn close_with<S>(ws: &mut Ws<S>, reason: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let close = CloseFrame {
        code: CloseCode::Policy,
        reason: reason.to_string().into(),
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        if ws.close(Some(close)).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}

/// The next binary message of at most `max` bytes.
async fn next_message<S>(ws: &mut Ws<S>, max: usize) -> Result<Vec<u8>, Refusal>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) if b.len() <= max => return Ok(b.to_vec()),
            Some(Ok(Message::Binary(_) | Message::Text(_))) => return Err(Refusal::NotWeft),
            Some(Ok(Message::Close(c))) => {
                return Err(match c {
                    Some(c) => Refusal::Remote(printable(&c.reason)),
                    None => Refusal::Ended("closed".into()),
                })
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(Refusal::Ended(short(&e.to_string()))),
            None => return Err(Refusal::Ended("closed".into())),
        }
    }
}

async fn send<S>(ws: &mut Ws<S>, bytes: Vec<u8>) -> Result<(), Refusal>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::Binary(bytes.into()))
        .await
        .map_err(|e| Refusal::Ended(short(&e.to_string())))
}

/// The listener's side: read the dialer's hello, answer, check its proof, then prove.
async fn listen_handshake<S>(ws: &mut Ws<S>, shared: &Shared) -> Result<DeviceId, Refusal>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let dial_nonce = handshake::read_hello(&next_message(ws, handshake::HELLO_LEN).await?)?;
    let trust = shared.trust();
    if trust.secret.is_none() {
        return Err(Refusal::NotLinking);
    }
    let listen_nonce = handshake::nonce();
    send(ws, handshake::hello(&listen_nonce)).await?;
    let proof = next_message(ws, handshake::PROOF_LEN).await?;
    let device = handshake::check_proof(&trust, Role::Dial, &dial_nonce, &listen_nonce, &proof)?;
    admit(shared, &trust, device)?;
    let mine = handshake::proof(&trust, Role::Listen, &dial_nonce, &listen_nonce)?;
    send(ws, mine).await?;
    Ok(device)
}

/// Whether a proven device may have a link now.
fn admit(shared: &Shared, trust: &Trust, device: DeviceId) -> Result<(), Refusal> {
    if device == trust.key.id() {
        return Err(Refusal::SameDevice);
    }
    if lock(&shared.links).contains_key(&device) {
        return Err(Refusal::AlreadyLinked);
    }
    Ok(())
}

/// Link to `addr` and carry the link until it ends; whether it was linked.
pub(crate) async fn dial(shared: Arc<Shared>, addr: SocketAddr) -> bool {
    if !lock(&shared.dialing).insert(addr) {
        return false;
    }
    let url = match addr.ip() {
        IpAddr::V4(ip) => format!("ws://{ip}:{}/", addr.port()),
        IpAddr::V6(ip) => format!("ws://[{ip}]:{}/", addr.port()),
    };
    let attempt = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| (None, Refusal::Ended(short(&e.to_string()))))?;
        let _ = stream.set_nodelay(true);
        let (mut ws, _) =
            tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(ws_config()))
                .await
                .map_err(|e| (None, Refusal::Ended(short(&e.to_string()))))?;
        match dial_handshake(&mut ws, &shared).await {
            Ok(device) => Ok((ws, device)),
            Err(r) => Err((Some(ws), r)),
        }
    })
    .await;
    lock(&shared.dialing).remove(&addr);
    match attempt {
        Ok(Ok((ws, device))) => {
            run_link(ws, device, shared).await;
            true
        }
        Ok(Err((ws, why))) => {
            shared.refused(&addr.to_string(), &why.to_string());
            if let Some(ws) = ws {
                refuse(ws, &why).await;
            }
            false
        }
        Err(_) => {
            shared.refused(&addr.to_string(), &Refusal::Timeout.to_string());
            false
        }
    }
}

/// The dialer's side: say hello, read the listener's, prove, check its proof.
async fn dial_handshake<S>(ws: &mut Ws<S>, shared: &Shared) -> Result<DeviceId, Refusal>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let trust = shared.trust();
    if trust.secret.is_none() {
        return Err(Refusal::NotLinking);
    }
    let dial_nonce = handshake::nonce();
    send(ws, handshake::hello(&dial_nonce)).await?;
    let listen_nonce = handshake::read_hello(&next_message(ws, handshake::HELLO_LEN).await?)?;
    send(
        ws,
        handshake::proof(&trust, Role::Dial, &dial_nonce, &listen_nonce)?,
    )
    .await?;
    let proof = next_message(ws, handshake::PROOF_LEN).await?;
    let device = handshake::check_proof(&trust, Role::Listen, &dial_nonce, &listen_nonce, &proof)?;
    admit(shared, &trust, device)?;
    Ok(device)
}

/// Carry frames both ways on a proven link until it ends or its device stops being trusted.
async fn run_link<S>(mut ws: Ws<S>, device: DeviceId, shared: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let id = shared
        .next_id
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (tx, mut out) = mpsc::channel::<Vec<u8>>(LINK_QUEUE);
    let inserted = {
        match lock(&shared.links).entry(device) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(LinkEntry { id, tx });
                true
            }
        }
    };
    if !inserted {
        refuse(ws, &Refusal::AlreadyLinked).await;
        return;
    }
    let _ = shared.events.send(LanEvent::Linked(device)).await;
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_heard = tokio::time::Instant::now();
    let reason: String = loop {
        tokio::select! {
            frame = out.recv() => match frame {
                Some(frame) => {
                    let write = async {
                        ws.feed(Message::Binary(frame.into())).await?;
                        while let Ok(more) = out.try_recv() {
                            ws.feed(Message::Binary(more.into())).await?;
                        }
                        ws.flush().await
                    };
                    match tokio::time::timeout(SILENCE, write).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => break format!("connection lost: {}", short(&e.to_string())),
                        Err(_) => break "the teammate stopped taking data".into(),
                    }
                }
                None => {
                    // Cut by the hub: not trusted any more, or the hub stopped.
                    let why = "the link was closed: not a current member's device, or weft stopped";
                    close_with(&mut ws, why).await;
                    break why.into();
                }
            },
            msg = ws.next() => {
                last_heard = tokio::time::Instant::now();
                match msg {
                    Some(Ok(Message::Binary(b))) => {
                        if shared.events.send(LanEvent::Frame(b.to_vec())).await.is_err() {
                            break "weft stopped".into();
                        }
                    }
                    Some(Ok(Message::Close(c))) => {
                        break format!("closed by the teammate{}", c.map(|c| format!(": {}", printable(&c.reason))).unwrap_or_default());
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break format!("connection lost: {}", short(&e.to_string())),
                    None => break "connection closed".into(),
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENCE {
                    break format!("nothing heard in {} s", SILENCE.as_secs());
                }
                if tokio::time::timeout(SILENCE, ws.send(Message::Ping(Default::default()))).await.map_or(true, |r| r.is_err()) {
                    break "connection lost".into();
                }
            }
        }
    };
    {
        let mut links = lock(&shared.links);
        if links.get(&device).is_some_and(|l| l.id == id) {
            links.remove(&device);
        }
    }
    tracing::info!(%device, %reason, "LAN link ended");
    let _ = shared
        .events
        .send(LanEvent::Unlinked { device, reason })
        .await;
}

/// Link to each of `addrs`, and again a second after each link ends or fails. Never returns.
async fn keep_dialing(shared: Arc<Shared>, addrs: Vec<SocketAddr>) {
    futures::future::join_all(addrs.into_iter().map(|addr| {
        let shared = shared.clone();
        async move {
            loop {
                dial(shared.clone(), addr).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }))
    .await;
    std::future::pending().await
}

/// Hand each frame to every link; a link whose queue is full is dropped (it is too slow; it
/// links again and catches up).
async fn fan_out(mut frames: mpsc::Receiver<Vec<u8>>, shared: Arc<Shared>) {
    while let Some(frame) = frames.recv().await {
        let mut links = lock(&shared.links);
        links.retain(|device, link| match link.tx.try_send(frame.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::info!(%device, "LAN link too slow; dropped");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }
    // The worker dropped its sender: stop.
}

/// What the live worker holds of the LAN lane.
pub struct Lane {
    hub: Option<LanHub>,
    /// Kept so a worker with no relay sees its room channel stay open.
    _idle: Option<mpsc::Sender<super::room::RoomEvent>>,
}

impl Lane {
    /// Start the lane for the workspace `replica` opens (`options` `None`: no LAN). A failure
    /// to listen is logged and the worker goes on without the LAN.
    pub async fn start(replica: &Replica, options: Option<LanOptions>) -> Lane {
        let hub = match (options, Trust::of(replica)) {
            (Some(options), Some(trust)) => match LanHub::start(trust, options).await {
                Ok(hub) => Some(hub),
                Err(e) => {
                    tracing::warn!(error = %e, "the LAN lane could not listen; going on without it");
                    None
                }
            },
            _ => None,
        };
        Lane { hub, _idle: None }
    }

    /// The relay's room, or (no relay) a room that never connects.
    pub fn room(
        &mut self,
        relay: Option<&str>,
        room: &[u8; 32],
    ) -> anyhow::Result<super::room::RoomHandle> {
        use super::room;
        let conn = match relay {
            Some(relay) => room::connect(room::room_url(relay, room)?)?,
            None => {
                // Frames for the missing relay are dropped, as a relay's task drops them while
                // it is not connected.
                let (tx, mut drain) = mpsc::channel::<Vec<u8>>(SEND_QUEUE);
                tokio::spawn(async move { while drain.recv().await.is_some() {} });
                let (keep_tx, rx) = mpsc::channel(1);
                self._idle = Some(keep_tx);
                let (_, relay) = tokio::sync::watch::channel(None);
                room::RoomHandle { tx, rx, relay }
            }
        };
        Ok(self.with_lan(conn))
    }

    /// `conn` with sends going to the LAN's links too.
    fn with_lan(&self, conn: super::room::RoomHandle) -> super::room::RoomHandle {
        let Some(hub) = &self.hub else { return conn };
        let (tx, mut frames) = mpsc::channel::<Vec<u8>>(SEND_QUEUE);
        let relay = conn.tx;
        let lan = hub.tx.clone();
        tokio::spawn(async move {
            while let Some(frame) = frames.recv().await {
                let _ = lan.send(frame.clone()).await;
                let _ = relay.send(frame).await;
            }
        });
        super::room::RoomHandle {
            tx,
            rx: conn.rx,
            relay: conn.relay,
        }
    }

    /// The next event from the relay or the LAN, as the room protocol sees it: a frame from
    /// either, `Connected` when the relay connects or a teammate links (say hello). `via_lan`
    /// says where it came from. `None` when the relay's room is gone.
    pub async fn next_event(
        &mut self,
        room: &mut mpsc::Receiver<super::room::RoomEvent>,
        via_lan: &mut bool,
    ) -> Option<super::room::RoomEvent> {
        use super::room::RoomEvent;
        loop {
            let lan = async {
                match self.hub.as_mut() {
                    Some(h) => h.rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = room.recv() => {
                    *via_lan = false;
                    return ev;
                }
                ev = lan => match ev {
                    Some(LanEvent::Linked(_)) => {
                        *via_lan = true;
                        return Some(RoomEvent::Connected);
                    }
                    Some(LanEvent::Frame(bytes)) => {
                        *via_lan = true;
                        return Some(RoomEvent::Frame(bytes));
                    }
                    Some(LanEvent::Unlinked { .. }) => {}
                    None => self.hub = None,
                }
            }
        }
    }

    /// Follow the membership (who may link) and report where the lane stands.
    pub fn refresh(&self, replica: &Replica) -> Option<LanStatus> {
        let hub = self.hub.as_ref()?;
        if let Some(trust) = Trust::of(replica) {
            hub.set_trust(trust);
        }
        Some(hub.status())
    }
}
