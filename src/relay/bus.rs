//! The link between relays: room traffic over NATS core pub/sub.
//!
//! Each room maps to one subject, `weft.room.<hex of SHA-256("weft relay subject v1" ‖ room id)>`:
//! anyone on the NATS side sees which frames belong together, never the room id (which is what
//! lets a client join a room). A relay subscribes to a room's subject while it has a client in the
//! room and unsubscribes after the last one leaves, so NATS routes a room only to the relays that
//! serve it. A frame from a local client goes to the other local clients directly and to NATS
//! once; a frame from NATS goes to local clients only. The connection is made with `no_echo`, so a
//! relay never hears its own frames back: no loops and no duplicates.
//!
//! Delivery is at most once. The relay stores nothing and clients catch up through Want and the
//! bucket, so a frame lost while the link is down costs a moment, never data. While NATS is
//! unreachable, rooms whose members share a relay keep working; the link comes back by itself.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, ConnectOptions, Event, ServerAddr, Subject};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Bytes;

use super::rooms::Room;
use super::RoomId;

/// Frames waiting to be published; more are dropped (at most once) rather than stall a client.
const PUBLISH_QUEUE: usize = 8192;
/// The payload limit NATS servers use unless configured otherwise, assumed until one answers.
const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
/// The longest wait between two attempts to reach NATS again.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// The NATS subject that carries room `room`'s frames.
pub fn subject_for(room: &RoomId) -> String {
    let mut h = Sha256::new();
    h.update(b"weft relay subject v1");
    h.update(room.0);
    format!("weft.room.{}", hex::encode(h.finalize()))
}

/// A relay's link to NATS.
#[derive(Debug, Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    publish: mpsc::Sender<(Subject, Bytes)>,
    up: Arc<AtomicBool>,
    dropped: AtomicU64,
}

/// Why a frame was not sent to the other relays.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NotPublished {
    /// Bigger than the NATS servers accept.
    TooBig { limit: usize },
    /// The link is down or its queue is full; local clients still got it.
    Dropped,
}

impl Bus {
    /// Connect to the NATS servers in `urls` (`nats://HOST:PORT`, comma-separated). Returns at
    /// once even if none answers yet: the link is made, and remade after a loss, in the
    /// background, and [`Bus::is_up`] says whether it is up.
    pub async fn connect(urls: &str) -> anyhow::Result<Bus> {
        let addrs = parse_urls(urls)?;
        let up = Arc::new(AtomicBool::new(false));
        let events_up = up.clone();
        let client = ConnectOptions::new()
            .name("weft relay")
            .no_echo()
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| {
                let ms = 50u64.saturating_mul(1 << attempts.min(6) as u64);
                Duration::from_millis(ms).min(MAX_RECONNECT_DELAY)
            })
            .event_callback(move |event| {
                let up = events_up.clone();
                async move {
                    match event {
                        Event::Connected => {
                            up.store(true, Ordering::Release);
                            tracing::info!("NATS link up: rooms span relays");
                        }
                        Event::Disconnected => {
                            up.store(false, Ordering::Release);
                            tracing::warn!(
                                "NATS link lost: rooms whose members share this relay keep \
                                 working; reconnecting"
                            );
                        }
                        Event::SlowConsumer(sid) => {
                            tracing::warn!(sid, "NATS: this relay fell behind, frames dropped")
                        }
                        other => tracing::info!(event = %other, "NATS"),
                    }
                }
            })
            .connect(addrs)
            .await
            .map_err(|e| anyhow::anyhow!("connecting to NATS at {urls}: {e}"))?;
        let (tx, mut rx) = mpsc::channel::<(Subject, Bytes)>(PUBLISH_QUEUE);
        let publisher = client.clone();
        tokio::spawn(async move {
            while let Some((subject, frame)) = rx.recv().await {
                if let Err(e) = publisher.publish(subject, frame).await {
                    tracing::debug!(error = %e, "NATS publish failed");
                }
            }
        });
        Ok(Bus {
            inner: Arc::new(Inner {
                client,
                publish: tx,
                up,
                dropped: AtomicU64::new(0),
            }),
        })
    }

    /// Whether the link to NATS is up now.
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Acquire)
            && self.inner.client.connection_state() == State::Connected
    }

    /// The largest frame the NATS servers accept.
    pub fn max_payload(&self) -> usize {
        match self.inner.client.server_info().max_payload {
            0 => DEFAULT_MAX_PAYLOAD,
            n => n,
        }
    }

    /// Frames not sent to the other relays because the link was down or behind.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Send `frame` to the other relays serving `subject`'s room, without waiting.
    pub(crate) fn publish(&self, subject: &Subject, frame: &Bytes) -> Result<(), NotPublished> {
        let limit = self.max_payload();
        if frame.len() > limit {
            return Err(NotPublished::TooBig { limit });
        }
        if !self.is_up() {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(NotPublished::Dropped);
        }
        match self
            .inner
            .publish
            .try_send((subject.clone(), frame.clone()))
        {
            Ok(()) => Ok(()),
            Err(_) => {
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
                Err(NotPublished::Dropped)
            }
        }
    }

    /// Start carrying frames from NATS to `room`'s local clients. The task ends (and the
    /// subscription with it) when it is aborted, once the room is empty.
    pub(crate) fn subscribe(
        &self,
        subject: Subject,
        room: Arc<Room>,
        max_queue_bytes: usize,
    ) -> tokio::task::AbortHandle {
        let client = self.inner.client.clone();
        tokio::spawn(async move {
            let mut sub = match client.subscribe(subject).await {
                Ok(sub) => sub,
                Err(e) => {
                    tracing::warn!(error = %e, "NATS subscribe failed: this room stays on this relay");
                    return;
                }
            };
            while let Some(msg) = sub.next().await {
                // Member ids start at 1: id 0 is "from another relay", so everyone gets it.
                room.forward(0, &msg.payload, max_queue_bytes);
            }
        })
        .abort_handle()
    }
}

/// Read `nats://HOST:PORT[,nats://…]`.
pub fn parse_urls(urls: &str) -> anyhow::Result<Vec<ServerAddr>> {
    let addrs = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<ServerAddr>().map_err(|e| {
                anyhow::anyhow!("{u:?} is not a NATS server address (nats://HOST:PORT): {e}")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if addrs.is_empty() {
        anyhow::bail!("no NATS server given (nats://HOST:PORT[,nats://…])");
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_never_shows_the_room_id() {
        let room = RoomId([0xab; 32]);
        let s = subject_for(&room);
        assert!(s.starts_with("weft.room."));
        assert!(!s.contains(&hex::encode(room.0)));
        assert!(!s.contains(&room.short()));
        assert_ne!(s, subject_for(&RoomId([0xac; 32])));
        assert_eq!(s, subject_for(&room));
    }

    #[test]
    fn urls_read_and_bad_ones_say_why() {
        assert_eq!(
            parse_urls("nats://127.0.0.1:4222, nats://127.0.0.1:4223")
                .unwrap()
                .len(),
            2
        );
        assert!(parse_urls("").is_err());
        assert!(parse_urls("nats://[::1").is_err());
    }
}
