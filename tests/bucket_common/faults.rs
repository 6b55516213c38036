//! `FaultyStore`: wraps any object store and misbehaves on purpose, reproducibly (seeded RNG):
//! requests lost before they reach the store, replies lost after it acted, reads and listings that
//! break off part way, delays, hangs — and objects whose content comes back truncated, with a bit
//! flipped, swapped for another object's, or replaced.
//!
//! ```ignore
//! let faulty = FaultyStore::new(bucket.store().clone(), 7, FaultPlan::flaky(0.3));
//! let flaky = Bucket::from_store(faulty.clone(), bucket.prefix(), "flaky").with_retry(fast);
//! faulty.tamper("ws/…/log/…/00000000000000000001", Tamper::FlipRandomBit);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How often each kind of fault happens; shares are probabilities per call, 0.0 to 1.0.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    /// The request is lost before it reaches the store: nothing happens, the caller sees an error.
    pub fail_before: f64,
    /// The store acts (a write is stored) but the reply is lost: the caller sees an error.
    pub fail_after: f64,
    /// A read or listing starts fine and breaks off part way with a connection error.
    pub break_streams: f64,
    /// The call hangs for `hang_for`, then fails with a timeout.
    pub hang: f64,
    pub hang_for: Duration,
    /// Every call first waits a random time in this range.
    pub delay: Option<(Duration, Duration)>,
    /// Every call fails at once with "permission denied", a permanent error.
    pub deny: bool,
}

impl FaultPlan {
    /// No faults (tampering still applies).
    pub fn none() -> FaultPlan {
        FaultPlan::default()
    }

    /// `share` of calls fail (half before the store acts, half after), and `share` of reads and
    /// listings break off part way.
    pub fn flaky(share: f64) -> FaultPlan {
        FaultPlan {
            fail_before: share / 2.0,
            fail_after: share / 2.0,
            break_streams: share,
            ..FaultPlan::default()
        }
    }
}

/// What a read of a tampered object returns instead of its content.
#[derive(Debug, Clone)]
pub enum Tamper {
    /// Only the first n bytes.
    Truncate(usize),
    /// The content with one bit flipped (bit index modulo the content's bits).
    FlipBit(u64),
    /// The content with one bit flipped, chosen by the store's RNG on each read.
    FlipRandomBit,
    /// The content of another object (a key, matched like [`FaultyStore::tamper`]'s).
    SwapWith(String),
    /// These bytes.
    Replace(Bytes),
}

/// What the store has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    pub calls: u64,
    pub failed_before: u64,
    pub failed_after: u64,
    pub broken_streams: u64,
    pub hangs: u64,
    pub tampered: u64,
}

impl FaultStats {
    /// Calls that failed one way or another.
    pub fn injected(&self) -> u64 {
        self.failed_before + self.failed_after + self.broken_streams + self.hangs
    }
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    failed_before: AtomicU64,
    failed_after: AtomicU64,
    broken_streams: AtomicU64,
    hangs: AtomicU64,
    tampered: AtomicU64,
}

/// The wrapper. Share it as `Arc<FaultyStore>`; it is an `ObjectStore` itself.
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    rng: Mutex<StdRng>,
    plan: Mutex<FaultPlan>,
    tampers: Mutex<HashMap<String, Tamper>>,
    counters: Counters,
}

enum Fate {
    Pass,
    Deny,
    Before,
    After,
    Hang(Duration),
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>, seed: u64, plan: FaultPlan) -> Arc<FaultyStore> {
        Arc::new(FaultyStore {
            inner,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            plan: Mutex::new(plan),
            tampers: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        })
    }

    /// Changes the plan from now on.
    pub fn set_plan(&self, plan: FaultPlan) {
        *lock(&self.plan) = plan;
    }

    /// Every read of `key` from now on returns tampered content. `key` matches a location equal to
    /// it or ending in `/<key>`, so a key relative to a bucket's prefix works.
    pub fn tamper(&self, key: &str, how: Tamper) {
        lock(&self.tampers).insert(key.trim_matches('/').to_string(), how);
    }

    /// Stops tampering with `key`.
    pub fn untamper(&self, key: &str) {
        lock(&self.tampers).remove(key.trim_matches('/'));
    }

    pub fn stats(&self) -> FaultStats {
        let c = &self.counters;
        FaultStats {
            calls: c.calls.load(Ordering::SeqCst),
            failed_before: c.failed_before.load(Ordering::SeqCst),
            failed_after: c.failed_after.load(Ordering::SeqCst),
            broken_streams: c.broken_streams.load(Ordering::SeqCst),
            hangs: c.hangs.load(Ordering::SeqCst),
            tampered: c.tampered.load(Ordering::SeqCst),
        }
    }

    /// Decides this call's fate and sleeps the planned delay.
    async fn roll(&self) -> Fate {
        self.counters.calls.fetch_add(1, Ordering::SeqCst);
        let (fate, delay) = {
            let plan = lock(&self.plan).clone();
            let mut rng = lock(&self.rng);
            let delay = plan
                .delay
                .map(|(lo, hi)| if hi > lo { rng.gen_range(lo..=hi) } else { lo });
            let r: f64 = rng.gen();
            let fate = if plan.deny {
                Fate::Deny
            } else if r < plan.fail_before {
                Fate::Before
            } else if r < plan.fail_before + plan.fail_after {
                Fate::After
            } else if r < plan.fail_before + plan.fail_after + plan.hang {
                Fate::Hang(plan.hang_for)
            } else {
                Fate::Pass
            };
            (fate, delay)
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        match fate {
            Fate::Before => {
                self.counters.failed_before.fetch_add(1, Ordering::SeqCst);
            }
            Fate::After => {
                self.counters.failed_after.fetch_add(1, Ordering::SeqCst);
            }
            Fate::Hang(_) => {
                self.counters.hangs.fetch_add(1, Ordering::SeqCst);
            }
            Fate::Pass | Fate::Deny => {}
        }
        fate
    }

    /// Runs `call` under this call's fate.
    async fn faulty<T, F>(&self, what: &str, call: F) -> object_store::Result<T>
    where
        F: std::future::Future<Output = object_store::Result<T>>,
    {
        match self.roll().await {
            Fate::Pass => call.await,
            Fate::Deny => Err(denied(what)),
            Fate::Before => Err(injected(what, std::io::ErrorKind::ConnectionReset)),
            Fate::After => {
                let _ = call.await;
                Err(injected(what, std::io::ErrorKind::ConnectionReset))
            }
            Fate::Hang(d) => {
                tokio::time::sleep(d).await;
                Err(injected(what, std::io::ErrorKind::TimedOut))
            }
        }
    }

    /// If this stream should break, after how many items or bytes (drawn below `limit`).
    fn break_point(&self, limit: u64) -> Option<u64> {
        let share = lock(&self.plan).break_streams;
        let mut rng = lock(&self.rng);
        if rng.gen::<f64>() < share {
            self.counters.broken_streams.fetch_add(1, Ordering::SeqCst);
            Some(rng.gen_range(0..=limit))
        } else {
            None
        }
    }

    fn tamper_for(&self, location: &Path) -> Option<Tamper> {
        let tampers = lock(&self.tampers);
        let loc = location.as_ref();
        tampers
            .iter()
            .find(|(key, _)| loc == key.as_str() || loc.ends_with(&format!("/{key}")))
            .map(|(_, how)| how.clone())
    }

    fn find_location(&self, key: &str, like: &Path) -> Path {
        // A swap target given relative to a bucket prefix: put it under the same prefix.
        let loc = like.as_ref();
        let depth = key.split('/').count();
        let parts: Vec<&str> = loc.split('/').collect();
        if parts.len() > depth {
            let prefix = parts[..parts.len() - depth].join("/");
            Path::from(format!("{prefix}/{key}"))
        } else {
            Path::from(key)
        }
    }

    /// Reads a tampered object: the whole (possibly swapped) content, altered, then the range.
    async fn tampered_get(
        &self,
        location: &Path,
        options: GetOptions,
        how: Tamper,
    ) -> object_store::Result<GetResult> {
        self.counters.tampered.fetch_add(1, Ordering::SeqCst);
        let source = match &how {
            Tamper::SwapWith(other) => self.find_location(other, location),
            _ => location.clone(),
        };
        let range_wanted = options.range.clone();
        let whole = GetOptions {
            range: None,
            head: false,
            ..options.clone()
        };
        let found = self.inner.get_opts(&source, whole).await?;
        let mut meta = found.meta.clone();
        meta.location = location.clone();
        let attributes = found.attributes.clone();
        let original = found.bytes().await?;
        let content = match how {
            Tamper::Truncate(n) => original.slice(..n.min(original.len())),
            Tamper::FlipBit(bit) => flip(&original, bit),
            Tamper::FlipRandomBit => {
                let bit = lock(&self.rng).gen::<u64>();
                flip(&original, bit)
            }
            Tamper::SwapWith(_) => original,
            Tamper::Replace(bytes) => bytes,
        };
        let len = content.len() as u64;
        meta.size = len;
        let range = match range_wanted {
            None => 0..len,
            Some(r) => resolve(&r, len).ok_or_else(|| object_store::Error::Generic {
                store: "FaultyStore",
                source: format!("range {r:?} not satisfiable for {len} bytes").into(),
            })?,
        };
        let body = if options.head {
            Bytes::new()
        } else {
            content.slice(range.start as usize..range.end as usize)
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream::once(async move { Ok(body) }).boxed()),
            meta,
            range,
            attributes,
        })
    }

    fn breaking_list(
        &self,
        inner: BoxStream<'static, object_store::Result<ObjectMeta>>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        if lock(&self.plan).deny {
            return stream::once(async { Err(denied("list")) }).boxed();
        }
        match self.break_point(64) {
            None => inner,
            Some(after) => inner
                .take(after as usize)
                .chain(stream::once(async {
                    Err(injected("list", std::io::ErrorKind::ConnectionReset))
                }))
                .boxed(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn injected(what: &str, kind: std::io::ErrorKind) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultyStore",
        source: Box::new(std::io::Error::new(
            kind,
            format!("injected fault during {what}"),
        )),
    }
}

fn denied(what: &str) -> object_store::Error {
    object_store::Error::PermissionDenied {
        path: String::new(),
        source: format!("injected: access denied during {what}").into(),
    }
}

fn flip(bytes: &Bytes, bit: u64) -> Bytes {
    if bytes.is_empty() {
        return Bytes::from_static(b"\x01");
    }
    let mut v = bytes.to_vec();
    let bit = bit % (v.len() as u64 * 8);
    v[(bit / 8) as usize] ^= 1 << (bit % 8);
    Bytes::from(v)
}

fn resolve(r: &GetRange, len: u64) -> Option<Range<u64>> {
    match r {
        GetRange::Bounded(b) if b.start < len && b.start < b.end => Some(b.start..b.end.min(len)),
        GetRange::Offset(o) if *o < len => Some(*o..len),
        GetRange::Suffix(n) => Some(len.saturating_sub(*n)..len),
        _ => None,
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

impl fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyStore")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.faulty("put", self.inner.put_opts(location, payload, opts))
            .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        // Only the start can fail: a lost reply here would leave an upload nobody knows about.
        match self.roll().await {
            Fate::Pass | Fate::After => self.inner.put_multipart_opts(location, opts).await,
            Fate::Before => Err(injected(
                "multipart start",
                std::io::ErrorKind::ConnectionReset,
            )),
            Fate::Deny => Err(denied("multipart start")),
            Fate::Hang(d) => {
                tokio::time::sleep(d).await;
                Err(injected("multipart start", std::io::ErrorKind::TimedOut))
            }
        }
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        if let Some(how) = self.tamper_for(location) {
            let result = self.tampered_get(location, options, how);
            return self.faulty("get", result).await;
        }
        let result = self
            .faulty("get", self.inner.get_opts(location, options))
            .await?;
        let size = result.range.end - result.range.start;
        let Some(cut) = self.break_point(size) else {
            return Ok(result);
        };
        let GetResult {
            meta,
            range,
            attributes,
            ..
        } = &result;
        let (meta, range, attributes) = (meta.clone(), range.clone(), attributes.clone());
        let mut left = cut;
        let pieces = result
            .into_stream()
            .map(move |piece| match piece {
                Ok(piece) if left >= piece.len() as u64 => {
                    left -= piece.len() as u64;
                    Ok(piece)
                }
                Ok(_) => Err(injected("get body", std::io::ErrorKind::ConnectionReset)),
                Err(e) => Err(e),
            })
            .scan(false, |failed, piece| {
                // Stop after the first error, as a dropped connection would.
                if *failed {
                    return futures::future::ready(None);
                }
                *failed = piece.is_err();
                futures::future::ready(Some(piece))
            })
            .boxed();
        Ok(GetResult {
            payload: GetResultPayload::Stream(pieces),
            meta,
            range,
            attributes,
        })
    }

    async fn delete(&self, location: &Path) -> object_store::Result<()> {
        self.faulty("delete", self.inner.delete(location)).await
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let inner = self.inner.list(prefix);
        self.counters.calls.fetch_add(1, Ordering::SeqCst);
        self.breaking_list(inner)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let inner = self.inner.list_with_offset(prefix, offset);
        self.counters.calls.fetch_add(1, Ordering::SeqCst);
        self.breaking_list(inner)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.faulty("list", self.inner.list_with_delimiter(prefix))
            .await
    }

    async fn copy(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        self.faulty("copy", self.inner.copy(from, to)).await
    }

    async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        self.faulty("copy", self.inner.copy_if_not_exists(from, to))
            .await
    }
}
