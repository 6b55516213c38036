//! One WebSocket connection in one room: admit it, forward what it sends, write what the room
//! sends it, enforce its limits, and close it — alone — when it breaks one.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;

use super::bus::NotPublished;
use super::http::Replay;
use super::limits::TokenBucket;
use super::rooms::{Member, Room, RoomFull};
use super::{subject_for, RoomId, Shared, CLOSE_GRACE, HANDSHAKE_TIMEOUT};

type Ws = WebSocketStream<Replay<TcpStream>>;

/// Frames written to the socket before one flush.
const WRITE_BATCH: usize = 64;

/// Why a connection ends.
#[derive(Debug)]
enum Ending {
    /// The client closed it, or the socket ended.
    Client(String),
    /// We close it with this code and reason. `unreadable`: the frame stream cannot be read any
    /// further (a bad or oversized frame header), so what follows is discarded unparsed.
    Close {
        code: CloseCode,
        reason: String,
        unreadable: bool,
    },
}

impl Ending {
    fn close(code: CloseCode, reason: impl Into<String>) -> Self {
        Ending::Close {
            code,
            reason: reason.into(),
            unreadable: false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Ending::Client(why) => why.clone(),
            Ending::Close { code, reason, .. } => format!("closed by relay ({code}): {reason}"),
        }
    }
}

/// Holds one of the relay's `max_connections` places; gives it back when dropped.
struct Admitted<'a>(&'a AtomicUsize);

impl<'a> Admitted<'a> {
    /// Take a place if one is free.
    fn take(count: &'a AtomicUsize, max: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Admitted(count))
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serve one room connection from handshake to close.
pub(super) async fn run(
    stream: Replay<TcpStream>,
    peer: SocketAddr,
    room_id: RoomId,
    shared: &Shared,
    mut stop: watch::Receiver<bool>,
) {
    let limits = shared.limits;
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let room_short = room_id.short();

    // Admit and join before the handshake completes: a client that sees its connection open is
    // already in the room, and gets every frame sent after that. Refused clients still get the
    // handshake, so that they can be told why in a close frame.
    let mut place = Admitted::take(&shared.admitted, limits.max_connections);
    let (frames_tx, mut frames_rx) = mpsc::channel(limits.queue_frames);
    let (slow_tx, mut slow_rx) = oneshot::channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let joined = if place.is_none() {
        tracing::warn!(conn = id, %peer, room = %room_short, "refused: relay is full");
        Err(Ending::close(
            CloseCode::Again,
            "relay is full, try again later",
        ))
    } else {
        let member = Member {
            id,
            frames: frames_tx,
            queued: queued.clone(),
            too_slow: Some(slow_tx),
        };
        let bridge = |room: &Arc<Room>| {
            shared.bus.as_ref().map(|bus| {
                bus.subscribe(
                    subject_for(&room_id).into(),
                    room.clone(),
                    limits.queue_bytes,
                )
            })
        };
        match shared
            .rooms
            .join(room_id, member, limits.max_connections_per_room, bridge)
        {
            Ok((room, in_room)) => {
                tracing::info!(conn = id, %peer, room = %room_short, in_room, "joined");
                Ok(room)
            }
            Err(RoomFull) => {
                place = None;
                tracing::warn!(conn = id, %peer, room = %room_short, "refused: room is full");
                Err(Ending::close(
                    CloseCode::Again,
                    "room is full, try again later",
                ))
            }
        }
    };

    let config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .max_frame_size(Some(limits.max_frame_bytes))
        .max_message_size(Some(limits.max_frame_bytes));
    let accept = tokio_tungstenite::accept_async_with_config(stream, Some(config));
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await;
    let mut ws = match handshake {
        Ok(Ok(ws)) => ws,
        failed => {
            match failed {
                Ok(Err(e)) => {
                    tracing::debug!(conn = id, %peer, error = %e, "WebSocket handshake failed")
                }
                _ => tracing::debug!(conn = id, %peer, "WebSocket handshake timed out"),
            }
            if joined.is_ok() {
                let in_room = shared.rooms.leave(&room_id, id);
                tracing::info!(conn = id, %peer, room = %room_short, in_room, "left before the handshake completed");
            }
            return;
        }
    };
    let room = match joined {
        Ok(room) => room,
        Err(refusal) => {
            finish(&mut ws, &refusal).await;
            return;
        }
    };

    let started = Instant::now();
    let mut stats = Stats::default();
    let ending = serve_member(
        &mut ws,
        id,
        &room,
        &room_id,
        shared,
        &mut frames_rx,
        &queued,
        &mut slow_rx,
        &mut stop,
        &mut stats,
    )
    .await;
    // Out of the room and the count first: once the client sees its connection closed, its place
    // is free for the next one.
    let in_room = shared.rooms.leave(&room_id, id);
    drop(frames_rx);
    drop(place);
    finish(&mut ws, &ending).await;
    tracing::info!(
        conn = id,
        %peer,
        room = %room_short,
        in_room,
        why = %ending.describe(),
        secs = started.elapsed().as_secs(),
        frames_in = stats.frames_in,
        bytes_in = stats.bytes_in,
        frames_out = stats.frames_out,
        "left"
    );
}

#[derive(Debug, Default)]
struct Stats {
    frames_in: u64,
    bytes_in: u64,
    frames_out: u64,
}

/// What woke the connection loop.
enum Wake {
    TooSlow,
    Stop,
    IdleCheck,
    Ping,
    Outgoing(Option<Bytes>),
    Incoming(Option<Result<Message, WsError>>),
}

/// The life of an admitted connection; returns why it ends.
#[allow(clippy::too_many_arguments)]
async fn serve_member(
    ws: &mut Ws,
    id: u64,
    room: &Room,
    room_id: &RoomId,
    shared: &Shared,
    frames_rx: &mut mpsc::Receiver<Bytes>,
    queued: &AtomicUsize,
    slow_rx: &mut oneshot::Receiver<()>,
    stop: &mut watch::Receiver<bool>,
    stats: &mut Stats,
) -> Ending {
    let limits = shared.limits;
    let subject: Option<async_nats::Subject> =
        shared.bus.as_ref().map(|_| subject_for(room_id).into());
    let now = Instant::now();
    let mut frame_rate = TokenBucket::new(
        f64::from(limits.frames_per_second),
        f64::from(limits.frame_burst),
        now,
    );
    let mut byte_rate = TokenBucket::new(
        limits.bytes_per_second as f64,
        limits.byte_burst as f64,
        now,
    );
    let mut last_heard = tokio::time::Instant::now();
    let idle = tokio::time::sleep(limits.idle_timeout);
    tokio::pin!(idle);
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + limits.ping_interval,
        limits.ping_interval,
    );
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if *stop.borrow_and_update() {
        return Ending::close(CloseCode::Away, "relay shutting down");
    }

    loop {
        let wake = tokio::select! {
            _ = &mut *slow_rx => Wake::TooSlow,
            _ = stop.changed() => Wake::Stop,
            () = &mut idle => Wake::IdleCheck,
            _ = ping.tick() => Wake::Ping,
            frame = frames_rx.recv() => Wake::Outgoing(frame),
            msg = ws.next() => Wake::Incoming(msg),
        };
        match wake {
            Wake::TooSlow => return too_slow(),
            Wake::Stop => return Ending::close(CloseCode::Away, "relay shutting down"),
            Wake::IdleCheck => {
                let deadline = last_heard + limits.idle_timeout;
                if deadline <= tokio::time::Instant::now() {
                    return Ending::close(CloseCode::Away, "idle: nothing received in time");
                }
                idle.as_mut().reset(deadline);
            }
            Wake::Ping => {
                let sent = write_out(
                    ws,
                    Message::Ping(Bytes::new()),
                    frames_rx,
                    queued,
                    slow_rx,
                    stop,
                    limits.idle_timeout,
                    stats,
                )
                .await;
                if let Err(ending) = sent {
                    return ending;
                }
            }
            Wake::Outgoing(None) => {
                // Only the room holds the sender; it is gone only if we were taken out.
                return too_slow();
            }
            Wake::Outgoing(Some(frame)) => {
                queued.fetch_sub(frame.len(), Ordering::AcqRel);
                stats.frames_out += 1;
                let sent = write_out(
                    ws,
                    Message::Binary(frame),
                    frames_rx,
                    queued,
                    slow_rx,
                    stop,
                    limits.idle_timeout,
                    stats,
                )
                .await;
                if let Err(ending) = sent {
                    return ending;
                }
            }
            Wake::Incoming(None) => return Ending::Client("connection ended".into()),
            Wake::Incoming(Some(Err(e))) => return read_error(e, limits.max_frame_bytes),
            Wake::Incoming(Some(Ok(msg))) => {
                let now = Instant::now();
                last_heard = tokio::time::Instant::now();
                if !frame_rate.take(1.0, now) {
                    return Ending::close(CloseCode::Policy, "too many frames per second");
                }
                match msg {
                    Message::Binary(frame) => {
                        if !byte_rate.take(frame.len() as f64, now) {
                            return Ending::close(CloseCode::Policy, "too many bytes per second");
                        }
                        stats.frames_in += 1;
                        stats.bytes_in += frame.len() as u64;
                        room.forward(id, &frame, limits.queue_bytes);
                        if let (Some(bus), Some(subject)) = (&shared.bus, &subject) {
                            if let Err(NotPublished::TooBig { limit }) =
                                bus.publish(subject, &frame)
                            {
                                return Ending::close(
                                    CloseCode::Size,
                                    format!(
                                        "frame too big to reach the other relays: \
                                         the limit is {limit} bytes"
                                    ),
                                );
                            }
                        }
                    }
                    Message::Text(_) => {
                        return Ending::close(
                            CloseCode::Policy,
                            "text frames are not allowed: the protocol is binary",
                        );
                    }
                    // The pong to a ping is queued by tungstenite and written on the next read.
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    Message::Close(frame) => {
                        return Ending::Client(match frame {
                            Some(f) => format!("closed by client ({})", f.code),
                            None => "closed by client".into(),
                        });
                    }
                }
            }
        }
    }
}

fn too_slow() -> Ending {
    Ending::close(
        CloseCode::Policy,
        "too slow: frames for this connection piled up",
    )
}

/// What a read error means for the connection.
fn read_error(e: WsError, max_frame_bytes: usize) -> Ending {
    match e {
        WsError::Capacity(_) => Ending::Close {
            code: CloseCode::Size,
            reason: format!("frame too big: the limit is {max_frame_bytes} bytes"),
            unreadable: true,
        },
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            Ending::Client("connection ended without a close frame".into())
        }
        WsError::Protocol(p) => Ending::Close {
            code: CloseCode::Protocol,
            reason: format!("malformed WebSocket frame: {p}"),
            unreadable: true,
        },
        WsError::Utf8(_) => Ending::Close {
            code: CloseCode::Protocol,
            reason: "malformed WebSocket frame: invalid UTF-8".into(),
            unreadable: true,
        },
        WsError::Io(e) => Ending::Client(format!("connection lost: {e}")),
        other => Ending::Client(format!("connection lost: {other}")),
    }
}

/// Write `first` and whatever else is queued (up to a batch), then flush — unless the connection
/// is found too slow, the relay stops, or the socket takes no data for `stall`.
#[allow(clippy::too_many_arguments)]
async fn write_out(
    ws: &mut Ws,
    first: Message,
    frames_rx: &mut mpsc::Receiver<Bytes>,
    queued: &AtomicUsize,
    slow_rx: &mut oneshot::Receiver<()>,
    stop: &mut watch::Receiver<bool>,
    stall: Duration,
    stats: &mut Stats,
) -> Result<(), Ending> {
    let write = async {
        ws.feed(first).await?;
        for _ in 0..WRITE_BATCH {
            let Ok(frame) = frames_rx.try_recv() else {
                break;
            };
            queued.fetch_sub(frame.len(), Ordering::AcqRel);
            stats.frames_out += 1;
            ws.feed(Message::Binary(frame)).await?;
        }
        ws.flush().await
    };
    tokio::select! {
        written = write => written.map_err(|e| Ending::Client(format!("connection lost: {e}"))),
        _ = slow_rx => Err(too_slow()),
        _ = stop.changed() => Err(Ending::close(CloseCode::Away, "relay shutting down")),
        () = tokio::time::sleep(stall) => Err(too_slow()),
    }
}

/// A close frame's reason must fit a control frame: at most 123 bytes after the code.
fn close_reason(reason: &str) -> &str {
    const MAX: usize = 123;
    if reason.len() <= MAX {
        return reason;
    }
    let mut end = MAX;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// Send our close frame, if we are the ones closing, and let the client see it before the socket
/// goes: wait for its reply (or discard what it still sends) for a moment.
async fn finish(ws: &mut Ws, ending: &Ending) {
    match ending {
        Ending::Client(_) => {
            // Drive tungstenite's reply to a close frame out, then the socket is done.
            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                while let Some(Ok(_)) = ws.next().await {}
            })
            .await;
        }
        Ending::Close {
            code,
            reason,
            unreadable,
        } => {
            let frame = CloseFrame {
                code: *code,
                reason: close_reason(reason).into(),
            };
            if tokio::time::timeout(CLOSE_GRACE, ws.close(Some(frame)))
                .await
                .is_err()
            {
                return;
            }
            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                if *unreadable {
                    // Read the socket raw: tungstenite would try to buffer the oversized or
                    // malformed frame. Closing with unread data would reset the connection and
                    // could lose our close frame on the way.
                    let raw = ws.get_mut();
                    let mut sink = [0u8; 16 * 1024];
                    while matches!(raw.read(&mut sink).await, Ok(n) if n > 0) {}
                } else {
                    while let Some(Ok(_)) = ws.next().await {}
                }
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::close_reason;

    #[test]
    fn close_reasons_fit_a_control_frame() {
        assert_eq!(close_reason("too slow"), "too slow");
        let long = "é".repeat(100);
        let cut = close_reason(&long);
        assert!(cut.len() <= 123 && long.starts_with(cut) && cut.len() >= 121);
    }
}
