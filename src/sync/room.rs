//! The live transport: one WebSocket connection to a relay room, kept open.
//!
//! Thin and I/O only. [`connect`] spawns a task that connects to the room, forwards frames both
//! ways, and reconnects with jittered exponential backoff (0.5 s doubling to 15 s) whenever the
//! connection is lost. The sync engine decides what to send; this module only moves bytes and
//! reports [`RoomEvent`]s.
//!
//! Frames handed to [`RoomHandle::tx`] while there is no connection are dropped, not queued: a
//! peer that comes back says `Hello`/`Want` on [`RoomEvent::Connected`] and catches up from the
//! others (or from the bucket), which is cheaper and never stale.
//!
//! `wss://` is spoken with rustls and the system's root certificates. The relay itself serves
//! plain `ws://`; put TLS in front of it with a reverse proxy (see the README).

use std::future::Future;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Largest frame accepted from the relay. The relay enforces its own (smaller, by default) limit
/// on what it forwards; this only bounds what a misbehaving server can make us buffer.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Frames the caller can hand over before [`RoomHandle::tx`] pushes back.
const SEND_QUEUE: usize = 256;
/// Events waiting for the caller. When full, the connection stops reading, and the relay will
/// eventually close it as too slow.
const EVENT_QUEUE: usize = 1024;
/// How long one connection attempt may take (TCP, TLS and the WebSocket handshake).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often we ping the relay. It pings us too; either way some traffic flows.
const PING_EVERY: Duration = Duration::from_secs(30);
/// Silence after which the connection is taken for dead (the relay pings every 30 s by default,
/// and answers our pings).
const SILENCE: Duration = Duration::from_secs(75);
/// A connection that lived this long resets the backoff.
const STABLE: Duration = Duration::from_secs(10);
/// Frames written before one flush.
const WRITE_BATCH: usize = 64;

/// A relay URL that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RoomUrlError {
    #[error("{0:?} is not a URL: {1}")]
    Invalid(String, String),
    #[error("{0:?}: a relay URL starts with ws:// or wss://")]
    Scheme(String),
    #[error("{0:?}: a relay URL needs a host")]
    NoHost(String),
    #[error("{0:?}: a relay URL has no user name, query or fragment")]
    Extra(String),
}

/// The URL of `room` on the relay at `relay` (`ws://host:port`, or `wss://host/path` behind a
/// reverse proxy): the relay's URL with `/r/<64 hex characters>` appended.
///
/// Fails if `relay` is not a `ws://` or `wss://` URL with a host, or carries a user name, query or
/// fragment.
///
/// `relay` may name several relays that act as one (joined by NATS), separated by commas:
/// `ws://r1:7878,ws://r2:7878`. The result then names the room on each, comma-separated, and
/// [`connect`] picks one and fails over to the next.
pub fn room_url(relay: &str, room: &[u8; 32]) -> Result<String, RoomUrlError> {
    let urls = split_relays(relay)
        .into_iter()
        .map(|one| Ok(format!("{}/r/{}", check_url(one)?, hex::encode(room))))
        .collect::<Result<Vec<_>, RoomUrlError>>()?;
    Ok(urls.join(","))
}

/// The relays in a comma-separated list (at least one entry, maybe empty, so that an empty
/// setting is refused by [`check_url`]).
pub fn split_relays(list: &str) -> Vec<&str> {
    let several: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    if several.is_empty() {
        vec![list]
    } else {
        several
    }
}

/// Validate a relay or room URL; returns it without a trailing slash.
fn check_url(url: &str) -> Result<String, RoomUrlError> {
    let trimmed = url.trim();
    if trimmed.contains('#') {
        return Err(RoomUrlError::Extra(url.into()));
    }
    let uri: Uri =
        trimmed
            .parse()
            .map_err(|e: tokio_tungstenite::tungstenite::http::uri::InvalidUri| {
                RoomUrlError::Invalid(url.into(), e.to_string())
            })?;
    match uri.scheme_str() {
        Some("ws" | "wss") => {}
        _ => return Err(RoomUrlError::Scheme(url.into())),
    }
    let Some(authority) = uri.authority() else {
        return Err(RoomUrlError::NoHost(url.into()));
    };
    if authority.host().is_empty() {
        return Err(RoomUrlError::NoHost(url.into()));
    }
    if authority.as_str().contains('@') || uri.query().is_some() {
        return Err(RoomUrlError::Extra(url.into()));
    }
    Ok(trimmed.trim_end_matches('/').to_string())
}

/// What happens on the connection to the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    /// Connected (again). Frames sent from now on reach the peers in the room; say hello.
    Connected,
    /// Not connected: the connection was lost or an attempt failed. The next attempt starts in
    /// `retry_in`. Frames sent meanwhile are dropped.
    Disconnected { reason: String, retry_in: Duration },
    /// A frame from a peer in the room, exactly as it sent it.
    Frame(Vec<u8>),
}

/// The two ends of a room connection. Dropping it (or just `rx`) closes the connection and stops
/// the task.
#[derive(Debug)]
pub struct RoomHandle {
    /// Frames to send to the room. Dropped while disconnected (see the module docs).
    pub tx: mpsc::Sender<Vec<u8>>,
    /// What happens: connected, disconnected, frames from peers.
    pub rx: mpsc::Receiver<RoomEvent>,
    /// The relay connected to now (`ws://host:port`, without the room), if any.
    pub relay: tokio::sync::watch::Receiver<Option<String>>,
}

/// Connect to a room URL (from [`room_url`]) and keep connected until the handle is dropped.
///
/// Fails at once only if `url` is not a usable `ws://` or `wss://` URL; everything else (relay
/// unreachable, refused, full) is reported as [`RoomEvent::Disconnected`] and retried.
///
/// Spawns a task on the current tokio runtime, so it must be called from within one (it panics
/// otherwise, as `tokio::spawn` does).
///
/// With several comma-separated URLs (relays joined by NATS), it starts at a random one to spread
/// the load and, whenever a connection drops or an attempt fails, tries the next one after the
/// usual backoff.
pub fn connect(url: String) -> Result<RoomHandle, RoomUrlError> {
    let urls = split_relays(&url)
        .into_iter()
        .map(check_url)
        .collect::<Result<Vec<_>, _>>()?;
    let (tx, frames) = mpsc::channel(SEND_QUEUE);
    let (events, rx) = mpsc::channel(EVENT_QUEUE);
    let (on, relay) = tokio::sync::watch::channel(None);
    tokio::spawn(keep_connected(urls, frames, events, on));
    Ok(RoomHandle { tx, rx, relay })
}

/// A room URL's relay, as people name it: scheme, host and port, without the room.
pub fn relay_of(url: &str) -> String {
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            url[..i + 3 + end].to_string()
        }
        None => url.to_string(),
    }
}

/// Delays between connection attempts: 0.5 s doubling to 15 s, with equal jitter (half the delay
/// fixed, half random) so that peers dropped together do not come back together.
#[derive(Debug, Default)]
struct Backoff {
    attempt: u32,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(15);

    /// The delay ceiling for the next attempt.
    fn ceiling(&self) -> Duration {
        Self::FIRST
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(Self::MAX)
    }

    fn next(&mut self, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        half + half.mul_f64(rng.gen::<f64>())
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// The channels of one room connection, as the task sees them.
struct Link {
    frames: mpsc::Receiver<Vec<u8>>,
    /// Whether the caller still holds a sender.
    frames_open: bool,
    events: mpsc::Sender<RoomEvent>,
}

impl Link {
    /// Run `fut` to completion, dropping frames handed over meanwhile. `None` if the handle was
    /// dropped first.
    async fn while_disconnected<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return Some(out),
                () = self.events.closed() => return None,
                frame = self.frames.recv(), if self.frames_open => {
                    if frame.is_none() {
                        self.frames_open = false;
                    }
                }
            }
        }
    }

    /// Send an event; `false` if the handle was dropped.
    async fn tell(&self, event: RoomEvent) -> bool {
        self.events.send(event).await.is_ok()
    }
}

async fn keep_connected(
    urls: Vec<String>,
    frames: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<RoomEvent>,
    on: tokio::sync::watch::Sender<Option<String>>,
) {
    let mut link = Link {
        frames,
        frames_open: true,
        events,
    };
    let mut backoff = Backoff::default();
    let config = WebSocketConfig::default()
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .max_message_size(Some(MAX_FRAME_BYTES));
    let mut next = rand::thread_rng().gen_range(0..urls.len().max(1));
    loop {
        let url = &urls[next % urls.len()];
        next = (next + 1) % urls.len();
        let attempt = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true),
        );
        let Some(attempt) = link.while_disconnected(attempt).await else {
            return;
        };
        let reason = match attempt {
            Ok(Ok((ws, _response))) => {
                on.send_replace(Some(relay_of(url)));
                if !link.tell(RoomEvent::Connected).await {
                    return;
                }
                let since = Instant::now();
                let Some(reason) = live(ws, &mut link).await else {
                    return;
                };
                if since.elapsed() >= STABLE {
                    backoff.reset();
                }
                reason
            }
            Ok(Err(e)) => connect_error(&e),
            Err(_) => format!(
                "no answer from the relay within {} s",
                CONNECT_TIMEOUT.as_secs()
            ),
        };
        on.send_replace(None);
        let retry_in = backoff.next(&mut rand::thread_rng());
        if !link
            .tell(RoomEvent::Disconnected { reason, retry_in })
            .await
        {
            return;
        }
        if link
            .while_disconnected(tokio::time::sleep(retry_in))
            .await
            .is_none()
        {
            return;
        }
    }
}

/// Why a connection attempt failed, in a user's words.
fn connect_error(e: &WsError) -> String {
    match e {
        WsError::Io(e) => format!("cannot reach the relay: {e}"),
        WsError::Http(response) => format!(
            "the relay refused the connection: HTTP {}",
            response.status()
        ),
        WsError::Url(e) => format!("bad relay URL: {e}"),
        WsError::Tls(e) => format!("TLS failed: {e}"),
        other => format!("connecting failed: {other}"),
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Carry frames both ways until the connection ends; returns why, or `None` if the handle was
/// dropped (the connection is then closed politely).
async fn live(mut ws: Ws, link: &mut Link) -> Option<String> {
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let silence = tokio::time::sleep(SILENCE);
    tokio::pin!(silence);
    loop {
        tokio::select! {
            () = link.events.closed() => {
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                return None;
            }
            frame = link.frames.recv(), if link.frames_open => match frame {
                Some(frame) => {
                    let write = async {
                        ws.feed(Message::Binary(frame.into())).await?;
                        for _ in 0..WRITE_BATCH {
                            let Ok(more) = link.frames.try_recv() else { break };
                            ws.feed(Message::Binary(more.into())).await?;
                        }
                        ws.flush().await
                    };
                    match tokio::time::timeout(SILENCE, write).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Some(format!("connection lost: {e}")),
                        Err(_) => return Some("the relay stopped taking data".into()),
                    }
                }
                None => link.frames_open = false,
            },
            msg = ws.next() => {
                last_heard = Instant::now();
                match msg {
                    Some(Ok(Message::Binary(frame))) => {
                        if !link.tell(RoomEvent::Frame(Vec::from(frame))).await {
                            return None;
                        }
                    }
                    Some(Ok(Message::Close(Some(close)))) => {
                        return Some(format!(
                            "the relay closed the connection ({}: {})",
                            u16::from(close.code),
                            close.reason
                        ));
                    }
                    Some(Ok(Message::Close(None))) => {
                        return Some("the relay closed the connection".into());
                    }
                    // Pongs are written by tungstenite; the relay sends no text.
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Some(format!("connection lost: {e}")),
                    None => return Some("connection closed".into()),
                }
            }
            _ = ping.tick() => {
                let sent = tokio::time::timeout(SILENCE, ws.send(Message::Ping(Default::default()))).await;
                match sent {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Some(format!("connection lost: {e}")),
                    Err(_) => return Some("the relay stopped taking data".into()),
                }
            }
            () = &mut silence => {
                let deadline = last_heard + SILENCE;
                if deadline <= Instant::now() {
                    return Some(format!("nothing heard from the relay in {} s", SILENCE.as_secs()));
                }
                silence.as_mut().reset(deadline);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const ROOM: [u8; 32] = [0xab; 32];

    #[test]
    fn room_urls_append_the_room_to_the_relay() {
        let hex = "ab".repeat(32);
        assert_eq!(
            room_url("ws://127.0.0.1:7878", &ROOM).unwrap(),
            format!("ws://127.0.0.1:7878/r/{hex}")
        );
        assert_eq!(
            room_url("wss://relay.example.com/weft/", &ROOM).unwrap(),
            format!("wss://relay.example.com/weft/r/{hex}")
        );
        assert_eq!(
            room_url(" ws://[::1]:9000/ ", &ROOM).unwrap(),
            format!("ws://[::1]:9000/r/{hex}")
        );
    }

    #[test]
    fn several_relays_give_the_room_on_each_and_one_bad_one_is_refused() {
        let hex = "ab".repeat(32);
        assert_eq!(
            room_url("ws://r1:7878, ws://r2:7878/", &ROOM).unwrap(),
            format!("ws://r1:7878/r/{hex},ws://r2:7878/r/{hex}")
        );
        let err = room_url("ws://r1:7878,http://r2", &ROOM).unwrap_err();
        assert!(err.to_string().contains("ws:// or wss://"), "{err}");
        assert!(connect("ws://r1:7878,relay".into()).is_err());
    }

    #[test]
    fn unusable_relay_urls_are_refused() {
        for (url, want) in [
            ("http://relay.example.com", "ws:// or wss://"),
            ("relay.example.com:7878", "ws:// or wss://"),
            ("", "not a URL"),
            ("ws://", "not a URL"),
            ("ws://user:pw@relay.example.com", "no user name"),
            ("ws://relay.example.com/?room=1", "no user name, query"),
            ("ws://relay.example.com/#x", "fragment"),
            ("ws://relay example.com", "not a URL"),
        ] {
            let err = room_url(url, &ROOM).expect_err(url).to_string();
            assert!(err.contains(want), "{url}: {err}");
        }
    }

    #[test]
    fn backoff_doubles_from_half_a_second_to_fifteen_with_jitter() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut b = Backoff::default();
        let ceilings: Vec<f64> = (0..8)
            .map(|_| {
                let ceiling = b.ceiling();
                let d = b.next(&mut rng);
                assert!(d >= ceiling / 2 && d <= ceiling, "{d:?} within {ceiling:?}");
                ceiling.as_secs_f64()
            })
            .collect();
        assert_eq!(ceilings, [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(500));
        // A thousand failures later it still waits at most 15 s.
        for _ in 0..1000 {
            b.next(&mut rng);
        }
        assert_eq!(b.ceiling(), Duration::from_secs(15));
    }

    #[test]
    fn jitter_spreads_peers_out() {
        let mut rng = StdRng::seed_from_u64(1);
        let delays: std::collections::BTreeSet<Duration> = (0..20)
            .map(|_| Backoff { attempt: 3 }.next(&mut rng))
            .collect();
        assert!(delays.len() > 15, "20 peers should not retry in lockstep");
    }
}
