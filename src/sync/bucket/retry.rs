//! How often and how patiently a bucket operation is tried again after a transient failure.

use std::time::Duration;

use rand::Rng;

/// Retries for transient failures (timeouts, dropped connections, 5xx, 429): jittered exponential
/// backoff from `first_delay` doubling up to `max_delay`, at most `attempts` tries in all. Permanent
/// failures (access denied, missing bucket, bad key) are never retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included; 0 counts as 1.
    pub attempts: u32,
    /// Backoff before the second try (before jitter).
    pub first_delay: Duration,
    /// Backoff never exceeds this.
    pub max_delay: Duration,
    /// One try that takes longer than this counts as a transient failure. Bounds stores without a
    /// client timeout of their own (a folder, a wrapper); for a streamed download it bounds the wait
    /// for each piece, not the whole object.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    /// 5 tries, 100 ms doubling to 5 s (about 1.5 s of waiting in all), 2 minutes per try.
    fn default() -> Self {
        Self {
            attempts: 5,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Try once; report the first failure as it is.
    pub fn no_retries() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }

    /// The number of tries, at least 1.
    pub fn max_attempts(&self) -> u32 {
        self.attempts.max(1)
    }

    /// The pause after failed try number `failed` (1-based): half of the exponential step fixed and
    /// half random, so that many clients failing together do not come back together.
    pub fn backoff(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(30);
        let step = self
            .first_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay);
        let half = step / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if jitter_nanos == 0 {
            0
        } else {
            rand::thread_rng().gen_range(0..=jitter_nanos)
        };
        half + Duration::from_nanos(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for _ in 0..100 {
            let first = p.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = p.backoff(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = p.backoff(40);
            assert!(late >= Duration::from_millis(2500) && late <= Duration::from_secs(5));
        }
    }

    #[test]
    fn zero_attempts_still_tries_once() {
        let p = RetryPolicy {
            attempts: 0,
            ..RetryPolicy::default()
        };
        assert_eq!(p.max_attempts(), 1);
        assert_eq!(RetryPolicy::no_retries().max_attempts(), 1);
        let zero = RetryPolicy {
            first_delay: Duration::ZERO,
            ..RetryPolicy::default()
        };
        assert_eq!(zero.backoff(3), Duration::ZERO);
    }
}
