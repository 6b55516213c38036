//! The WebSocket relay (`weft relay`): carries live frames between the members of a room.
//!
//! A client connects to `ws://HOST:PORT/r/<room id>`, where the room id is 32 unguessable bytes
//! written as 64 lowercase hex characters. Every binary frame a connection sends is forwarded,
//! unchanged, to every other connection in the same room. The relay never reads the frames (they
//! are ciphertext), stores nothing, and logs only connection events: never frame contents, and of
//! a room id only its first six hex characters.
//!
//! Each connection is held to [`RelayLimits`]; one that breaks a limit is closed on its own with a
//! WebSocket close code and a reason:
//!
//! | what | close code |
//! |---|---|
//! | a frame over `max_frame_bytes` | 1009 Message Too Big |
//! | a text frame (the protocol is binary) | 1008 Policy Violation |
//! | more frames or bytes per second than allowed | 1008 Policy Violation |
//! | a receiver whose send queue is full ("too slow") | 1008 Policy Violation |
//! | relay or room at its connection limit | 1013 Try Again Later |
//! | malformed WebSocket framing | 1002 Protocol Error |
//! | nothing received for `idle_timeout` | 1001 Going Away |
//! | the relay shutting down | 1001 Going Away |
//!
//! With a [`Bus`] (`weft relay --nats`), several relays act as one: see the `bus` module.
//!
//! `GET /health` answers `200 ok` (and `nats: up` or `nats: down` on a relay with a bus); any path other than a room or `/health` is answered with an
//! HTTP error instead of a WebSocket handshake.

mod bus;
mod connection;
mod http;
mod limits;
mod rooms;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use bus::{subject_for, Bus};
pub use limits::{LimitsError, RelayLimits};

/// A room id: 32 bytes, in a URL as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoomId(pub [u8; 32]);

impl RoomId {
    /// Parse exactly 64 lowercase hex characters; anything else is `None`.
    pub fn from_hex(s: &str) -> Option<RoomId> {
        if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut id = [0u8; 32];
        hex::decode_to_slice(s, &mut id).ok()?;
        Some(RoomId(id))
    }

    /// The first six hex characters: enough to tell rooms apart in a log, too little to join one.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..3])
    }
}

impl fmt::Debug for RoomId {
    // Never print a whole room id: anyone who has it can join the room.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomId({}…)", self.short())
    }
}

/// How long a client has to send its request and finish the WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection being closed has to take its close frame before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How long shutting down waits for connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// State shared by all connections.
#[derive(Debug)]
struct Shared {
    limits: RelayLimits,
    rooms: rooms::Rooms,
    /// Connections admitted to a room.
    admitted: AtomicUsize,
    /// Connection tasks alive, in a handshake, being refused or admitted.
    tasks: AtomicUsize,
    next_id: AtomicU64,
    /// The link to the other relays, if this relay is one of several.
    bus: Option<Bus>,
}

/// Run the relay on `listener` until `shutdown` completes, then close every connection with 1001
/// (Going Away) and return.
///
/// Fails only if `limits` do not make sense together ([`RelayLimits::check`]), with
/// [`io::ErrorKind::InvalidInput`]. Errors on single connections are logged and never stop the
/// relay.
pub async fn serve(
    listener: TcpListener,
    limits: RelayLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    serve_with(listener, limits, None, shutdown).await
}

/// [`serve`], as one of several relays joined by `bus` (see [`Bus`]): rooms span relays.
pub async fn serve_with(
    listener: TcpListener,
    limits: RelayLimits,
    bus: Option<Bus>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    limits
        .check()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let shared = Arc::new(Shared {
        limits,
        rooms: rooms::Rooms::default(),
        admitted: AtomicUsize::new(0),
        tasks: AtomicUsize::new(0),
        next_id: AtomicU64::new(1),
        bus,
    });
    // Connections beyond `max_connections` still get a handshake and a 1013 close, so that
    // clients learn why; beyond this many more, sockets are dropped at once.
    let max_tasks = limits.max_connections + (limits.max_connections / 4).max(64);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if shared.tasks.load(Ordering::Acquire) >= max_tasks {
                        tracing::warn!(%peer, "too many connections: dropped without a handshake");
                        continue;
                    }
                    shared.tasks.fetch_add(1, Ordering::AcqRel);
                    let shared = shared.clone();
                    let stop = stop_rx.clone();
                    tasks.spawn(async move {
                        handle(stream, peer, &shared, stop).await;
                        shared.tasks.fetch_sub(1, Ordering::AcqRel);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    tracing::info!(
        connections = shared.admitted.load(Ordering::Acquire),
        rooms = shared.rooms.count(),
        "shutting down"
    );
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = tasks.len(),
            "connections still open at shutdown: dropped"
        );
    }
    Ok(())
}

/// The body of `GET /health`: `ok`, and for a relay on NATS a second line saying whether the
/// link is up (`nats: up`) or not (`nats: down`, rooms spanning relays are cut off meanwhile).
fn health(shared: &Shared) -> String {
    match &shared.bus {
        None => "ok".into(),
        Some(bus) if bus.is_up() => "ok\nnats: up".into(),
        Some(_) => "ok\nnats: down (rooms on this relay only, reconnecting)".into(),
    }
}

/// One accepted socket: route its request, then serve the room it asked for.
async fn handle(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    stop: watch::Receiver<bool>,
) {
    // Frames are keystrokes: send each at once.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "could not set TCP_NODELAY");
    }
    let head = match tokio::time::timeout(HANDSHAKE_TIMEOUT, http::read_head(&mut stream)).await {
        Ok(Ok(http::Head::Complete(head))) => head,
        Ok(Ok(http::Head::Closed)) => return,
        Ok(Ok(http::Head::TooLong)) => {
            let _ = http::respond(&mut stream, 431, "request head too long").await;
            return;
        }
        Ok(Ok(http::Head::NotHttp)) => {
            tracing::debug!(%peer, "not HTTP (TLS to a plain relay?)");
            let _ = http::respond(&mut stream, 400, "this relay speaks plain HTTP and ws://").await;
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "reading the request failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "no request in time");
            return;
        }
    };
    match http::route(&head) {
        http::Route::Health => {
            let _ = http::respond(&mut stream, 200, &health(shared)).await;
        }
        http::Route::Refuse(status, why) => {
            tracing::debug!(%peer, status, "refused a request");
            let _ = http::respond(&mut stream, status, why).await;
        }
        http::Route::Room(room) => {
            let stream = http::Replay::new(head, stream);
            connection::run(stream, peer, room, shared, stop).await;
        }
    }
}
