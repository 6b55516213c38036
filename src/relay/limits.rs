//! What one connection may do, and the token buckets that enforce the rates.

use std::time::{Duration, Instant};

/// The relay's limits. Each is enforced per connection, except the connection counts; a connection
/// that breaks one is closed on its own, with a WebSocket close code and a reason, and nothing else
/// in its room notices.
///
/// There is no "rooms per connection" limit to set: the room is the URL path of the WebSocket
/// handshake, so a connection is in exactly one room for its whole life. A client that wants two
/// rooms opens two connections, and those count against [`max_connections`](Self::max_connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayLimits {
    /// Largest binary frame (WebSocket message) accepted; a bigger one closes the connection with
    /// 1009 (Message Too Big). Checked from the frame header, before its payload is read.
    pub max_frame_bytes: usize,
    /// Frames per second a connection may send on average (pings included) …
    pub frames_per_second: u32,
    /// … and in a burst. More closes the connection with 1008 (Policy Violation).
    pub frame_burst: u32,
    /// Payload bytes per second a connection may send on average …
    pub bytes_per_second: u64,
    /// … and in a burst (at least `max_frame_bytes`). More closes the connection with 1008.
    pub byte_burst: u64,
    /// Connections the relay holds at once; one more is closed with 1013 (Try Again Later).
    pub max_connections: usize,
    /// Connections in one room; one more is closed with 1013.
    pub max_connections_per_room: usize,
    /// A connection that sends nothing (no frame, no pong) for this long is closed.
    pub idle_timeout: Duration,
    /// How often the relay pings each connection, so that a live but quiet client stays open and
    /// a vanished one is noticed.
    pub ping_interval: Duration,
    /// Frames waiting to be written to one connection. A receiver that falls this far behind is
    /// closed with 1008 ("too slow") rather than holding up its room.
    pub queue_frames: usize,
    /// Bytes waiting to be written to one connection (same rule as `queue_frames`).
    pub queue_bytes: usize,
}

const MIB: usize = 1024 * 1024;

impl RelayLimits {
    /// The defaults: sized for a team typing live (a keystroke is one small frame) with room for
    /// attachments and catch-up bursts, on a small machine.
    pub const DEFAULT: RelayLimits = RelayLimits {
        max_frame_bytes: MIB,
        frames_per_second: 200,
        frame_burst: 400,
        bytes_per_second: 4 * MIB as u64,
        byte_burst: 8 * MIB as u64,
        max_connections: 1024,
        max_connections_per_room: 64,
        idle_timeout: Duration::from_secs(120),
        ping_interval: Duration::from_secs(30),
        queue_frames: 1024,
        queue_bytes: 8 * MIB,
    };

    /// Whether these limits make sense together. Fails when a limit is zero, when a frame of the
    /// largest allowed size could never pass the byte-rate check or fit the send queue, or when
    /// pings would come too rarely to keep a quiet connection open.
    pub fn check(&self) -> Result<(), LimitsError> {
        let zero = [
            ("max frame size", self.max_frame_bytes == 0),
            ("frames per second", self.frames_per_second == 0),
            ("frame burst", self.frame_burst == 0),
            ("bytes per second", self.bytes_per_second == 0),
            ("byte burst", self.byte_burst == 0),
            ("max connections", self.max_connections == 0),
            (
                "max connections per room",
                self.max_connections_per_room == 0,
            ),
            ("idle timeout", self.idle_timeout.is_zero()),
            ("ping interval", self.ping_interval.is_zero()),
            ("queue frames", self.queue_frames == 0),
            ("queue bytes", self.queue_bytes == 0),
        ];
        if let Some((name, _)) = zero.iter().find(|(_, is_zero)| *is_zero) {
            return Err(LimitsError::Zero(name));
        }
        if self.byte_burst < self.max_frame_bytes as u64 {
            return Err(LimitsError::BurstBelowFrame {
                burst: self.byte_burst,
                frame: self.max_frame_bytes,
            });
        }
        if self.queue_bytes < self.max_frame_bytes {
            return Err(LimitsError::QueueBelowFrame {
                queue: self.queue_bytes,
                frame: self.max_frame_bytes,
            });
        }
        if self.ping_interval >= self.idle_timeout {
            return Err(LimitsError::PingTooRare {
                ping: self.ping_interval,
                idle: self.idle_timeout,
            });
        }
        Ok(())
    }
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Limits that cannot work together (see [`RelayLimits::check`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LimitsError {
    #[error("the {0} limit must be more than zero")]
    Zero(&'static str),
    #[error("the byte burst ({burst} B) is smaller than the largest frame ({frame} B): such frames could never be sent")]
    BurstBelowFrame { burst: u64, frame: usize },
    #[error("the send queue ({queue} B) is smaller than the largest frame ({frame} B): such frames could never be delivered")]
    QueueBelowFrame { queue: usize, frame: usize },
    #[error("the ping interval ({ping:?}) must be shorter than the idle timeout ({idle:?}), or quiet clients are closed")]
    PingTooRare { ping: Duration, idle: Duration },
}

/// A token bucket: holds at most `burst` tokens, refills at `rate` per second.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(rate: f64, burst: f64, now: Instant) -> Self {
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Take `n` tokens if there are that many; otherwise take none and say no.
    pub(crate) fn take(&mut self, n: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_consistent() {
        assert_eq!(RelayLimits::default().check(), Ok(()));
    }

    #[test]
    fn inconsistent_limits_are_refused_with_the_reason() {
        let zero = RelayLimits {
            frames_per_second: 0,
            ..RelayLimits::DEFAULT
        };
        assert_eq!(zero.check(), Err(LimitsError::Zero("frames per second")));
        let burst = RelayLimits {
            byte_burst: 1000,
            max_frame_bytes: 2000,
            ..RelayLimits::DEFAULT
        };
        assert!(matches!(
            burst.check(),
            Err(LimitsError::BurstBelowFrame { .. })
        ));
        let queue = RelayLimits {
            queue_bytes: 10,
            ..RelayLimits::DEFAULT
        };
        assert!(matches!(
            queue.check(),
            Err(LimitsError::QueueBelowFrame { .. })
        ));
        let ping = RelayLimits {
            ping_interval: Duration::from_secs(200),
            ..RelayLimits::DEFAULT
        };
        assert!(matches!(ping.check(), Err(LimitsError::PingTooRare { .. })));
    }

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 20.0, t0);
        assert!((0..20).all(|_| b.take(1.0, t0)), "the whole burst passes");
        assert!(!b.take(1.0, t0), "then the bucket is empty");
        // Half a second refills five tokens at 10/s.
        let t1 = t0 + Duration::from_millis(500);
        assert!((0..5).all(|_| b.take(1.0, t1)));
        assert!(!b.take(1.0, t1));
        // A long pause refills only up to the burst.
        let t2 = t1 + Duration::from_secs(3600);
        assert!(b.take(20.0, t2));
        assert!(!b.take(1.0, t2));
    }

    #[test]
    fn a_refused_take_costs_nothing() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1.0, 10.0, t0);
        assert!(!b.take(11.0, t0));
        assert!(
            b.take(10.0, t0),
            "the refused request did not drain the bucket"
        );
    }
}
